//! What availability is computed from, per specialist (zone, working hours, the health
//! of their calendar connections, busy intervals over a window), kept in memory and kept
//! true by PostgreSQL: triggers on every table those inputs come from notify the
//! specialist's id on commit (migration `2026-12-02-000001_availability_notify`), and
//! `keep_listening` drops an entry when its id arrives.
//!
//! What keeps it from serving something the database no longer says:
//! - It is used only while the LISTEN session is up. When the session is lost it is
//!   flushed and bypassed (every request reads the database) until LISTEN is in effect
//!   again; it starts empty then, since notifications in between were missed.
//! - A database read is stored only if nothing was invalidated in its shard, and the
//!   session did not go down, between the moment before the read was sent and its end:
//!   each shard has a generation, bumped by every invalidation, that the reader takes
//!   first (`Ticket`). A change committed before the read's snapshot is in the read; one
//!   committed after it is notified after the ticket was taken, so the read is not kept.
//! - Booking never decides from it: it reads the database under the specialist's lock
//!   (`slots::load`), and drops the entry itself once the booking is committed.
//!
//! Left: the moment a notification takes to arrive after its commit (well under a
//! millisecond on one host); an answer given in it is as old as one given just before
//! the commit.

use crate::slots::Inputs;
use calsync_core::TimeRange;
use calsync_db::notify::{Listener, AVAILABILITY_CHANNEL, EVERYTHING};
use chrono::{DateTime, Duration, DurationRound, Utc};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// Independent locks and generations: an invalidation spoils the reads in flight of its
/// shard only.
const SHARDS: usize = 64;

/// Reads cover whole UTC days around the window asked, so that the next request for
/// "now to 30 days ahead" is served by the same entry.
const COVER_ROUNDING: Duration = Duration::days(1);

/// How often the LISTEN session is asked whether it is still there (a silently dead
/// peer would otherwise look like a quiet database), and how long it may take to answer.
const PING_EVERY: std::time::Duration = std::time::Duration::from_secs(5);
const PING_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Hits, misses and bypasses so far (for tests and the benchmark).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    pub hits: u64,
    pub misses: u64,
    /// Specialists read from the database while the cache could not be used.
    pub bypassed: u64,
    pub invalidations: u64,
}

struct Entry {
    /// The busy intervals held are every one overlapping this range.
    covers: TimeRange,
    inputs: Arc<Inputs>,
}

#[derive(Default)]
struct Shard {
    generation: u64,
    entries: HashMap<Uuid, Entry>,
}

pub struct AvailabilityCache {
    shards: Box<[Mutex<Shard>]>,
    /// Entries per shard; 0: the cache is off.
    per_shard: usize,
    live: AtomicBool,
    hits: AtomicU64,
    misses: AtomicU64,
    bypassed: AtomicU64,
    invalidations: AtomicU64,
    /// Every id invalidated, for whoever needs to know that a change has been seen.
    invalidated: broadcast::Sender<Uuid>,
}

/// The generations of some shards, taken before a database read; `live` as it was then.
pub struct Ticket {
    generations: Vec<(usize, u64)>,
    live: bool,
}

