//! A blocking HTTP client that runs on the calling thread: reqwest's async
//! client driven by a current-thread tokio runtime. reqwest's own blocking
//! client runs its runtime on a thread of its own and hands every request
//! and every body across threads; for a process that ingests one file, that
//! thread and its wake-ups cost about 0.45 ms of CPU out of 4 (five requests
//! on loopback: 1.7 ms per process against 1.25 ms this way). The errors are
//! still reqwest's, so what tells "never sent" from "sent, no answer" for
//! exactly-once is unchanged, and so are the timeouts (whole request,
//! body included).
//!
//! Several threads may share one client (the batch and online engines):
//! tokio lets them all `block_on` the one runtime, the first one driving the
//! sockets for the others, and pooled connections stay usable from any of
//! them.

use reqwest::{Client, RequestBuilder, Response, StatusCode, header::HeaderMap};
use tokio::runtime::Runtime;

/// An HTTP client whose calls block the calling thread.
pub struct Http {
    client: Client,
    /// Taken only by `drop`.
    rt: Option<Runtime>,
}

impl Http {
    /// Builds the client and its runtime (no thread is started).
    pub fn new(builder: reqwest::ClientBuilder) -> anyhow::Result<Http> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        // reqwest's builder may spawn nothing, but some connectors look for
        // a runtime when built: build inside this one.
        let client = {
            let _in = rt.enter();
            builder.build()?
        };
        Ok(Http {
            client,
            rt: Some(rt),
        })
    }

    fn rt(&self) -> &Runtime {
        self.rt.as_ref().expect("the runtime lives until drop")
    }

    /// A request to `url`, to be sent with [`Http::send`].
    pub fn request(&self, method: reqwest::Method, url: reqwest::Url) -> RequestBuilder {
        self.client.request(method, url)
    }

    /// Sends and waits for the status and headers; the body is read by
    /// [`Reply::text`].
    pub fn send(&self, rb: RequestBuilder) -> Result<Reply<'_>, reqwest::Error> {
        // `send` starts its timer when called: inside the runtime.
        let resp = self.rt().block_on(async { rb.send().await })?;
        Ok(Reply { resp, http: self })
    }
}

impl Drop for Http {
    /// Does not wait for name lookups still running on the runtime's
    /// blocking threads (a DNS server that does not answer): the request
    /// already failed on its timeout, and the process should not hang on
    /// its way out.
    fn drop(&mut self) {
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

/// An answer whose body has not been read yet.
pub struct Reply<'a> {
    resp: Response,
    http: &'a Http,
}

impl Reply<'_> {
    pub fn status(&self) -> StatusCode {
        self.resp.status()
    }

    pub fn headers(&self) -> &HeaderMap {
        self.resp.headers()
    }

    /// The whole body as text. A body cut off, or not done within the
    /// client's timeout (which counts from the request's start), is an error.
    pub fn text(self) -> Result<String, reqwest::Error> {
        self.http.rt().block_on(async { self.resp.text().await })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader, Write};
    use std::net::TcpListener;
    use std::sync::Arc;

    /// Answers every request with its own path, or with a body cut short
    /// for `/cut`, each on a connection of its own.
    fn server() -> String {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        std::thread::spawn(move || {
            for s in l.incoming() {
                let Ok(mut s) = s else { continue };
                let mut r = BufReader::new(s.try_clone().unwrap());
                let mut first = String::new();
                r.read_line(&mut first).unwrap();
                let mut line = String::new();
                while r.read_line(&mut line).is_ok_and(|n| n > 2) {
                    line.clear();
                }
                let path = first.split(' ').nth(1).unwrap_or("").to_string();
                let reply = if path == "/cut" {
                    "HTTP/1.1 200 OK\r\ncontent-length: 100\r\nconnection: close\r\n\r\nshort"
                        .into()
                } else {
                    format!(
                        "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{path}",
                        path.len()
                    )
                };
                let _ = s.write_all(reply.as_bytes());
            }
        });
        format!("http://{addr}")
    }

    fn builder() -> reqwest::ClientBuilder {
        reqwest::Client::builder()
            .tls_backend_preconfigured(crate::tls::lazy_roots_config().unwrap())
    }

    #[test]
    fn threads_sharing_one_client_each_get_their_own_answers() {
        let base = server();
        let http = Arc::new(Http::new(builder()).unwrap());
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let (http, base) = (http.clone(), base.clone());
                std::thread::spawn(move || {
                    for i in 0..5 {
                        let url = reqwest::Url::parse(&format!("{base}/t{t}/r{i}")).unwrap();
                        let reply = http.send(http.request(reqwest::Method::GET, url)).unwrap();
                        assert_eq!(reply.status(), StatusCode::OK);
                        assert_eq!(reply.text().unwrap(), format!("/t{t}/r{i}"));
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
    }

    #[test]
    fn dropping_the_client_does_not_wait_for_a_stuck_lookup() {
        let http = Http::new(builder()).unwrap();
        // What a name lookup does while the DNS server does not answer.
        http.rt()
            .spawn_blocking(|| std::thread::sleep(std::time::Duration::from_secs(20)));
        let t = std::time::Instant::now();
        drop(http);
        assert!(
            t.elapsed() < std::time::Duration::from_secs(5),
            "{:?}",
            t.elapsed()
        );
    }

    #[test]
    fn a_body_cut_short_is_an_error_when_read() {
        let base = server();
        let http = Http::new(builder()).unwrap();
        let url = reqwest::Url::parse(&format!("{base}/cut")).unwrap();
        let reply = http.send(http.request(reqwest::Method::GET, url)).unwrap();
        assert_eq!(reply.headers()["content-length"], "100");
        assert!(reply.text().is_err());
    }
}
