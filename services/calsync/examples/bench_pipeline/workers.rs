//! The second sync-worker, and the verdicts read from both workers' logs.

use super::*;

pub(crate) async fn start_worker2(
    sys: &Sys,
    args: &Args,
    bin: &PathBuf,
) -> anyhow::Result<tokio::process::Child> {
    say(format!(
        "workers: starting a second sync-worker on {}",
        args.worker2_bind
    ));
    let log = std::fs::File::create(&args.worker2_log)?;
    let google = calsync_sandboxes::google::GoogleSandboxConfig::default();
    let graph = calsync_sandboxes::graph::GraphSandboxConfig::default();
    let g = &args.google;
    let m = &args.graph;
    let child = tokio::process::Command::new(bin)
        .args(["serve", "worker"])
        .env("CALSYNC__WORKER__BIND", &args.worker2_bind)
        // What `calsync up` gives its children when it runs the sandboxes.
        .env("CALSYNC__GOOGLE__CLIENT_ID", &google.client_id)
        .env("CALSYNC__GOOGLE__CLIENT_SECRET", &google.client_secret)
        .env("CALSYNC__GOOGLE__API_BASE", format!("{g}/calendar/v3"))
        .env("CALSYNC__GOOGLE__AUTH_URL", format!("{g}/o/oauth2/v2/auth"))
        .env("CALSYNC__GOOGLE__TOKEN_URL", format!("{g}/token"))
        .env("CALSYNC__MICROSOFT__CLIENT_ID", &graph.client_id)
        .env("CALSYNC__MICROSOFT__CLIENT_SECRET", &graph.client_secret)
        .env("CALSYNC__MICROSOFT__GRAPH_BASE", format!("{m}/v1.0"))
        .env(
            "CALSYNC__MICROSOFT__AUTH_URL",
            format!("{m}/common/oauth2/v2.0/authorize"),
        )
        .env(
            "CALSYNC__MICROSOFT__TOKEN_URL",
            format!("{m}/common/oauth2/v2.0/token"),
        )
        .stdout(log.try_clone()?)
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {}", bin.display()))?;
    sys.wait_ready(
        &format!("http://{}", args.worker2_bind),
        Duration::from_secs(60),
    )
    .await?;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, consumers) = sys.work_queue().await?;
        if consumers >= 2 {
            break;
        }
        if Instant::now() > deadline {
            bail!("the second worker did not start consuming within 60 s");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(child)
}

pub(crate) async fn stop_child(mut child: tokio::process::Child) {
    if let Some(pid) = child.id() {
        let _ = tokio::process::Command::new("kill")
            .arg("-TERM")
            .arg(pid.to_string())
            .status()
            .await;
    }
    if tokio::time::timeout(Duration::from_secs(20), child.wait())
        .await
        .is_err()
    {
        let _ = child.kill().await;
    }
}

/// A committed sync as a worker logged it: its connection and [start, end].
#[derive(Debug, Clone)]
pub(crate) struct SyncSpan {
    worker: usize,
    connection: String,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
}

/// `sync committed elapsed_ms=N` lines (human log format) logged at or after `since`.
pub(crate) fn sync_spans(text: &str, worker: usize, since: DateTime<Utc>) -> Vec<SyncSpan> {
    text.lines()
        .filter(|l| l.contains("sync committed"))
        .filter_map(|l| {
            let ts = l
                .split_whitespace()
                .find_map(|t| DateTime::parse_from_rfc3339(t).ok())?
                .with_timezone(&Utc);
            let id_at = l.find("connection.id=")? + "connection.id=".len();
            let connection = l.get(id_at..id_at + 36)?.to_owned();
            let ms_at = l.find("elapsed_ms=")? + "elapsed_ms=".len();
            let ms: i64 = l[ms_at..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect::<String>()
                .parse()
                .ok()?;
            (ts >= since).then(|| SyncSpan {
                worker,
                connection,
                start: ts - chrono::Duration::milliseconds(ms),
                end: ts,
            })
        })
        .collect()
}

pub(crate) async fn workers_verdicts(
    args: &Args,
    agents: &[Agent],
    one: Option<Duration>,
    two: Option<Duration>,
    since: DateTime<Utc>,
    report: &mut Report,
) {
    let s = "two sync-worker replicas";
    match (one, two) {
        (Some(a), Some(b)) => {
            // "No slower" within what the drain can be timed to: one storm coalescing
            // round of the worker (250 ms) plus the poll, or 10 %, whichever is more.
            let slack = (a.mul_f64(0.10)).max(Duration::from_millis(300));
            report.check(
                s,
                "storm drain: 1 worker vs 2 workers",
                format!("{:.2} s vs {:.2} s", a.as_secs_f64(), b.as_secs_f64()),
                "2 ≤ 1 (+max(10 %, 300 ms))",
                b <= a + slack,
            );
        }
        _ => report.check(
            s,
            "storm drain: 1 worker vs 2 workers",
            "a storm did not drain",
            "both drain",
            false,
        ),
    }
    // Let both processes flush their last lines.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut spans = Vec::new();
    let mut sources = 0;
    if let Some(up) = &args.up_log {
        if let Ok(text) = std::fs::read_to_string(up) {
            let lines: String = text
                .lines()
                .filter(|l| l.starts_with("[sync-worker]"))
                .map(|l| format!("{l}\n"))
                .collect();
            spans.extend(sync_spans(&lines, 1, since));
            sources += 1;
        }
    }
    if let Ok(text) = std::fs::read_to_string(&args.worker2_log) {
        spans.extend(sync_spans(&text, 2, since));
        sources += 1;
    }
    if sources < 2 {
        report
            .notes
            .push("workers: could not read both workers' logs; overlap not checked".into());
        return;
    }
    let by_worker = |w: usize| spans.iter().filter(|x| x.worker == w).count();
    let (w1, w2) = (by_worker(1), by_worker(2));
    let mut by_conn: HashMap<&str, Vec<&SyncSpan>> = HashMap::new();
    for sp in &spans {
        by_conn.entry(sp.connection.as_str()).or_default().push(sp);
    }
    let mut overlaps = 0;
    let mut example = None;
    for list in by_conn.values_mut() {
        list.sort_by_key(|x| x.start);
        for pair in list.windows(2) {
            if pair[1].start < pair[0].end {
                overlaps += 1;
                example.get_or_insert_with(|| format!("{pair:?}"));
            }
        }
    }
    let known: std::collections::HashSet<String> =
        agents.iter().map(|a| a.connection.to_string()).collect();
    let ours = by_conn.keys().filter(|c| known.contains(**c)).count();
    report.row(
        s,
        "syncs logged since worker 2 started (worker 1 / worker 2)",
        format!("{w1} / {w2} over {ours} connections"),
    );
    report.check(
        s,
        "syncs of one connection overlapping in time",
        format!("{overlaps}"),
        "0",
        overlaps == 0 && w2 > 0,
    );
    if let Some(e) = example {
        report.notes.push(format!("overlapping syncs, first: {e}"));
    }
    if w2 == 0 {
        report
            .notes
            .push("the second worker logged no sync: it did not share the work".into());
    }
}