impl AvailabilityCache {
    /// Room for about `capacity` specialists; 0 turns the cache off. It is unused until
    /// `keep_listening` has LISTEN in effect.
    pub fn new(capacity: usize) -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            per_shard: capacity.div_ceil(SHARDS),
            live: AtomicBool::new(false),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            bypassed: AtomicU64::new(0),
            invalidations: AtomicU64::new(0),
            invalidated: broadcast::channel(1024).0,
        }
    }

    /// The ids invalidated from now on (tests wait on it for a change to be seen).
    pub fn subscribe(&self) -> broadcast::Receiver<Uuid> {
        self.invalidated.subscribe()
    }

    pub fn enabled(&self) -> bool {
        self.per_shard > 0
    }

    /// Whether LISTEN is in effect, so that the cache is used.
    pub fn is_live(&self) -> bool {
        self.live.load(Ordering::SeqCst)
    }

    pub fn stats(&self) -> CacheStats {
        CacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            bypassed: self.bypassed.load(Ordering::Relaxed),
            invalidations: self.invalidations.load(Ordering::Relaxed),
        }
    }

    /// Whether an entry for `id` is held.
    pub fn contains(&self, id: Uuid) -> bool {
        self.shard(id).entries.contains_key(&id)
    }

    fn shard_of(id: Uuid) -> usize {
        // v4 and v7 ids end in random bits.
        (id.as_u128() % SHARDS as u128) as usize
    }

    fn shard(&self, id: Uuid) -> MutexGuard<'_, Shard> {
        self.lock(Self::shard_of(id))
    }

    fn lock(&self, shard: usize) -> MutexGuard<'_, Shard> {
        // A panic while holding a shard leaves at worst a missing entry: carry on.
        self.shards[shard]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The inputs held for each of `ids` whose entry covers `busy`; the others in
    /// `missing`, to be read from the database.
    pub fn lookup(&self, ids: &[Uuid], busy: TimeRange) -> Lookup {
        let mut found = HashMap::with_capacity(ids.len());
        let mut missing = Vec::new();
        if !self.enabled() || !self.is_live() {
            if self.enabled() {
                self.bypassed.fetch_add(ids.len() as u64, Ordering::Relaxed);
            }
            missing.extend_from_slice(ids);
            return Lookup { found, missing };
        }
        for id in ids {
            let held = self.shard(*id).entries.get(id).and_then(|e| {
                (e.covers.start <= busy.start && busy.end <= e.covers.end)
                    .then(|| Arc::clone(&e.inputs))
            });
            match held {
                Some(inputs) => {
                    found.insert(*id, inputs);
                }
                None => missing.push(*id),
            }
        }
        self.hits.fetch_add(found.len() as u64, Ordering::Relaxed);
        self.misses
            .fetch_add(missing.len() as u64, Ordering::Relaxed);
        Lookup { found, missing }
    }

    /// Taken before reading `ids` from the database; the generations first, then
    /// whether LISTEN is in effect (the order `keep_listening` changes them in reverse).
    pub fn ticket(&self, ids: &[Uuid]) -> Ticket {
        let mut generations: Vec<(usize, u64)> = Vec::new();
        if self.enabled() {
            let mut shards: Vec<usize> = ids.iter().map(|id| Self::shard_of(*id)).collect();
            shards.sort_unstable();
            shards.dedup();
            generations = shards
                .into_iter()
                .map(|s| (s, self.lock(s).generation))
                .collect();
        }
        Ticket {
            generations,
            live: self.enabled() && self.is_live(),
        }
    }

    /// The range a read for `busy` should cover to be kept.
    pub fn cover(busy: TimeRange) -> TimeRange {
        let floor = |t: DateTime<Utc>| t.duration_trunc(COVER_ROUNDING).unwrap_or(t);
        let end = floor(busy.end);
        TimeRange {
            start: floor(busy.start),
            end: if end == busy.end {
                end
            } else {
                end.checked_add_signed(COVER_ROUNDING).unwrap_or(busy.end)
            },
        }
    }

    /// Keeps what was read under `ticket` over `covers`, unless a shard changed since.
    pub fn store(&self, ticket: &Ticket, covers: TimeRange, read: &HashMap<Uuid, Arc<Inputs>>) {
        if !ticket.live || read.is_empty() {
            return;
        }
        for (id, inputs) in read {
            let shard = Self::shard_of(*id);
            let Ok(at) = ticket.generations.binary_search_by_key(&shard, |(s, _)| *s) else {
                continue;
            };
            let mut guard = self.lock(shard);
            if guard.generation != ticket.generations[at].1 {
                continue;
            }
            if guard.entries.len() >= self.per_shard && !guard.entries.contains_key(id) {
                // Any entry will do: what is asked again comes back at its next read.
                if let Some(victim) = guard.entries.keys().next().copied() {
                    guard.entries.remove(&victim);
                }
            }
            guard.entries.insert(
                *id,
                Entry {
                    covers,
                    inputs: Arc::clone(inputs),
                },
            );
        }
    }

    /// `id`'s inputs changed (or may have): drop its entry, and spoil the reads in
    /// flight of its shard.
    pub fn invalidate(&self, id: Uuid) {
        self.invalidations.fetch_add(1, Ordering::Relaxed);
        {
            let mut shard = self.shard(id);
            shard.generation += 1;
            shard.entries.remove(&id);
        }
        // Nobody listening is the usual case, not an error.
        let _ = self.invalidated.send(id);
    }

    /// Drops everything and spoils every read in flight.
    pub fn flush(&self) {
        for s in 0..SHARDS {
            let mut shard = self.lock(s);
            shard.generation += 1;
            shard.entries.clear();
        }
    }

    fn went_down(&self) {
        self.live.store(false, Ordering::SeqCst);
        self.flush();
    }

    fn came_up(&self) {
        self.flush();
        self.live.store(true, Ordering::SeqCst);
    }
}

