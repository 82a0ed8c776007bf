//! A lean HTTP/1.1 keep-alive load client for the rate phases (ingest at its maximum,
//! the bare `/healthz`, the storm). On a 2-core machine the client shares the CPU with
//! the system under test, so it must cost as little as possible per request: each
//! connection writes a prepared request and reads the answer's head and
//! `Content-Length` body, nothing more (no pipelining: one request in flight per
//! connection, as a provider's delivery client does).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// What to send and how.
#[derive(Clone)]
pub struct Spec {
    pub addr: SocketAddr,
    pub connections: usize,
    /// Stop after this many requests (all of them answered or failed).
    pub total: Option<u64>,
    /// Stop issuing after this long.
    pub duration: Duration,
    /// Open loop at this many requests per second; `None`: as fast as answers come.
    pub rate: Option<f64>,
}

#[derive(Debug, Default)]
pub struct Outcome {
    pub sent: u64,
    pub ok: u64,
    pub non_2xx: u64,
    pub errors: u64,
    /// From the first request to the last answer.
    pub elapsed: Duration,
    /// Per answered request, microseconds: from its scheduled start (open loop) or its
    /// send (closed loop) to its answer.
    pub latencies_us: Vec<u32>,
    pub first_problem: Option<String>,
}

impl Outcome {
    pub fn ok_rate(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Builds the bytes of request number `i`.
pub type MakeRequest = Arc<dyn Fn(u64) -> Vec<u8> + Send + Sync>;

pub async fn run(spec: Spec, make: MakeRequest) -> Outcome {
    let next = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..spec.connections.max(1) {
        let (spec, make, next) = (spec.clone(), Arc::clone(&make), Arc::clone(&next));
        tasks.spawn(async move { connection(spec, make, next, start).await });
    }
    let mut out = Outcome::default();
    let mut last = start;
    while let Some(done) = tasks.join_next().await {
        let Ok(part) = done else {
            out.errors += 1;
            continue;
        };
        out.sent += part.sent;
        out.ok += part.ok;
        out.non_2xx += part.non_2xx;
        out.errors += part.errors;
        out.latencies_us.extend(part.latencies_us);
        if out.first_problem.is_none() {
            out.first_problem = part.first_problem;
        }
        last = last.max(part.last_answer);
    }
    out.elapsed = last.saturating_duration_since(start);
    out
}

struct Part {
    sent: u64,
    ok: u64,
    non_2xx: u64,
    errors: u64,
    latencies_us: Vec<u32>,
    first_problem: Option<String>,
    last_answer: Instant,
}

async fn connection(spec: Spec, make: MakeRequest, next: Arc<AtomicU64>, start: Instant) -> Part {
    let mut part = Part {
        sent: 0,
        ok: 0,
        non_2xx: 0,
        errors: 0,
        latencies_us: Vec::new(),
        first_problem: None,
        last_answer: start,
    };
    let stop_at = start + spec.duration;
    let mut stream: Option<TcpStream> = None;
    let mut buf = Vec::with_capacity(4096);
    loop {
        let i = next.fetch_add(1, Ordering::Relaxed);
        if spec.total.is_some_and(|t| i >= t) {
            break;
        }
        let scheduled = match spec.rate {
            Some(r) => start + Duration::from_secs_f64(i as f64 / r),
            None => Instant::now(),
        };
        if scheduled >= stop_at || Instant::now() >= stop_at {
            break;
        }
        tokio::time::sleep_until(scheduled.into()).await;
        let request = make(i);
        let sent_at = if spec.rate.is_some() {
            scheduled
        } else {
            Instant::now()
        };
        part.sent += 1;
        let answer = async {
            if stream.is_none() {
                let s = TcpStream::connect(spec.addr).await?;
                s.set_nodelay(true)?;
                stream = Some(s);
            }
            let Some(s) = stream.as_mut() else {
                return Err(std::io::Error::other("no connection"));
            };
            s.write_all(&request).await?;
            read_response(s, &mut buf).await
        }
        .await;
        let now = Instant::now();
        match answer {
            Ok(status) => {
                part.last_answer = now;
                let us = now.saturating_duration_since(sent_at).as_micros();
                part.latencies_us
                    .push(u32::try_from(us).unwrap_or(u32::MAX));
                if (200..300).contains(&status) {
                    part.ok += 1;
                } else {
                    part.non_2xx += 1;
                    if part.first_problem.is_none() {
                        part.first_problem = Some(format!("HTTP {status}"));
                    }
                }
            }
            Err(e) => {
                part.errors += 1;
                if part.first_problem.is_none() {
                    part.first_problem = Some(e.to_string());
                }
                stream = None;
                buf.clear();
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    }
    part
}

/// Reads one response; returns its status. Keeps nothing past it (no pipelining).
async fn read_response(s: &mut TcpStream, buf: &mut Vec<u8>) -> std::io::Result<u16> {
    buf.clear();
    let mut chunk = [0u8; 4096];
    let (head_end, status, body_len) = loop {
        if let Some(pos) = find(buf, b"\r\n\r\n") {
            let (status, len) = parse_head(&buf[..pos])?;
            break (pos + 4, status, len);
        }
        let n = s.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "connection closed before the answer",
            ));
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    while buf.len() < head_end + body_len {
        let n = s.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "connection closed inside the body",
            ));
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    Ok(status)
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn parse_head(head: &[u8]) -> std::io::Result<(u16, usize)> {
    let bad = |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_owned());
    let text = std::str::from_utf8(head).map_err(|_| bad("answer head is not UTF-8"))?;
    let mut lines = text.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| bad("no status line"))?;
    let mut len = 0;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        if name.eq_ignore_ascii_case("content-length") {
            len = value
                .trim()
                .parse()
                .map_err(|_| bad("bad content-length"))?;
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            return Err(bad("chunked answers are not supported by the bench client"));
        }
    }
    Ok((status, len))
}

/// A request with no body.
pub fn request(method: &str, path: &str, host: &str, headers: &[(&str, String)]) -> Vec<u8> {
    let mut r = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\n");
    for (k, v) in headers {
        r.push_str(k);
        r.push_str(": ");
        r.push_str(v);
        r.push_str("\r\n");
    }
    r.push_str("Content-Length: 0\r\n\r\n");
    r.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_are_parsed() -> std::io::Result<()> {
        let (s, l) = parse_head(b"HTTP/1.1 200 OK\r\ncontent-length: 12\r\ndate: x")?;
        assert_eq!((s, l), (200, 12));
        assert!(parse_head(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked").is_err());
        Ok(())
    }
}
