//! `GET /health` and `GET /metrics` on a tiny blocking HTTP/1 server (one
//! thread, one request per connection): enough for a probe and a scraper.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use serde_json::json;

use super::metrics::Metrics;

/// What `/health` checks.
pub struct Probes {
    /// Does the broker answer a metadata request?
    pub kafka: Box<dyn Fn() -> bool + Send + Sync>,
    /// `file_handling.data_directory` (none configured: always fine).
    pub data_directory: Option<PathBuf>,
    /// The SciCat URL that must answer 200.
    pub scicat_url: String,
    pub http: reqwest::blocking::Client,
    /// When a static token (no username to log in again) expires: after
    /// that SciCat is unhealthy rather than a stream of failed files.
    pub static_token_expires: Option<std::time::SystemTime>,
}

impl Probes {
    pub fn check(&self) -> (bool, bool, bool) {
        let storage = match &self.data_directory {
            None => true,
            Some(d) => std::fs::read_dir(d).is_ok(),
        };
        let expired = self
            .static_token_expires
            .is_some_and(|e| std::time::SystemTime::now() >= e);
        let scicat = !expired
            && self
                .http
                .get(&self.scicat_url)
                .send()
                .is_ok_and(|r| r.status().as_u16() == 200);
        ((self.kafka)(), storage, scicat)
    }
}

/// The SciCat health URL: `scicat.health_endpoint` (a URL, or a path under
/// the host), else `{host}/health`.
pub fn scicat_health_url(host: &str, endpoint: &str) -> String {
    let host = host.trim_end_matches('/');
    if endpoint.starts_with("http://") || endpoint.starts_with("https://") {
        endpoint.to_string()
    } else if endpoint.is_empty() {
        format!("{host}/health")
    } else {
        format!("{host}/{}", endpoint.trim_start_matches('/'))
    }
}

/// Binds `addr` and serves in a background thread; returns the bound
/// address (port 0 picks one).
pub fn serve(addr: &str, probes: Probes, metrics: Arc<Metrics>) -> Result<std::net::SocketAddr> {
    let listener = TcpListener::bind(addr)
        .with_context(|| format!("cannot listen on {addr} (health_check)"))?;
    let local = listener.local_addr()?;
    let probes = Arc::new(probes);
    std::thread::Builder::new()
        .name("health".into())
        .spawn(move || {
            for stream in listener.incoming().flatten() {
                let (p, m) = (probes.clone(), metrics.clone());
                // A slow probe (SciCat timing out) must not block a scrape.
                std::thread::spawn(move || {
                    let _ = answer(stream, &p, &m);
                });
            }
        })?;
    Ok(local)
}

fn answer(mut stream: TcpStream, probes: &Probes, metrics: &Metrics) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    // Drain the headers so the client sees a clean close.
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 || h == "\r\n" || h == "\n" {
            break;
        }
    }
    let mut parts = line.split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let path = path.split('?').next().unwrap_or("");
    let (status, ctype, body) = match (method, path) {
        ("GET", "/health") => {
            let (kafka, storage, scicat) = probes.check();
            let body = json!({"kafka": kafka, "storage": storage, "scicat": scicat}).to_string();
            let status = if kafka && storage && scicat {
                "200 OK"
            } else {
                "503 Service Unavailable"
            };
            (status, "application/json", body)
        }
        ("GET", "/metrics") => (
            "200 OK",
            "text/plain; version=0.0.4; charset=utf-8",
            metrics.render(),
        ),
        _ => ("404 Not Found", "text/plain", "not found\n".to_string()),
    };
    write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    stream.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_health_url_follows_the_config() {
        assert_eq!(
            scicat_health_url("http://h/api/v3/", ""),
            "http://h/api/v3/health"
        );
        assert_eq!(
            scicat_health_url("http://h/api/v3", "/status"),
            "http://h/api/v3/status"
        );
        assert_eq!(
            scicat_health_url("http://h/api/v3", "http://x/ok"),
            "http://x/ok"
        );
    }
}
