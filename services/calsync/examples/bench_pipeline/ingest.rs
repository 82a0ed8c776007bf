//! Phase "ingest": webhook-ingest alone against its bare `/healthz`, and the broker alone.

use super::*;
use crate::storm::{drain, opt_secs};

pub(crate) fn socket(base: &str) -> anyhow::Result<(SocketAddr, String)> {
    let url = reqwest::Url::parse(base)?;
    let host = url.host_str().ok_or_else(|| anyhow!("no host in {base}"))?;
    let port = url
        .port_or_known_default()
        .ok_or_else(|| anyhow!("no port in {base}"))?;
    let addr = format!("{host}:{port}")
        .parse()
        .with_context(|| format!("{base} is not host:port of an IP"))?;
    Ok((addr, format!("{host}:{port}")))
}

/// A valid Google push on `ch` with message number `number`.
pub(crate) fn push_bytes(
    ch: &system::GoogleChannel,
    host: &str,
    expiration: &str,
    number: u64,
) -> Vec<u8> {
    raw::request(
        "POST",
        "/webhooks/google",
        host,
        &[
            ("X-Goog-Channel-ID", ch.id.clone()),
            ("X-Goog-Channel-Token", ch.token.clone()),
            ("X-Goog-Channel-Expiration", expiration.to_owned()),
            ("X-Goog-Resource-ID", ch.resource_id.clone()),
            ("X-Goog-Resource-URI", ch.resource_uri.clone()),
            ("X-Goog-Resource-State", "exists".into()),
            ("X-Goog-Message-Number", number.to_string()),
        ],
    )
}

pub(crate) fn channel_expiration() -> String {
    (Utc::now() + chrono::Duration::days(6))
        .format("%a, %d %b %Y %H:%M:%S GMT")
        .to_string()
}

/// Valid Google pushes for `agent`'s live channel, numbered on from the last one used:
/// each is a change the worker has not seen.
pub(crate) async fn push_maker(
    sys: &Sys,
    agent: &Agent,
    numbers: &mut HashMap<String, u64>,
    reserve: u64,
) -> anyhow::Result<raw::MakeRequest> {
    let ch = sys.google_channel(&agent.user).await?;
    // The system signed the token; the row must name the same channel.
    let row = sys.primary_calendar(agent.connection).await?;
    if row.webhook_channel_id.as_deref() != Some(ch.id.as_str()) {
        bail!(
            "connection {} stores channel {:?} but the sandbox's live one is {}",
            agent.connection,
            row.webhook_channel_id,
            ch.id
        );
    }
    let next = numbers.entry(ch.id.clone()).or_insert(0);
    let first = (*next).max(ch.messages_sent + 1);
    *next = first + reserve;
    let (_, host) = socket(&sys.ingest)?;
    let expiration = channel_expiration();
    Ok(Arc::new(move |i: u64| {
        push_bytes(&ch, &host, &expiration, first + i)
    }))
}

/// Valid Google pushes spread round-robin over every Google connection but the
/// reserved ones, each repeating the last message number the worker recorded for its
/// channel (a redelivery, as Google makes): ingest and the broker do all their work
/// for every push, the worker records each and fetches nothing, so ingest is measured
/// with one notice per push and without the syncs a real change would cost.
pub(crate) async fn spread_maker(
    sys: &Sys,
    agents: &[Agent],
    reserved: &[usize],
) -> anyhow::Result<(raw::MakeRequest, usize)> {
    let channels = sys.google_channels().await?;
    let rows: HashMap<Uuid, calsync_db::calendars::Calendar> = sys.primary_calendars().await?;
    let (_, host) = socket(&sys.ingest)?;
    let expiration = channel_expiration();
    let mut requests = Vec::new();
    for (i, a) in agents.iter().enumerate() {
        if a.provider != Provider::Google || reserved.contains(&i) {
            continue;
        }
        let (Some(ch), Some(row)) = (channels.get(&a.user), rows.get(&a.connection)) else {
            continue;
        };
        if row.webhook_channel_id.as_deref() != Some(ch.id.as_str()) {
            continue;
        }
        let number = u64::try_from(row.webhook_last_message).unwrap_or(0).max(1);
        requests.push(push_bytes(ch, &host, &expiration, number));
    }
    if requests.is_empty() {
        bail!("no Google connection to spread pushes over");
    }
    let n = requests.len();
    Ok((
        Arc::new(move |i: u64| requests[(i % n as u64) as usize].clone()),
        n,
    ))
}

