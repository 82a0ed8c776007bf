//! Setup: the agents, each connected through the real OAuth flow.

use super::*;

pub(crate) const CONNECT_ATTEMPTS: u32 = 3;
pub(crate) static CONNECT_RETRIES: std::sync::atomic::AtomicU32 =
    std::sync::atomic::AtomicU32::new(0);

pub(crate) async fn setup(
    sys: &Arc<Sys>,
    args: &Args,
    report: &mut Report,
) -> anyhow::Result<Vec<Agent>> {
    say(format!(
        "setup: {} agents through the OAuth flow, {} at a time",
        args.agents, args.connect_concurrency
    ));
    let tag = Uuid::new_v4().simple().to_string();
    let tag = &tag[..8];
    let started = Instant::now();
    let results: Vec<anyhow::Result<Agent>> = futures::stream::iter(0..args.agents)
        .map(|i| {
            let sys = Arc::clone(sys);
            let tag = tag.to_owned();
            async move {
                let provider = if i % 2 == 0 {
                    Provider::Google
                } else {
                    Provider::Graph
                };
                let user = match provider {
                    Provider::Google => format!("bench-{tag}-{i}@example.com"),
                    Provider::Graph => format!("bench-{tag}-{i}@contoso.com"),
                };
                let specialist = sys.create_specialist(&format!("bench-{tag}-{i}")).await?;
                // An agent whose connect failed tries again, as a person would.
                let mut attempt = 1;
                let connection = loop {
                    match sys.connect_agent(provider, specialist, &user).await {
                        Ok(c) => break c,
                        Err(e) if attempt < CONNECT_ATTEMPTS => {
                            eprintln!("[bench] connecting agent {i} failed ({e:#}); retrying");
                            CONNECT_RETRIES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            attempt += 1;
                            tokio::time::sleep(Duration::from_secs(1)).await;
                        }
                        Err(e) => return Err(e.context(format!("connecting agent {i} ({user})"))),
                    }
                };
                Ok(Agent {
                    provider,
                    user,
                    specialist,
                    connection,
                    slots: AtomicU32::new(0),
                })
            }
        })
        .buffered(args.connect_concurrency.max(1))
        .collect()
        .await;
    let agents = results.into_iter().collect::<anyhow::Result<Vec<_>>>()?;
    let connected = started.elapsed();
    say(format!(
        "setup: connected in {connected:.1?}; waiting for first syncs"
    ));
    // Every connection synced once and nothing pending or leased, queue empty.
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let conns = sys.all_connections().await?;
        let ours: HashMap<Uuid, &calsync_db::connections::Connection> =
            conns.iter().map(|c| (c.id, c)).collect();
        let waiting = agents
            .iter()
            .filter(|a| {
                ours.get(&a.connection).is_none_or(|c| {
                    c.last_sync_at.is_none() || c.sync_pending || c.lease_owner.is_some()
                })
            })
            .count();
        let (ready, _) = sys.work_queue().await?;
        if waiting == 0 && ready == 0 {
            break;
        }
        if Instant::now() > deadline {
            bail!("{waiting} connections still without a first sync after 300 s");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let synced = started.elapsed();
    report.row(
        "setup",
        "agents connected (OAuth flow) / Google / Graph",
        format!(
            "{} / {} / {}",
            agents.len(),
            agents
                .iter()
                .filter(|a| a.provider == Provider::Google)
                .count(),
            agents
                .iter()
                .filter(|a| a.provider == Provider::Graph)
                .count()
        ),
    );
    report.row(
        "setup",
        "connect flows retried after an error (see notes)",
        format!(
            "{}",
            CONNECT_RETRIES.load(std::sync::atomic::Ordering::Relaxed)
        ),
    );
    report.row(
        "setup",
        "connect time / all first syncs done",
        format!(
            "{:.1} s ({:.0}/s) / {:.1} s",
            connected.as_secs_f64(),
            agents.len() as f64 / connected.as_secs_f64().max(1e-9),
            synced.as_secs_f64()
        ),
    );
    Ok(agents)
}
