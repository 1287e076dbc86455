//! SciCat REST client: resolves endpoint names under the configured host,
//! authenticates (token or username/password login), retries connection
//! errors and 5xx on reads, and turns the backend's 4xx bodies into messages a
//! user can act on. The token is only ever sent to the configured host and
//! never appears in a log line or an error.

use std::time::Duration;

use reqwest::Url;
use reqwest::blocking::{Client as Http, RequestBuilder, Response};
use serde_json::{Value, json};

use crate::config::{ApiEndpoints, ScicatOptions, Secret};
use crate::evaluate::ScFetch;

/// A failed SciCat request.
#[derive(Debug, thiserror::Error)]
pub enum ScicatError {
    /// No answer: refused, reset, timed out, DNS.
    #[error("{what}: cannot reach SciCat at {url}: {reason}")]
    Connection {
        what: String,
        url: String,
        reason: String,
    },
    /// An HTTP error status, with the backend's message.
    #[error("{what}: SciCat answered {status}{}", if .message.is_empty() { String::new() } else { format!(": {}", .message) })]
    Status {
        what: String,
        status: u16,
        message: String,
    },
    #[error("{what}: {reason}")]
    Reply { what: String, reason: String },
}

impl ScicatError {
    /// Worth trying again: no connection, or a server-side error.
    pub fn is_transient(&self) -> bool {
        match self {
            ScicatError::Connection { .. } => true,
            ScicatError::Status { status, .. } => *status >= 500,
            ScicatError::Reply { .. } => false,
        }
    }
    pub fn status(&self) -> Option<u16> {
        match self {
            ScicatError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }
}

pub type ScResult<T> = Result<T, ScicatError>;

/// How reads are retried.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    pub tries: u32,
    pub first_delay: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            tries: 4,
            first_delay: Duration::from_millis(500),
        }
    }
}

impl Backoff {
    /// The delay before retry number `retry` (0-based): doubling, capped.
    pub fn delay(&self, retry: u32) -> Duration {
        (self.first_delay * 2u32.saturating_pow(retry)).min(Duration::from_secs(8))
    }
}

/// Answer to a dataset existence check by pid.
#[derive(Debug, Clone, PartialEq)]
pub enum Existence {
    Absent,
    /// Exists; the dataset body when readable.
    Present(Option<Value>),
}

/// Talks to one SciCat backend.
pub struct Client {
    http: Http,
    base: Url,
    token: Secret,
    headers: Vec<(String, String)>,
    endpoints: ApiEndpoints,
    pub backoff: Backoff,
    /// Set when the host could not be reached even after retries: later
    /// requests to it fail at once instead of retrying again.
    down: std::cell::RefCell<Option<String>>,
}

fn install_crypto() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// The message list of a backend error body (`message` as a list, a string,
/// or a JSON-encoded list inside a string).
pub fn backend_message(body: &str) -> String {
    let Ok(v) = serde_json::from_str::<Value>(body) else {
        return body.trim().chars().take(500).collect();
    };
    let msg = v
        .get("message")
        .or_else(|| v.get("error").and_then(|e| e.get("message")));
    let list = |items: &Vec<Value>| {
        items
            .iter()
            .map(crate::evaluate::text)
            .collect::<Vec<_>>()
            .join("; ")
    };
    match msg {
        Some(Value::Array(items)) => list(items),
        Some(Value::String(s)) => match serde_json::from_str::<Value>(s) {
            Ok(Value::Array(items)) => list(&items),
            _ => s.clone(),
        },
        Some(other) => other.to_string(),
        None => v.to_string().chars().take(500).collect(),
    }
}