impl Ticket {
    /// Whether what is read under it may be kept.
    pub fn keeps(&self) -> bool {
        self.live
    }
}

/// What `lookup` found.
pub struct Lookup {
    pub found: HashMap<Uuid, Arc<Inputs>>,
    pub missing: Vec<Uuid>,
}

/// Keeps a LISTEN session on `url` for `cache` until `stop`: invalidates what is
/// notified, and while the session is down keeps the cache flushed and bypassed, trying
/// again every `retry`.
pub async fn keep_listening(
    cache: Arc<AvailabilityCache>,
    url: String,
    retry: std::time::Duration,
    stop: CancellationToken,
) {
    if !cache.enabled() {
        return;
    }
    let mut logged_failure = false;
    loop {
        let connected = tokio::select! {
            () = stop.cancelled() => return,
            r = Listener::connect(&url, "calsync-api-listen", AVAILABILITY_CHANNEL) => r,
        };
        match connected {
            Ok(mut listener) => {
                cache.came_up();
                tracing::info!("availability cache: listening for changes");
                logged_failure = false;
                let why = listen(&cache, &mut listener, &stop).await;
                cache.went_down();
                match why {
                    None => return,
                    Some(why) => tracing::warn!(
                        reason = why,
                        "availability cache: lost its LISTEN session; reading the database until it is back"
                    ),
                }
            }
            Err(e) if !logged_failure => {
                logged_failure = true;
                tracing::warn!(error.message = %e, "availability cache: cannot LISTEN; reading the database until it can");
            }
            Err(_) => {}
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(retry) => {}
        }
    }
}