pub(crate) fn healthz_maker(base: &str) -> anyhow::Result<raw::MakeRequest> {
    let (_, host) = socket(base)?;
    let bytes = raw::request("GET", "/healthz", &host, &[]);
    Ok(Arc::new(move |_| bytes.clone()))
}

pub(crate) fn pct_us(o: &raw::Outcome, p: f64) -> f64 {
    let mut v: Vec<f64> = o
        .latencies_us
        .iter()
        .map(|&u| f64::from(u) / 1000.0)
        .collect();
    v.sort_by(f64::total_cmp);
    changes::percentile(&v, p)
}

pub(crate) fn blast_summary(o: &raw::Outcome) -> String {
    format!(
        "{} ok, {} non-2xx, {} errors in {:.2} s{}",
        o.ok,
        o.non_2xx,
        o.errors,
        o.elapsed.as_secs_f64(),
        o.first_problem
            .as_ref()
            .map(|p| format!(" (first problem: {p})"))
            .unwrap_or_default()
    )
}

/// Queue empty and every connection idle (what a spread phase leaves behind).
pub(crate) async fn drain_all(sys: &Sys) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut calm = 0;
    while calm < 5 && Instant::now() < deadline {
        let (ready, _) = sys.work_queue().await?;
        let busy = sys
            .all_connections()
            .await?
            .iter()
            .any(|c| c.sync_pending || c.lease_owner.is_some());
        calm = if ready == 0 && !busy { calm + 1 } else { 0 };
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

/// What one rate phase against /webhooks/google did, with the notices it cost.
pub(crate) struct PushRun {
    out: raw::Outcome,
    notices: f64,
}

pub(crate) async fn push_run(
    sys: &Sys,
    args: &Args,
    spec: raw::Spec,
    maker: raw::MakeRequest,
) -> anyhow::Result<PushRun> {
    let before = metric_sum(&sys.http, &args.ingest, "webhook_notices_published_total").await?;
    let out = raw::run(spec, maker).await;
    let after = metric_sum(&sys.http, &args.ingest, "webhook_notices_published_total").await?;
    Ok(PushRun {
        out,
        notices: after - before,
    })
}

pub(crate) async fn phase_ingest(
    sys: &Arc<Sys>,
    args: &Args,
    agents: &[Agent],
    reserved: &[usize],
    numbers: &mut HashMap<String, u64>,
    report: &mut Report,
) -> anyhow::Result<f64> {
    let agent = &agents[reserved[0]];
    let (addr, _) = socket(&args.ingest)?;
    let secs = Duration::from_secs(args.blast_secs.max(1));
    let spec = |rate: Option<f64>| raw::Spec {
        addr,
        connections: args.blast_connections,
        total: None,
        duration: secs,
        rate,
    };
    let (spread, channels) = spread_maker(sys, agents, reserved).await?;
    say("ingest: bare GET /healthz at max rate");
    let h1 = raw::run(spec(None), healthz_maker(&args.ingest)?).await;

    // Ingest alone: the sync-workers are paused (SIGSTOP), so the pushes compete for
    // the CPU with nothing downstream; they are all redeliveries, so the notices left
    // queued carry no change and are purged before the workers go on.
    let paused = Paused::workers(args);
    say(format!(
        "ingest: valid pushes spread over {channels} Google channels at max rate, workers paused ({} client connections)",
        args.blast_connections
    ));
    let c0 = cpu(args);
    let wide = push_run(sys, args, spec(None), Arc::clone(&spread)).await?;
    let cpu_wide = cpu(args).since(&c0);
    say("ingest: the broker alone: confirmed publishes straight from the bench");
    let c0 = cpu(args);
    let broker = broker_alone(args, agent, secs).await?;
    let cpu_broker = cpu(args).since(&c0);
    // The phases before left their notices queued (the workers are paused); the fixed
    // rate starts from an empty queue, as a production ingest in front of running
    // workers does, instead of behind a backlog of a hundred thousand messages.
    let mut purged = sys.purge_work_queue().await?;
    say(format!(
        "ingest: valid pushes spread over {channels} channels at {}/s, workers paused ({purged} queued notices purged first)",
        args.fixed_rate
    ));
    let c0 = cpu(args);
    let fixed = push_run(sys, args, spec(Some(args.fixed_rate)), spread).await?;
    let cpu_fixed = cpu(args).since(&c0);
    purged += sys.purge_work_queue().await?;
    drop(paused);
    drain_all(sys).await?;

    say("ingest: bare GET /healthz at max rate, again");
    let h2 = raw::run(spec(None), healthz_maker(&args.ingest)?).await;
    // The latency floor of the machine and the load generator at the fixed rate: the
    // bare handler, open loop, as the pushes were sent.
    say(format!(
        "ingest: bare GET /healthz at {}/s (latency floor)",
        args.fixed_rate
    ));
    let h_fixed = raw::run(spec(Some(args.fixed_rate)), healthz_maker(&args.ingest)?).await;
    say("ingest: valid pushes for one connection at max rate, workers running");
    let maker = push_maker(sys, agent, numbers, 100_000_000).await?;
    let c0 = cpu(args);
    let one = push_run(sys, args, spec(None), maker).await?;
    let cpu_one = cpu(args).since(&c0);
    let one_drained = drain(sys, agent.connection, Instant::now()).await?;

    let healthz = (h1.ok_rate() + h2.ok_rate()) / 2.0;
    let of_healthz = |r: f64| r / healthz.max(1e-9);
    let s = "ingest alone (POST /webhooks/google, valid pushes, publisher confirms)";
    report.row(
        s,
        "bare GET /healthz max rate (before / after)",
        format!("{:.0} / {:.0} req/s", h1.ok_rate(), h2.ok_rate()),
    );
    report.row(
        s,
        "redelivered notices purged after the paused phases",
        format!("{purged}"),
    );
    for (what, run, coalesced) in [
        (
            format!("spread over {channels} connections (workers paused)"),
            &wide,
            false,
        ),
        ("one connection (workers running)".to_owned(), &one, true),
    ] {
        let rate = run.out.ok_rate();
        report.row(s, format!("{what}: max rate"), blast_summary(&run.out));
        report.row(
            s,
            format!("{what}: notices published per push"),
            format!("{:.3}", run.notices / (run.out.ok as f64).max(1.0)),
        );
        let note = if coalesced {
            " (group commit folds them)"
        } else {
            ""
        };
        report.check(
            s,
            format!("{what}: pushes accepted per second{note}"),
            format!("{rate:.0}/s"),
            "≥ 15000/s",
            rate >= 15_000.0,
        );
        report.check(
            s,
            format!("{what}: … as a fraction of bare /healthz (same run)"),
            format!("{:.1} %", of_healthz(rate) * 100.0),
            "≥ 30 %",
            of_healthz(rate) >= 0.30,
        );
        report.row(
            s,
            format!("{what}: latency at max rate p50 / p99"),
            format!(
                "{:.2} / {:.2} ms",
                pct_us(&run.out, 0.5),
                pct_us(&run.out, 0.99)
            ),
        );
    }
    report.row(
        s,
        "one connection: drained after its max-rate phase",
        opt_secs(one_drained.idle_after),
    );
    report.row(
        s,
        "broker alone: confirmed publishes/s from the bench (4 lanes, workers paused)",
        format!(
            "{broker:.0}/s ({:.1} % of bare /healthz)",
            of_healthz(broker) * 100.0
        ),
    );
    let fixed_rate = fixed.out.ok as f64 / secs.as_secs_f64();
    report.row(
        s,
        format!(
            "spread at {:.0}/s (open loop, workers paused)",
            args.fixed_rate
        ),
        blast_summary(&fixed.out),
    );
    let p99 = pct_us(&fixed.out, 0.99);
    report.check(
        s,
        format!(
            "spread at {:.0}/s: latency p50 / p99 (achieved {fixed_rate:.0}/s)",
            args.fixed_rate
        ),
        format!("{:.2} / {p99:.2} ms", pct_us(&fixed.out, 0.5)),
        "p99 ≤ 20 ms",
        p99 <= 20.0 && fixed.out.non_2xx + fixed.out.errors == 0,
    );
    report.row(
        s,
        format!(
            "bare /healthz at {:.0}/s: latency p50 / p99 (the floor, same run)",
            args.fixed_rate
        ),
        format!(
            "{:.2} / {:.2} ms",
            pct_us(&h_fixed, 0.5),
            pct_us(&h_fixed, 0.99)
        ),
    );
    report.row(s, "cpu % of one core: spread max rate", cpu_wide);
    report.row(s, "cpu % of one core: one connection max rate", cpu_one);
    report.row(s, "cpu % of one core: broker alone", cpu_broker);
    report.row(
        s,
        format!("cpu % of one core: spread at {:.0}/s", args.fixed_rate),
        cpu_fixed,
    );
    report.json.insert(
        "ingest".into(),
        json!({"healthz_rps": [h1.ok_rate(), h2.ok_rate()],
               "spread_max_rps": wide.out.ok_rate(), "spread_notices": wide.notices,
               "one_max_rps": one.out.ok_rate(), "one_notices": one.notices,
               "broker_alone_rps": broker, "fixed_rate": args.fixed_rate,
               "fixed_p50_ms": pct_us(&fixed.out, 0.5), "fixed_p99_ms": p99,
               "fixed_errors": fixed.out.non_2xx + fixed.out.errors}),
    );
    Ok(healthz)
}

/// Confirmed publishes per second of change notices for `agent`'s connection straight
/// to the broker (what ingest does after authenticating), with as many in flight as the
/// HTTP phases have connections: the ceiling the broker puts on ingest on this machine.
pub(crate) async fn broker_alone(
    args: &Args,
    agent: &Agent,
    secs: Duration,
) -> anyhow::Result<f64> {
    let publisher = calsync_mq::Publisher::with_lanes(
        &args.amqp_url,
        calsync_mq::Topology::new(&args.amqp_prefix),
        4,
    );
    publisher.check().await?;
    let notice = calsync_proto::v1::ChangeNotice {
        connection_id: agent.connection.to_string(),
        provider: calsync_proto::v1::Provider::Google as i32,
        reason: calsync_proto::v1::NoticeReason::Webhook as i32,
        received_at_ms: Utc::now().timestamp_millis(),
        ..Default::default()
    };
    let started = Instant::now();
    let stop_at = started + secs;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..args.blast_connections.max(1) {
        let (p, n) = (publisher.clone(), notice.clone());
        tasks.spawn(async move {
            let mut ok = 0u64;
            while Instant::now() < stop_at {
                if p.publish_notice(&n).await.is_ok() {
                    ok += 1;
                }
            }
            ok
        });
    }
    let mut ok = 0;
    while let Some(n) = tasks.join_next().await {
        ok += n.unwrap_or(0);
    }
    let rate = ok as f64 / started.elapsed().as_secs_f64();
    publisher.close().await;
    Ok(rate)
}

/// Sync-workers stopped (SIGSTOP) while ingest is measured alone; continued on drop,
/// whatever happens in between.
pub(crate) struct Paused(Vec<u32>);

impl Paused {
    fn workers(args: &Args) -> Self {
        let mut pids: Vec<u32> = args
            .up_pid
            .map(|up| {
                system::children(up)
                    .into_iter()
                    .filter(|(_, cmd)| cmd.ends_with("serve worker"))
                    .map(|(pid, _)| pid)
                    .collect()
            })
            .unwrap_or_default();
        let w2 = WORKER2.load(std::sync::atomic::Ordering::Relaxed);
        if w2 != 0 {
            pids.push(w2);
        }
        for pid in &pids {
            signal("STOP", *pid);
        }
        Self(pids)
    }
}

impl Drop for Paused {
    fn drop(&mut self) {
        for pid in &self.0 {
            signal("CONT", *pid);
        }
    }
}

pub(crate) fn signal(sig: &str, pid: u32) {
    let _ = std::process::Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .status();
}
