//! `calsync healthcheck URL`: one plain HTTP/1.0 GET, for the container image's
//! HEALTHCHECK and compose's healthchecks. The runtime image carries no curl or wget, so
//! the binary that is already there asks its sibling service instead.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::process::ExitCode;
use std::time::Duration;

/// Per connect, write and read: a probe that hangs is a failed probe.
const TIMEOUT: Duration = Duration::from_secs(3);

pub fn run(url: &str) -> ExitCode {
    match status_of(url) {
        Ok(status) if (200..300).contains(&status) => ExitCode::SUCCESS,
        Ok(status) => {
            eprintln!("calsync healthcheck: {url} answered {status}");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("calsync healthcheck: {url}: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The status code `url` answers a GET with.
fn status_of(url: &str) -> Result<u16, String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or("only http:// URLs are supported")?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let has_port = authority
        .rsplit_once(':')
        .is_some_and(|(_, port)| port.parse::<u16>().is_ok());
    let target = if has_port {
        authority.to_owned()
    } else {
        format!("{authority}:80")
    };
    let addr = target
        .to_socket_addrs()
        .map_err(|e| e.to_string())?
        .next()
        .ok_or("the host has no address")?;
    let mut stream = TcpStream::connect_timeout(&addr, TIMEOUT).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(TIMEOUT))
        .and_then(|()| stream.set_write_timeout(Some(TIMEOUT)))
        .map_err(|e| e.to_string())?;
    // One write: `write!` on the bare stream sends each formatted piece apart, and a
    // server that answers after the first piece and closes made the rest fail (EPIPE).
    let request = format!("GET {path} HTTP/1.0\r\nHost: {authority}\r\nConnection: close\r\n\r\n");
    stream
        .write_all(request.as_bytes())
        .map_err(|e| e.to_string())?;
    // Only the status line matters; a long body (e.g. /metrics) is never read.
    let mut head = Vec::with_capacity(64);
    let mut buf = [0u8; 64];
    while !head.windows(2).any(|w| w == b"\r\n") && head.len() < 1024 {
        let n = stream.read(&mut buf).map_err(|e| e.to_string())?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    parse_status(&head).ok_or_else(|| "the answer is not HTTP".to_owned())
}

fn parse_status(head: &[u8]) -> Option<u16> {
    let line = std::str::from_utf8(head).ok()?.lines().next()?;
    let mut parts = line.split_whitespace();
    parts.next().filter(|v| v.starts_with("HTTP/"))?;
    parts.next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    /// A one-shot server answering `response`; returns its URL.
    fn serve_once(response: &'static str) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
        let port = listener.local_addr().map(|a| a.port()).unwrap_or_default();
        std::thread::spawn(move || {
            if let Ok((mut conn, _)) = listener.accept() {
                let mut request = [0u8; 512];
                let _ = conn.read(&mut request);
                let _ = conn.write_all(response.as_bytes());
            }
        });
        format!("http://127.0.0.1:{port}/readyz")
    }

    #[test]
    fn a_2xx_answer_is_healthy_and_anything_else_is_not() {
        let ok = serve_once("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}");
        assert_eq!(status_of(&ok), Ok(200));
        let down = serve_once("HTTP/1.1 503 Service Unavailable\r\n\r\n");
        assert_eq!(status_of(&down), Ok(503));
        assert_eq!(run(&down), ExitCode::FAILURE);
    }

    #[test]
    fn nothing_listening_or_a_non_http_url_is_unhealthy() {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap_or_default();
        assert!(status_of(&format!("http://127.0.0.1:{port}/healthz")).is_err());
        assert!(status_of("https://127.0.0.1/healthz").is_err());
        assert_eq!(parse_status(b"SSH-2.0-OpenSSH\r\n"), None);
    }
}