/// Applies notifications until the session is lost (why) or `stop` (`None`).
async fn listen(
    cache: &AvailabilityCache,
    listener: &mut Listener,
    stop: &CancellationToken,
) -> Option<&'static str> {
    let mut ping = tokio::time::interval(PING_EVERY);
    ping.tick().await;
    loop {
        tokio::select! {
            () = stop.cancelled() => return None,
            payload = listener.next() => match payload {
                None => return Some("the session ended"),
                Some(p) => match p.parse::<Uuid>() {
                    Ok(id) => cache.invalidate(id),
                    // "*", or anything unexpected: everything may have changed.
                    Err(_) => {
                        if p != EVERYTHING {
                            tracing::warn!(payload = %p, "availability cache: unexpected notification; flushing");
                        }
                        cache.flush();
                    }
                },
            },
            _ = ping.tick() => {
                match tokio::time::timeout(PING_TIMEOUT, listener.ping()).await {
                    Ok(Ok(())) => {}
                    Ok(Err(_)) => return Some("a ping failed"),
                    Err(_) => return Some("a ping went unanswered"),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn inputs() -> Arc<Inputs> {
        Arc::new(Inputs {
            tz: chrono_tz::UTC,
            hours: Vec::new(),
            busy: Vec::new(),
            connections: Vec::new(),
        })
    }

    fn day(d: u32, h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, d, h, 0, 0)
            .single()
            .unwrap_or_default()
    }

    fn range(a: DateTime<Utc>, b: DateTime<Utc>) -> TimeRange {
        TimeRange { start: a, end: b }
    }

    #[test]
    fn reads_cover_whole_days() {
        let c = AvailabilityCache::cover(range(day(2, 7), day(4, 13)));
        assert_eq!(c, range(day(2, 0), day(5, 0)));
        let exact = AvailabilityCache::cover(range(day(2, 0), day(4, 0)));
        assert_eq!(exact, range(day(2, 0), day(4, 0)));
    }

    #[test]
    fn nothing_is_used_or_kept_until_listen_is_in_effect() {
        let cache = AvailabilityCache::new(100);
        let id = Uuid::new_v4();
        let w = range(day(2, 0), day(3, 0));
        let ticket = cache.ticket(&[id]);
        cache.store(&ticket, w, &HashMap::from([(id, inputs())]));
        assert!(!cache.contains(id));
        cache.came_up();
        let ticket = cache.ticket(&[id]);
        cache.store(&ticket, w, &HashMap::from([(id, inputs())]));
        assert!(cache.lookup(&[id], w).missing.is_empty());
        cache.went_down();
        let l = cache.lookup(&[id], w);
        assert_eq!((l.found.len(), l.missing), (0, vec![id]));
        assert!(!cache.contains(id), "flushed when the session went down");
    }

    #[test]
    fn a_read_overtaken_by_an_invalidation_is_not_kept() {
        let cache = AvailabilityCache::new(100);
        cache.came_up();
        let (a, w) = (Uuid::new_v4(), range(day(2, 0), day(3, 0)));
        let ticket = cache.ticket(&[a]);
        cache.invalidate(a);
        cache.store(&ticket, w, &HashMap::from([(a, inputs())]));
        assert!(!cache.contains(a));
        // Nor one overtaken by the session going down and up again.
        let ticket = cache.ticket(&[a]);
        cache.went_down();
        cache.came_up();
        cache.store(&ticket, w, &HashMap::from([(a, inputs())]));
        assert!(!cache.contains(a));
    }

    #[test]
    fn an_entry_serves_only_windows_it_covers() {
        let cache = AvailabilityCache::new(100);
        cache.came_up();
        let id = Uuid::new_v4();
        let ticket = cache.ticket(&[id]);
        cache.store(
            &ticket,
            range(day(2, 0), day(9, 0)),
            &HashMap::from([(id, inputs())]),
        );
        assert_eq!(
            cache.lookup(&[id], range(day(3, 0), day(9, 0))).found.len(),
            1
        );
        assert_eq!(
            cache.lookup(&[id], range(day(3, 0), day(9, 1))).missing,
            vec![id]
        );
        assert_eq!(cache.stats().hits, 1);
        assert_eq!(cache.stats().misses, 1);
    }

    #[test]
    fn the_cache_stays_within_its_capacity() {
        let cache = AvailabilityCache::new(SHARDS);
        cache.came_up();
        let ids: Vec<Uuid> = (0..10 * SHARDS).map(|_| Uuid::new_v4()).collect();
        let w = range(day(2, 0), day(3, 0));
        for id in &ids {
            let ticket = cache.ticket(&[*id]);
            cache.store(&ticket, w, &HashMap::from([(*id, inputs())]));
        }
        let held = ids.iter().filter(|id| cache.contains(**id)).count();
        assert!(held <= SHARDS, "{held}");
        assert!(held > 0);
    }

    #[test]
    fn an_off_cache_keeps_nothing() {
        let cache = AvailabilityCache::new(0);
        cache.came_up();
        let id = Uuid::new_v4();
        let ticket = cache.ticket(&[id]);
        cache.store(
            &ticket,
            range(day(2, 0), day(3, 0)),
            &HashMap::from([(id, inputs())]),
        );
        assert!(!cache.contains(id));
    }
}