impl Client {
    pub fn new(opts: &ScicatOptions) -> anyhow::Result<Client> {
        install_crypto();
        if opts.host.trim().is_empty() {
            anyhow::bail!(
                "scicat.host is not set: give the API base, e.g. https://scicat.example.org/api/v3"
            );
        }
        let mut base = Url::parse(opts.host.trim())
            .map_err(|e| anyhow::anyhow!("scicat.host {:?} is not a valid URL: {e}", opts.host))?;
        if !base.path().ends_with('/') {
            let p = format!("{}/", base.path());
            base.set_path(&p);
        }
        if base.path().contains("/api/v4") {
            log::warn!(
                "scicat.host {} is a v4 API base: this ingestor sends v3 bodies (what deployed facilities run), which v4 rejects; use the /api/v3 base",
                base
            );
        }
        if !opts.verify {
            log::warn!(
                "scicat.verify is false: TLS certificates of {} are NOT checked",
                base.host_str().unwrap_or("")
            );
        }
        let mut http = Http::builder()
            .timeout(opts.timeout())
            .connect_timeout(opts.timeout().min(Duration::from_secs(10)))
            .tls_danger_accept_invalid_certs(!opts.verify)
            .user_agent(concat!("scicat-ingestor/", env!("CARGO_PKG_VERSION")));
        if opts.verify {
            // The system's roots are read at the first handshake, not here.
            http = http.tls_backend_preconfigured(crate::tls::lazy_roots_config()?);
        }
        let http = http.build()?;
        Ok(Client {
            http,
            base,
            token: opts.token.clone(),
            headers: opts
                .additional_headers
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            endpoints: opts.api_endpoints.clone(),
            backoff: Backoff::default(),
            down: std::cell::RefCell::new(None),
        })
    }

    pub fn has_token(&self) -> bool {
        !self.token.is_empty()
    }

