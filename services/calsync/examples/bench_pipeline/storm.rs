//! Phases "steady" and "storm": coworker changes and their latency; a storm on one connection and its drain.

use super::*;
use crate::ingest::{blast_summary, push_maker, socket};

pub(crate) struct Drained {
    /// From `since` until the work queue had no ready message (and kept none).
    pub(crate) queue_empty_after: Option<Duration>,
    /// From `since` until the queue was empty and the connection had no sync pending
    /// or running, for good (300 ms of calm).
    pub(crate) idle_after: Option<Duration>,
}

pub(crate) async fn drain(sys: &Sys, connection: Uuid, since: Instant) -> anyhow::Result<Drained> {
    let deadline = since + Duration::from_secs(60);
    let mut empty_since: Option<Instant> = None;
    let mut calm_since: Option<Instant> = None;
    loop {
        let now = Instant::now();
        let (ready, _) = sys.work_queue().await?;
        let c = sys.connection(connection).await?;
        if ready == 0 {
            empty_since.get_or_insert(now);
        } else {
            empty_since = None;
        }
        if ready == 0 && !c.sync_pending && c.lease_owner.is_none() {
            let calm = *calm_since.get_or_insert(now);
            if now.duration_since(calm) >= Duration::from_millis(300) {
                return Ok(Drained {
                    queue_empty_after: empty_since.map(|e| e.saturating_duration_since(since)),
                    idle_after: Some(calm.saturating_duration_since(since)),
                });
            }
        } else {
            calm_since = None;
        }
        if now > deadline {
            return Ok(Drained {
                queue_empty_after: empty_since.map(|e| e.saturating_duration_since(since)),
                idle_after: None,
            });
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

// ---------------------------------------------------------------- steady

pub(crate) async fn phase_steady(
    sys: &Arc<Sys>,
    args: &Args,
    changer: &Arc<Changer>,
    eligible: &[usize],
    report: &mut Report,
) -> anyhow::Result<()> {
    say(format!(
        "steady: {}/s coworker changes over {} agents for {} s",
        args.rate,
        eligible.len(),
        args.steady_secs
    ));
    let fetch_before = metric_sum(&sys.http, &args.worker, "provider_fetches_total").await?;
    let c0 = cpu(args);
    let run = changer
        .run(
            eligible,
            args.rate,
            Duration::from_secs(args.steady_secs),
            CancellationToken::new(),
        )
        .await;
    let cpu_steady = cpu(args).since(&c0);
    let fetch_after = metric_sum(&sys.http, &args.worker, "provider_fetches_total").await?;
    let starts = sys.graph_push_starts().await?;
    let l = changes::latency(&run, &starts);
    let s = "steady (push start → slot gone from GET /api/availability)";
    report.row(
        s,
        "changes issued / rate achieved / ticks skipped (agent busy)",
        format!(
            "{} / {:.1}/s / {}",
            run.issued, l.achieved_rate, run.skipped
        ),
    );
    report.latency(s, "all", &l);
    for (p, name) in [(Provider::Google, "google"), (Provider::Graph, "graph")] {
        let part = changes::RunOutcome {
            samples: run
                .samples
                .iter()
                .filter(|x| x.provider == p)
                .cloned()
                .collect(),
            issued: run.issued,
            skipped: 0,
            issuing: run.issuing,
        };
        let lp = changes::latency(&part, &starts);
        report.row(
            s,
            format!("{name}: changes / lost / p50 / p99"),
            format!(
                "{} / {} / {:.1} / {:.1} ms",
                lp.count, lp.lost, lp.p50_ms, lp.p99_ms
            ),
        );
    }
    let target_note = if (args.rate - 500.0).abs() < f64::EPSILON && args.agents == 1000 {
        String::new()
    } else {
        " (target set for 500/s over 1000 agents)".into()
    };
    report.check(
        s,
        format!("p99{target_note}"),
        format!("{:.1} ms", l.p99_ms),
        "≤ 250 ms",
        l.p99_ms <= 250.0 && l.count > 0,
    );
    report.check(
        s,
        "lost changes",
        format!("{}", l.lost + l.write_errors),
        "0",
        l.lost + l.write_errors == 0,
    );
    report.row(
        s,
        "provider fetches by the worker during the phase",
        format!("{:.0}", fetch_after - fetch_before),
    );
    report.row(s, "cpu % of one core (issuing and settling)", cpu_steady);
    report.row(
        s,
        "poll resolution",
        format!(
            "{} ms (latency is the first poll that saw the slot gone)",
            args.poll_ms
        ),
    );
    report.json.insert(
        "steady".into(),
        json!({"rate": args.rate, "agents": args.agents, "issued": run.issued,
               "count": l.count, "lost": l.lost, "write_errors": l.write_errors,
               "p50_ms": l.p50_ms, "p99_ms": l.p99_ms, "max_ms": l.max_ms}),
    );
    Ok(())
}

// ---------------------------------------------------------------- storm

pub(crate) struct StormOutcome {
    pub(crate) drained: Option<Duration>,
}

#[allow(clippy::too_many_arguments)]
pub(crate) async fn phase_storm(
    sys: &Arc<Sys>,
    args: &Args,
    changer: &Arc<Changer>,
    eligible: &[usize],
    agent: &Agent,
    numbers: &mut HashMap<String, u64>,
    healthz_rate: Option<f64>,
    section: &'static str,
    report: &mut Report,
) -> anyhow::Result<StormOutcome> {
    let worker_urls = worker_urls(args, section);
    let (addr, _) = socket(&args.ingest)?;
    say(format!(
        "{section}: {} pushes for connection {} while others change at {}/s",
        args.storm_pushes, agent.connection, args.storm_background_rate
    ));
    let maker = push_maker(sys, agent, numbers, args.storm_pushes).await?;
    let calls_before = sys.google_list_calls(&agent.user).await?;
    let syncs_before = sys.connection(agent.connection).await?.sync_count;
    let mut fetch_before = 0.0;
    for w in &worker_urls {
        fetch_before += metric_sum(&sys.http, w, "provider_fetches_total").await?;
    }

    let stop = CancellationToken::new();
    let background = {
        let (changer, eligible, stop) = (Arc::clone(changer), eligible.to_vec(), stop.clone());
        let rate = args.storm_background_rate;
        tokio::spawn(async move {
            changer
                .run(&eligible, rate, Duration::from_secs(3600), stop)
                .await
        })
    };
    tokio::time::sleep(Duration::from_secs(2)).await;
    let c0 = cpu(args);
    let burst_start = Utc::now();
    let burst = raw::run(
        raw::Spec {
            addr,
            connections: args.blast_connections,
            total: Some(args.storm_pushes),
            duration: Duration::from_secs(300),
            rate: None,
        },
        maker,
    )
    .await;
    let burst_end_instant = Instant::now();
    let burst_end = Utc::now();
    let cpu_burst = cpu(args).since(&c0);
    let drained = drain(sys, agent.connection, burst_end_instant).await?;
    let cpu_storm = cpu(args).since(&c0);
    let storm_end = burst_end
        + chrono::Duration::from_std(drained.idle_after.unwrap_or(Duration::from_secs(60)))
            .unwrap_or_default();
    // Keep the others changing a little past the drain, then let their changes land.
    tokio::time::sleep(Duration::from_secs(1)).await;
    stop.cancel();
    let bg = background
        .await
        .map_err(|e| anyhow!("background changes: {e}"))?;
    let calls_after = sys.google_list_calls(&agent.user).await?;
    let syncs_after = sys.connection(agent.connection).await?.sync_count;
    let mut fetch_after = 0.0;
    for w in &worker_urls {
        fetch_after += metric_sum(&sys.http, w, "provider_fetches_total").await?;
    }
    let starts = sys.graph_push_starts().await?;
    let during = changes::RunOutcome {
        samples: bg
            .samples
            .iter()
            .filter(|s| s.written_at >= burst_start && s.written_at <= storm_end)
            .cloned()
            .collect(),
        issued: bg.issued,
        skipped: bg.skipped,
        issuing: bg.issuing,
    };
    let l_during = changes::latency(&during, &starts);
    let l_all = changes::latency(&bg, &starts);

    let accept = burst.ok_rate();
    report.row(section, "burst", blast_summary(&burst));
    match healthz_rate {
        Some(h) => report.row(
            section,
            "ingest accept rate (fraction of bare /healthz)",
            format!("{accept:.0}/s ({:.1} %)", accept / h.max(1e-9) * 100.0),
        ),
        None => report.row(section, "ingest accept rate", format!("{accept:.0}/s")),
    }
    report.row(
        section,
        "work queue empty after the burst ended",
        opt_secs(drained.queue_empty_after),
    );
    let idle = drained.idle_after;
    report.check(
        section,
        "drained (queue empty, connection idle) after the burst",
        opt_secs(idle),
        "≤ 5 s",
        idle.is_some_and(|d| d <= Duration::from_secs(5)),
    );
    let fetches = calls_after.saturating_sub(calls_before);
    report.check(
        section,
        "provider fetches the storm caused (sandbox list calls)",
        format!("{fetches} ({} syncs)", syncs_after - syncs_before),
        "≤ 50",
        fetches <= 50,
    );
    report.row(
        section,
        "worker fetch metric, all connections (incl. others' changes)",
        format!("{:.0}", fetch_after - fetch_before),
    );
    report.latency(section, "others during the storm", &l_during);
    report.check(
        section,
        "others' p99 during the storm",
        format!("{:.1} ms", l_during.p99_ms),
        "≤ 250 ms",
        l_during.p99_ms <= 250.0 && l_during.lost == 0 && l_during.count > 0,
    );
    report.row(
        section,
        "others over the whole phase: changes / lost / p99",
        format!("{} / {} / {:.1} ms", l_all.count, l_all.lost, l_all.p99_ms),
    );
    report.row(section, "cpu % of one core: the burst", cpu_burst);
    report.row(section, "cpu % of one core: burst and drain", cpu_storm);
    let key = if section.contains('2') {
        "storm2"
    } else {
        "storm1"
    };
    report.json.insert(
        key.into(),
        json!({"pushes": args.storm_pushes, "ok": burst.ok, "accept_rps": accept,
               "queue_empty_s": drained.queue_empty_after.map(|d| d.as_secs_f64()),
               "drained_s": idle.map(|d| d.as_secs_f64()), "fetches": fetches,
               "syncs": syncs_after - syncs_before, "others_p99_ms": l_during.p99_ms,
               "others_count": l_during.count, "others_lost": l_during.lost}),
    );
    Ok(StormOutcome { drained: idle })
}

pub(crate) fn opt_secs(d: Option<Duration>) -> String {
    d.map(|d| format!("{:.2} s", d.as_secs_f64()))
        .unwrap_or_else(|| "not within 60 s".into())
}

pub(crate) fn worker_urls(args: &Args, section: &str) -> Vec<String> {
    let mut v = vec![args.worker.clone()];
    if section.contains('2') {
        v.push(format!("http://{}", args.worker2_bind));
    }
    v
}