    /// The URL of an endpoint (by name) plus a path below it.
    pub fn endpoint(&self, name: &str, rest: &str) -> String {
        let path = self
            .endpoints
            .pairs()
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, p)| p.to_string())
            .unwrap_or_else(|| name.to_string());
        let mut u = format!("{}{}", self.base, path.trim_start_matches('/'));
        if !rest.is_empty() {
            if !rest.starts_with('?') {
                u.push('/');
            }
            u.push_str(rest);
        }
        u
    }

    /// Resolves a schema `SC` url: a full `http(s)://` url as is; one that
    /// starts with an endpoint name under that endpoint; anything else under
    /// the host.
    pub fn resolve(&self, url: &str) -> String {
        if url.starts_with("http://") || url.starts_with("https://") {
            return url.to_string();
        }
        let url = url.trim_start_matches('/');
        for (name, path) in self.endpoints.pairs() {
            if let Some(rest) = url.strip_prefix(name)
                && (rest.is_empty() || rest.starts_with(['/', '?']))
            {
                return format!("{}{}{rest}", self.base, path.trim_start_matches('/'));
            }
        }
        format!("{}{url}", self.base)
    }

    fn same_host(&self, url: &Url) -> bool {
        url.scheme() == self.base.scheme()
            && url.host_str() == self.base.host_str()
            && url.port_or_known_default() == self.base.port_or_known_default()
    }

    fn request(&self, method: reqwest::Method, url: &str) -> Result<RequestBuilder, String> {
        let parsed = Url::parse(url).map_err(|e| format!("invalid URL {url:?}: {e}"))?;
        let mut rb = self.http.request(method, parsed.clone());
        if self.same_host(&parsed) {
            for (k, v) in &self.headers {
                rb = rb.header(k, v);
            }
            if !self.token.is_empty() {
                rb = rb.bearer_auth(self.token.expose());
            }
        }
        Ok(rb)
    }

    /// Sends once; an HTTP error status becomes `ScicatError::Status`.
    fn send_once(
        &self,
        what: &str,
        method: reqwest::Method,
        url: &str,
        body: Option<&Value>,
    ) -> ScResult<Response> {
        if let Some(reason) = self.down.borrow().as_ref()
            && Url::parse(url).is_ok_and(|u| self.same_host(&u))
        {
            return Err(ScicatError::Connection {
                what: what.into(),
                url: redact_url(url),
                reason: format!("{reason} (an earlier request failed the same way)"),
            });
        }
        let mut rb = self
            .request(method.clone(), url)
            .map_err(|reason| ScicatError::Reply {
                what: what.into(),
                reason,
            })?;
        if let Some(b) = body {
            rb = rb.json(b);
        }
        log::debug!("{method} {}", redact_url(url));
        let resp = rb.send().map_err(|e| ScicatError::Connection {
            what: what.into(),
            url: redact_url(url),
            reason: describe_reqwest(&e),
        })?;
        let status = resp.status();
        log::debug!("{method} {} -> {}", redact_url(url), status.as_u16());
        if status.is_success() {
            return Ok(resp);
        }
        let text = resp.text().unwrap_or_default();
        Err(ScicatError::Status {
            what: what.into(),
            status: status.as_u16(),
            message: backend_message(&text),
        })
    }

    /// Sends, retrying connection errors and 5xx with exponential backoff
    /// (for reads, which are safe to repeat).
    fn send_retrying(
        &self,
        what: &str,
        method: reqwest::Method,
        url: &str,
        body: Option<&Value>,
    ) -> ScResult<Response> {
        let mut retry = 0;
        loop {
            match self.send_once(what, method.clone(), url, body) {
                Err(e) if e.is_transient() && retry + 1 < self.backoff.tries => {
                    let wait = self.backoff.delay(retry);
                    log::warn!("{e}; retrying in {:.1} s", wait.as_secs_f64());
                    std::thread::sleep(wait);
                    retry += 1;
                }
                Err(ScicatError::Connection { what, url, reason }) => {
                    if Url::parse(&url).is_ok_and(|u| self.same_host(&u))
                        && self.down.borrow().is_none()
                    {
                        *self.down.borrow_mut() = Some(reason.clone());
                    }
                    return Err(ScicatError::Connection { what, url, reason });
                }
                other => return other,
            }
        }
    }

    fn json_of(what: &str, resp: Response) -> ScResult<Value> {
        let text = resp.text().map_err(|e| ScicatError::Connection {
            what: what.into(),
            url: String::new(),
            reason: describe_reqwest(&e),
        })?;
        if text.trim().is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_str(&text).map_err(|e| ScicatError::Reply {
            what: what.into(),
            reason: format!("the reply is not JSON ({e})"),
        })
    }

    /// GET a JSON document (retried).
    pub fn get(&self, what: &str, url: &str) -> ScResult<Value> {
        let resp = self.send_retrying(what, reqwest::Method::GET, url, None)?;
        Self::json_of(what, resp)
    }

    /// POST a JSON body once (creating is not blindly repeated: the caller
    /// checks what exists before trying again).
    pub fn post(&self, what: &str, url: &str, body: &Value) -> ScResult<Value> {
        let resp = self.send_once(what, reqwest::Method::POST, url, Some(body))?;
        Self::json_of(what, resp)
    }

    /// Exchanges username and password for a token at `auth/login`.
    pub fn login(&mut self, username: &str, password: &Secret) -> anyhow::Result<()> {
        let url = format!("{}auth/login", self.base);
        let body = json!({"username": username, "password": password.expose()});
        let reply = self
            .post("log in", &url, &body)
            .map_err(|e| anyhow::anyhow!("{e} (check scicat.username and scicat.password)"))?;
        let token = reply
            .get("access_token")
            .or_else(|| reply.get("id"))
            .and_then(|t| t.as_str())
            .ok_or_else(|| {
                anyhow::anyhow!("log in: the reply from auth/login holds no access_token")
            })?;
        self.token = Secret::new(token);
        log::info!("logged in to SciCat as {username}");
        Ok(())
    }

    /// GET `datasets/{pid}`: 200 present, 404 absent, 403 present but not
    /// readable by this account.
    pub fn dataset_by_pid(&self, pid: &str) -> ScResult<Existence> {
        let url = self.endpoint("datasets", &quote(pid));
        match self.get("check dataset by pid", &url) {
            Ok(Value::Null) => Ok(Existence::Absent),
            Ok(v) if v.as_object().is_some_and(|o| o.is_empty()) => Ok(Existence::Absent),
            Ok(v) => Ok(Existence::Present(Some(v))),
            Err(e) if e.status() == Some(404) => Ok(Existence::Absent),
            Err(e) if e.status() == Some(403) => {
                log::warn!(
                    "dataset {pid} exists but this account may not read it (403); treating it as existing"
                );
                Ok(Existence::Present(None))
            }
            Err(e) => Err(e),
        }
    }

    /// GET `datasets?filter={"where":{"scientificMetadata.<key>.value": value}}`.
    pub fn datasets_by_metadata(&self, key: &str, value: &Value) -> ScResult<Vec<Value>> {
        let filter = json!({"where": {format!("scientificMetadata.{key}.value"): value}});
        let url = self.endpoint(
            "datasets",
            &format!("?filter={}", quote(&filter.to_string())),
        );
        match self.get("check dataset by metadata", &url)? {
            Value::Array(items) => Ok(items),
            Value::Null => Ok(Vec::new()),
            other => Err(ScicatError::Reply {
                what: "check dataset by metadata".into(),
                reason: format!("expected a list, got {}", crate::config::kind_of(&other)),
            }),
        }
    }

    /// GET `datasets/{pid}/origdatablocks`.
    pub fn datablocks_of(&self, pid: &str) -> ScResult<Vec<Value>> {
        let url = self.endpoint("datasets", &format!("{}/origdatablocks", quote(pid)));
        match self.get("list the dataset's origdatablocks", &url)? {
            Value::Array(items) => Ok(items),
            Value::Null => Ok(Vec::new()),
            other => Err(ScicatError::Reply {
                what: "list the dataset's origdatablocks".into(),
                reason: format!("expected a list, got {}", crate::config::kind_of(&other)),
            }),
        }
    }

    /// POST `datasets`.
    pub fn create_dataset(&self, body: &Value) -> ScResult<Value> {
        self.post("create dataset", &self.endpoint("datasets", ""), body)
    }

    /// POST `origdatablocks`.
    pub fn create_origdatablock(&self, body: &Value) -> ScResult<Value> {
        self.post(
            "create origdatablock",
            &self.endpoint("origdatablocks", ""),
            body,
        )
    }

    /// POST `datasets/isValid`: whether the backend would accept `body`.
    pub fn is_valid(&self, body: &Value) -> ScResult<Value> {
        self.post(
            "validate dataset",
            &self.endpoint("datasets", "isValid"),
            body,
        )
    }
}

impl ScFetch for Client {
    fn unreachable(&self) -> Option<String> {
        self.down.borrow().clone()
    }

    fn get_json(&self, url: &str) -> Result<Value, String> {
        let full = self.resolve(url);
        self.get(&format!("GET {}", redact_url(&full)), &full)
            .map_err(|e| match e {
                ScicatError::Status {
                    status, message, ..
                } => format!(
                    "GET {} answered {status}{}",
                    redact_url(&full),
                    if message.is_empty() {
                        String::new()
                    } else {
                        format!(": {message}")
                    }
                ),
                other => other.to_string(),
            })
    }
}

/// Stands in for SciCat when no host is configured: every `SC` variable fails
/// with a reason that says so.
pub struct NoScicat;

impl ScFetch for NoScicat {
    fn get_json(&self, url: &str) -> Result<Value, String> {
        Err(format!("cannot GET {url}: scicat.host is not configured"))
    }
}

/// URL-encodes a path segment or query value.
pub fn quote(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// Drops credentials and query values that look like tokens from a URL
/// before it is logged.
pub fn redact_url(url: &str) -> String {
    match Url::parse(url) {
        Ok(mut u) => {
            if u.password().is_some() {
                let _ = u.set_password(Some("***"));
            }
            if u.query_pairs().any(|(k, _)| is_secret_key(&k)) {
                let pairs: Vec<(String, String)> = u
                    .query_pairs()
                    .map(|(k, v)| {
                        let v = if is_secret_key(&k) {
                            "***".into()
                        } else {
                            v.into_owned()
                        };
                        (k.into_owned(), v)
                    })
                    .collect();
                u.query_pairs_mut().clear().extend_pairs(pairs);
            }
            u.to_string()
        }
        Err(_) => url.to_string(),
    }
}

fn is_secret_key(k: &str) -> bool {
    let k = k.to_ascii_lowercase();
    k.contains("token") || k == "access_token" || k.contains("password") || k == "key"
}

fn describe_reqwest(e: &reqwest::Error) -> String {
    let mut msg = if e.is_timeout() {
        "timed out".to_string()
    } else if e.is_connect() {
        "connection failed".to_string()
    } else {
        "request failed".to_string()
    };
    let mut src: Option<&dyn std::error::Error> = std::error::Error::source(e);
    let mut last = String::new();
    while let Some(s) = src {
        last = s.to_string();
        src = s.source();
    }
    if !last.is_empty() {
        msg.push_str(&format!(" ({last})"));
    }
    msg
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(host: &str) -> Client {
        let opts = ScicatOptions {
            host: host.into(),
            token: Secret::new("t"),
            ..Default::default()
        };
        Client::new(&opts).unwrap()
    }

    #[test]
    fn urls_resolve_under_the_host() {
        let c = client("https://sc.example.org/api/v3");
        assert_eq!(
            c.resolve("proposals/443503"),
            "https://sc.example.org/api/v3/proposals/443503"
        );
        assert_eq!(
            c.resolve("instruments?filter=%7B%7D"),
            "https://sc.example.org/api/v3/instruments?filter=%7B%7D"
        );
        assert_eq!(c.resolve("https://other/x"), "https://other/x");
        assert_eq!(c.resolve("health"), "https://sc.example.org/api/v3/health");
        assert_eq!(
            c.endpoint("datasets", "a%2Fb/origdatablocks"),
            "https://sc.example.org/api/v3/datasets/a%2Fb/origdatablocks"
        );
    }

    #[test]
    fn endpoint_paths_follow_the_config() {
        let mut opts = ScicatOptions {
            host: "http://h/api/v3/".into(),
            ..Default::default()
        };
        opts.api_endpoints.proposals = "proposals-v2".into();
        let c = Client::new(&opts).unwrap();
        assert_eq!(c.resolve("proposals/1"), "http://h/api/v3/proposals-v2/1");
    }

    #[test]
    fn backend_messages_in_every_shape() {
        assert_eq!(
            backend_message(r#"{"message": ["a must be x", "b must be y"], "statusCode": 400}"#),
            "a must be x; b must be y"
        );
        assert_eq!(
            backend_message(r#"{"message": "[\"a must be x\"]"}"#),
            "a must be x"
        );
        assert_eq!(backend_message(r#"{"message": "Forbidden"}"#), "Forbidden");
        assert_eq!(backend_message("plain text"), "plain text");
    }

    #[test]
    fn secrets_in_urls_are_redacted() {
        let r = redact_url("https://u:pw@h/x?access_token=abc&filter=1");
        assert!(!r.contains("pw@") && !r.contains("abc"), "{r}");
        assert!(r.contains("filter=1"));
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        let b = Backoff::default();
        assert_eq!(b.delay(0), Duration::from_millis(500));
        assert_eq!(b.delay(1), Duration::from_secs(1));
        assert_eq!(b.delay(10), Duration::from_secs(8));
    }
}
