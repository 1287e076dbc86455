//! SciCat REST client: resolves endpoint names under the configured host,
//! authenticates (token or username/password login), retries reads, and turns
//! the backend's answers into messages a user can act on. The token and the
//! configured headers are only ever sent to the configured host; redirects are
//! never followed, so nothing can be bounced to another one. Datasets and
//! origdatablocks go to the API version the run talks (see [`crate::api`]);
//! everything else stays on v3.

use std::sync::Mutex;
use std::time::Duration;

use reqwest::RequestBuilder;
use reqwest::Url;
use serde_json::{Value, json};

use crate::api::{ApiChoice, ApiVersion};
use crate::config::{ApiEndpoints, ScicatOptions, Secret};
use crate::evaluate::{ScFetch, ScicatReads};
use crate::http::{Http, Reply as Response};

/// A failed SciCat request. The variants keep apart what matters for
/// exactly-once: a request that never left (safe to send again) and one that
/// was sent but got no usable answer (the server may have acted on it).
#[derive(Debug, Clone, thiserror::Error)]
pub enum ScicatError {
    /// The connection was never made (refused, DNS, connect timeout): the
    /// server did not see the request.
    #[error("{what}: cannot reach SciCat at {url}: {reason}")]
    NotSent {
        what: String,
        url: String,
        reason: String,
    },
    /// Sent, but no usable answer (timed out, connection cut, a reply body
    /// that cannot be read): the server may or may not have acted on it.
    #[error("{what}: no usable answer from {url}: {reason}")]
    NoAnswer {
        what: String,
        url: String,
        reason: String,
    },
    /// An earlier request of this run found SciCat unreachable: later ones
    /// fail at once instead of waiting through their own retries.
    #[error("{what}: SciCat at {url} is unreachable ({reason}, found earlier in this run)")]
    Down {
        what: String,
        url: String,
        reason: String,
    },
    /// An HTTP error status, with the backend's message.
    #[error("{what}: SciCat answered {status} to {method} {url}{}", if .message.is_empty() { String::new() } else { format!(": {}", .message) })]
    Status {
        what: String,
        method: String,
        url: String,
        status: u16,
        message: String,
    },
    /// A 3xx: redirects are not followed (they could carry the token, the
    /// headers or a body to another host).
    #[error(
        "{what}: SciCat answered {status} (a redirect to {location}) to {url}; redirects are not followed: set scicat.host to the final API base"
    )]
    Redirect {
        what: String,
        url: String,
        status: u16,
        location: String,
    },
    /// An answer that makes no sense for the request.
    #[error("{what}: {reason}")]
    Reply { what: String, reason: String },
}

impl ScicatError {
    /// Worth trying again for a request that is safe to repeat (a read).
    pub fn is_transient(&self) -> bool {
        match self {
            ScicatError::NotSent { .. } | ScicatError::NoAnswer { .. } => true,
            ScicatError::Status { status, .. } => *status >= 500,
            _ => false,
        }
    }

    /// The server may have acted on the request although the client cannot
    /// tell: a POST that failed this way must not be sent again blindly.
    pub fn is_ambiguous(&self) -> bool {
        match self {
            ScicatError::NoAnswer { .. } => true,
            // A 5xx can come after the backend wrote (a proxy timing out, a
            // crash while answering).
            ScicatError::Status { status, .. } => *status >= 500,
            _ => false,
        }
    }

    pub fn status(&self) -> Option<u16> {
        match self {
            ScicatError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// SciCat cannot be reached at all (now or earlier in this run).
    pub fn is_unreachable(&self) -> bool {
        matches!(self, ScicatError::NotSent { .. } | ScicatError::Down { .. })
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

/// A timed-out read is tried this many times in all: a hung server costs at
/// most this many `scicat.timeout`s before it is declared down.
const TIMEOUT_TRIES: u32 = 2;

/// Answer to a dataset existence check by pid.
#[derive(Debug, Clone, PartialEq)]
pub enum Existence {
    Absent,
    /// Exists, with its body.
    Present(Value),
}

/// How long a host found unreachable (or failing) is treated so: long enough
/// that one file's run does not wait through the same retries again, short
/// enough that a batch or a daemon notices when SciCat is back.
const HEALTH_MEMORY: std::time::Duration = std::time::Duration::from_secs(30);

/// What the client learnt about the host, shared by all its requests (and,
/// in the engine, by all files).
#[derive(Debug, Default)]
struct Health {
    /// Unreachable (refused, hung), and since when: every request fails at
    /// once for a while.
    down: Option<(String, std::time::Instant)>,
    /// Answered 5xx through all retries, and since when: reads are sent once
    /// only for a while.
    failing: Option<std::time::Instant>,
}

impl Health {
    fn down(&mut self) -> Option<String> {
        match &self.down {
            Some((reason, since)) if since.elapsed() < HEALTH_MEMORY => Some(reason.clone()),
            Some(_) => {
                self.down = None;
                None
            }
            None => None,
        }
    }
    fn failing(&self) -> bool {
        self.failing.is_some_and(|t| t.elapsed() < HEALTH_MEMORY)
    }
}

/// The login in use. With credentials (a daemon that logged in) the token
/// is renewed before it expires and once when SciCat refuses it.
struct Auth {
    token: Secret,
    credentials: Option<(String, Secret)>,
    /// `exp` of the token when it is a JWT, and when it was obtained.
    expires: Option<std::time::SystemTime>,
    obtained: std::time::SystemTime,
}

impl Auth {
    /// Renew when a fifth of the token's life (at most a minute) is left.
    fn due(&self, now: std::time::SystemTime) -> bool {
        let (Some(exp), Some(_)) = (self.expires, &self.credentials) else {
            return false;
        };
        let life = exp.duration_since(self.obtained).unwrap_or_default();
        let margin = (life / 5).min(Duration::from_secs(60));
        now + margin >= exp
    }
}

/// `exp` of a JWT (its payload's seconds since the epoch), if it is one.
pub fn jwt_expiry(token: &str) -> Option<std::time::SystemTime> {
    let payload = token.split('.').nth(1)?;
    let bytes = base64url(payload.trim_end_matches('='))?;
    let exp = serde_json::from_slice::<Value>(&bytes)
        .ok()?
        .get("exp")?
        .as_f64()?;
    (exp > 0.0).then(|| std::time::UNIX_EPOCH + Duration::from_secs_f64(exp))
}

/// Decodes unpadded base64url (a JWT's parts).
fn base64url(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0);
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'-' | b'+' => 62,
            b'_' | b'/' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

/// Talks to one SciCat backend.
pub struct Client {
    http: Http,
    base: Url,
    auth: std::sync::RwLock<Auth>,
    headers: Vec<(String, String)>,
    endpoints: ApiEndpoints,
    /// The dataset API this client talks, and the `/api/v4` base.
    api: ApiVersion,
    base_v4: Option<Url>,
    pub backoff: Backoff,
    health: Mutex<Health>,
}

fn install_crypto() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// The message list of a backend error body (`message` as a list, a string,
/// or a JSON-encoded list inside a string). A proxy's HTML error page is
/// summarised by its title, never dumped.
pub fn backend_message(body: &str) -> String {
    let Ok(v) = serde_json::from_str::<Value>(body) else {
        if let Some(summary) = html_summary(body) {
            return summary;
        }
        return cap(&one_line(body.trim()), 300);
    };
    let msg = v
        .get("message")
        .or_else(|| v.get("error").and_then(|e| e.get("message")));
    let list = |items: &Vec<Value>| {
        items
            .iter()
            .map(crate::api::error_text)
            .collect::<Vec<_>>()
            .join("; ")
    };
    let text = match msg {
        Some(Value::Array(items)) => list(items),
        // v3 dataset errors: a JSON-encoded list of class-validator errors.
        Some(Value::String(s)) => match serde_json::from_str::<Value>(s) {
            Ok(Value::Array(items)) => list(&items),
            _ => s.clone(),
        },
        Some(other) => other.to_string(),
        None => v.to_string(),
    };
    cap(&one_line(&text), 2000)
}

/// `an HTML page: <title>` for something that looks like HTML.
fn html_summary(body: &str) -> Option<String> {
    let lower = body.to_ascii_lowercase();
    let head = lower.trim_start();
    if !(head.starts_with("<!doctype html") || head.starts_with("<html") || lower.contains("<body"))
    {
        return None;
    }
    let title = lower.find("<title>").and_then(|start| {
        let from = start + "<title>".len();
        let end = lower[from..].find("</title>")? + from;
        Some(body[from..end].trim().to_string())
    });
    let title = title
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| strip_tags(body));
    Some(format!(
        "an HTML page, not the API's JSON: \"{}\"",
        cap(&one_line(&title), 120)
    ))
}

fn strip_tags(s: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for c in s.chars() {
        match c {
            '<' => in_tag = true,
            '>' => {
                in_tag = false;
                out.push(' ');
            }
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out
}

/// Collapses white space and drops control characters, so a reply cannot
/// forge log lines.
fn one_line(s: &str) -> String {
    s.split(|c: char| c.is_whitespace() || c.is_control())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

fn cap(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max).collect();
    out.push_str(" …");
    out
}

impl Client {
    pub fn new(opts: &ScicatOptions) -> anyhow::Result<Client> {
        install_crypto();
        if opts.host.trim().is_empty() {
            anyhow::bail!(
                "scicat.host is not set: give the API base, e.g. https://scicat.example.org/api/v3"
            );
        }
        let mut base = Url::parse(opts.host.trim()).map_err(|e| {
            anyhow::anyhow!(
                "scicat.host {:?} is not a valid URL: {e}",
                redact_url(opts.host.trim())
            )
        })?;
        if let Some(pw) = base.password() {
            crate::logging::add_secret(pw);
            if let Ok(decoded) = percent_encoding::percent_decode_str(pw).decode_utf8() {
                crate::logging::add_secret(&decoded);
            }
        }
        if !base.path().ends_with('/') {
            let p = format!("{}/", base.path());
            base.set_path(&p);
        }
        if base.path().contains("/api/v4") {
            log::warn!(
                "scicat.host {} is a v4 API base: scicat.host is the /api/v3 base (proposals, instruments, samples and login are only there); set scicat.api_version to v4 to send datasets to v4",
                redact_url(base.as_str())
            );
        }
        let base_v4 = v4_base(&base, &opts.host_v4)?;
        let api = match ApiChoice::parse(&opts.api_version) {
            Some(ApiChoice::Fixed(ApiVersion::V4)) if base_v4.is_none() => anyhow::bail!(
                "scicat.api_version is v4 but the v4 base cannot be derived from scicat.host {} (no /api/v3 in it): set scicat.host_v4",
                redact_url(base.as_str())
            ),
            Some(ApiChoice::Fixed(v)) => v,
            // Until `choose_api` has asked the server.
            _ => ApiVersion::V3,
        };
        if !opts.verify {
            log::warn!(
                "scicat.verify is false: TLS certificates of {} are NOT checked",
                base.host_str().unwrap_or("")
            );
        }
        let mut http = reqwest::Client::builder()
            .timeout(opts.timeout())
            .connect_timeout(opts.timeout().min(Duration::from_secs(10)))
            .redirect(reqwest::redirect::Policy::none())
            .tls_danger_accept_invalid_certs(!opts.verify)
            .user_agent(concat!("scicat-ingestor/", env!("CARGO_PKG_VERSION")));
        if opts.verify {
            // The system's roots are read at the first handshake, not here.
            http = http.tls_backend_preconfigured(crate::tls::lazy_roots_config()?);
        }
        let http = Http::new(http)?;
        Ok(Client {
            http,
            base,
            auth: std::sync::RwLock::new(Auth {
                token: opts.token.clone(),
                credentials: None,
                expires: jwt_expiry(opts.token.expose()),
                obtained: std::time::SystemTime::now(),
            }),
            headers: opts
                .additional_headers
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            endpoints: opts.api_endpoints.clone(),
            api,
            base_v4,
            backoff: Backoff::default(),
            health: Mutex::new(Health::default()),
        })
    }

    pub fn has_token(&self) -> bool {
        !self.token().is_empty()
    }

    fn token(&self) -> Secret {
        self.auth
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .token
            .clone()
    }

    /// The dataset API this client talks.
    pub fn api_version(&self) -> ApiVersion {
        self.api
    }

    /// The base an endpoint (by name) lives under in the API talked.
    fn base_of(&self, name: &str) -> &Url {
        match &self.base_v4 {
            Some(v4) if self.api.serves(name) => v4,
            _ => &self.base,
        }
    }

    /// Settles `scicat.api_version`: `auto` asks the server once whether
    /// `/api/v4/datasets` answers (any answer but 404 means it is served).
    pub fn choose_api(&mut self, choice: &str) -> ScResult<ApiVersion> {
        if ApiChoice::parse(choice) != Some(ApiChoice::Auto) {
            log::info!("SciCat API {} (scicat.api_version)", self.api.name());
            return Ok(self.api);
        }
        let Some(v4) = self.base_v4.clone() else {
            log::info!(
                "SciCat API v3 (scicat.api_version auto: no /api/v3 in scicat.host to derive the v4 base from; set scicat.host_v4)"
            );
            return Ok(ApiVersion::V3);
        };
        let path = self.endpoints.datasets.trim_start_matches('/').to_string();
        let url = format!("{v4}{path}?filter={}", quote(r#"{"limits":{"limit":1}}"#));
        let (version, why) = match self.get("ask whether SciCat serves API v4", &url) {
            Ok(_) => (ApiVersion::V4, "answered".to_string()),
            Err(e) if e.status() == Some(404) => (ApiVersion::V3, "answered 404".to_string()),
            Err(e @ ScicatError::Status { .. }) => (
                ApiVersion::V4,
                format!("answered {}", e.status().unwrap_or(0)),
            ),
            Err(e) => return Err(e),
        };
        log::info!(
            "SciCat API {} (scicat.api_version auto: {} {why})",
            version.name(),
            redact_url(&format!("{v4}{path}"))
        );
        self.api = version;
        Ok(version)
    }

    /// The configured API base, without credentials (for messages).
    pub fn base_for_display(&self) -> String {
        redact_url(self.base.as_str())
    }

    fn health(&self) -> std::sync::MutexGuard<'_, Health> {
        self.health.lock().unwrap_or_else(|p| p.into_inner())
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
        let mut u = format!("{}{}", self.base_of(name), path.trim_start_matches('/'));
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
        // The v4 base is configured too (scicat.host_v4), so it is trusted.
        std::iter::once(&self.base)
            .chain(self.base_v4.as_ref())
            .any(|b| {
                url.scheme() == b.scheme()
                    && url.host_str() == b.host_str()
                    && url.port_or_known_default() == b.port_or_known_default()
            })
    }

    fn request(&self, method: reqwest::Method, url: &Url) -> RequestBuilder {
        let mut rb = self.http.request(method, url.clone());
        if self.same_host(url) {
            for (k, v) in &self.headers {
                rb = rb.header(k, v);
            }
            let token = self.token();
            if !token.is_empty() {
                rb = rb.bearer_auth(token.expose());
            }
        }
        rb
    }

    /// Removes the token from text that came back from the server (a
    /// backend may echo the Authorization header in an error).
    fn unecho(&self, s: String) -> String {
        let t = self.token();
        if t.is_empty() {
            s
        } else {
            s.replace(t.expose(), "***")
        }
    }

    /// Sends once. An HTTP error status, a redirect and a failure to connect
    /// or to get an answer each become their own `ScicatError`.
    fn send_once(
        &self,
        what: &str,
        method: reqwest::Method,
        url: &str,
        body: Option<&Value>,
    ) -> ScResult<Response<'_>> {
        let shown = redact_url(url);
        let parsed = Url::parse(url).map_err(|e| ScicatError::Reply {
            what: what.into(),
            reason: format!("invalid URL {shown:?}: {e}"),
        })?;
        if self.same_host(&parsed)
            && let Some(reason) = self.health().down()
        {
            return Err(ScicatError::Down {
                what: what.into(),
                url: shown,
                reason,
            });
        }
        let mut rb = self.request(method.clone(), &parsed);
        if let Some(b) = body {
            rb = rb.json(b);
        }
        log::debug!("{method} {shown}");
        let resp = self.http.send(rb).map_err(|e| {
            let reason = describe_reqwest(&e);
            if e.is_connect() {
                ScicatError::NotSent {
                    what: what.into(),
                    url: shown.clone(),
                    reason,
                }
            } else {
                ScicatError::NoAnswer {
                    what: what.into(),
                    url: shown.clone(),
                    reason,
                }
            }
        })?;
        let status = resp.status();
        log::debug!("{method} {shown} -> {}", status.as_u16());
        if status.is_success() {
            return Ok(resp);
        }
        if status.is_redirection() {
            let location = resp
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|l| l.to_str().ok())
                .map(redact_url)
                .unwrap_or_else(|| "(no Location)".into());
            return Err(ScicatError::Redirect {
                what: what.into(),
                url: shown,
                status: status.as_u16(),
                location: cap(&one_line(&location), 300),
            });
        }
        let text = resp.text().unwrap_or_default();
        Err(ScicatError::Status {
            what: what.into(),
            method: method.to_string(),
            url: shown,
            status: status.as_u16(),
            message: self.unecho(backend_message(&text)),
        })
    }

    /// Sends a read, retrying what may pass: a refused connection and 5xx
    /// with exponential backoff, a timeout once. A host found unreachable is
    /// marked down, so the rest of the run fails at once instead of waiting
    /// through the same retries again.
    fn send_retrying(&self, what: &str, url: &str) -> ScResult<Response<'_>> {
        let tries = if self.health().failing() {
            1
        } else {
            self.backoff.tries.max(1)
        };
        let mut retry = 0;
        loop {
            let result = self.send_once(what, reqwest::Method::GET, url, None);
            let err = match result {
                Ok(r) => return Ok(r),
                Err(e) => e,
            };
            let limit = match err {
                ScicatError::NoAnswer { .. } => TIMEOUT_TRIES.min(tries),
                _ => tries,
            };
            if err.is_transient() && retry + 1 < limit {
                let wait = self.backoff.delay(retry);
                log::warn!("{err}; retrying in {:.1} s", wait.as_secs_f64());
                std::thread::sleep(wait);
                retry += 1;
                continue;
            }
            let on_host = Url::parse(url).is_ok_and(|u| self.same_host(&u));
            match &err {
                ScicatError::NotSent { reason, .. } | ScicatError::NoAnswer { reason, .. }
                    if on_host =>
                {
                    let mut h = self.health();
                    if h.down().is_none() {
                        h.down = Some((reason.clone(), std::time::Instant::now()));
                    }
                }
                ScicatError::Status { status, .. } if *status >= 500 && on_host => {
                    self.health().failing = Some(std::time::Instant::now());
                }
                _ => {}
            }
            return Err(err);
        }
    }

    /// The JSON of a successful reply. A body that cannot be read or parsed
    /// is "no usable answer" for a POST (the server acted, the client cannot
    /// know the result) and a plain bad reply for a read.
    fn json_of(&self, what: &str, url: &str, resp: Response<'_>, posted: bool) -> ScResult<Value> {
        let status = resp.status().as_u16();
        let text = resp.text().map_err(|e| ScicatError::NoAnswer {
            what: what.into(),
            url: redact_url(url),
            reason: format!("the {status} reply was cut off ({})", describe_reqwest(&e)),
        })?;
        if text.trim().is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_str(&text).map_err(|e| {
            let reason = format!(
                "the {status} reply is not JSON ({e}): {}",
                self.unecho(backend_message(&text))
            );
            if posted {
                ScicatError::NoAnswer {
                    what: what.into(),
                    url: redact_url(url),
                    reason,
                }
            } else {
                ScicatError::Reply {
                    what: what.into(),
                    reason,
                }
            }
        })
    }

    /// GET a JSON document (retried).
    pub fn get(&self, what: &str, url: &str) -> ScResult<Value> {
        self.renew_if_due();
        let resp = match self.send_retrying(what, url) {
            Err(e) if self.relogin_after(&e, url) => self.send_retrying(what, url)?,
            r => r?,
        };
        self.json_of(what, url, resp, false)
    }

    /// POST a JSON body once (creating is not blindly repeated: the caller
    /// checks what exists before trying again).
    pub fn post(&self, what: &str, url: &str, body: &Value) -> ScResult<Value> {
        self.renew_if_due();
        // A refused token means the server did not act: sending again after
        // a new login cannot create anything twice.
        let resp = match self.send_once(what, reqwest::Method::POST, url, Some(body)) {
            Err(e) if self.relogin_after(&e, url) => {
                self.send_once(what, reqwest::Method::POST, url, Some(body))?
            }
            r => r?,
        };
        self.json_of(what, url, resp, true)
    }

    /// Logs in again when the token is about to expire (credentials only).
    fn renew_if_due(&self) {
        let creds = {
            let a = self.auth.read().unwrap_or_else(|p| p.into_inner());
            if !a.due(std::time::SystemTime::now()) {
                return;
            }
            a.credentials.clone()
        };
        if let Some((user, password)) = creds {
            log::info!("the SciCat token is about to expire: logging in again");
            if let Err(e) = self.login(&user, &password) {
                log::warn!("renewing the SciCat login failed: {e:#}");
            }
        }
    }

    /// After a 401/403 on the host, logs in again once (credentials only);
    /// true when the request is worth sending again.
    fn relogin_after(&self, e: &ScicatError, url: &str) -> bool {
        let refused = matches!(e.status(), Some(401 | 403))
            && Url::parse(url).is_ok_and(|u| self.same_host(&u));
        let creds = self
            .auth
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .credentials
            .clone();
        match creds {
            Some((user, password)) if refused => {
                log::warn!("SciCat refused the token: logging in again");
                self.login(&user, &password).is_ok()
            }
            _ => false,
        }
    }

    /// Exchanges username and password for a token at `auth/login`.
    pub fn login(&self, username: &str, password: &Secret) -> anyhow::Result<()> {
        let url = format!("{}auth/login", self.base);
        let body = json!({"username": username, "password": password.expose()});
        // Not `post`: a login must not renew (or retry) itself.
        let reply = self
            .send_once("log in", reqwest::Method::POST, &url, Some(&body))
            .and_then(|resp| self.json_of("log in", &url, resp, true))
            .map_err(|e| anyhow::anyhow!("{e} (check scicat.username and scicat.password)"))?;
        let token = reply
            .get("access_token")
            .or_else(|| reply.get("id"))
            .and_then(|t| t.as_str())
            .ok_or_else(|| {
                anyhow::anyhow!("log in: the reply from auth/login holds no access_token")
            })?;
        crate::logging::add_secret(token);
        *self.auth.write().unwrap_or_else(|p| p.into_inner()) = Auth {
            token: Secret::new(token),
            credentials: Some((username.to_string(), password.clone())),
            expires: jwt_expiry(token),
            obtained: std::time::SystemTime::now(),
        };
        log::info!("logged in to SciCat as {username}");
        Ok(())
    }

    /// GET `datasets/{pid}`: 200 present, 404 absent; anything else means
    /// the ingestor cannot tell, which is an error (never "exists").
    pub fn dataset_by_pid(&self, pid: &str) -> ScResult<Existence> {
        let url = self.endpoint("datasets", &quote(pid));
        match self.get("check whether the dataset exists (by pid)", &url) {
            Ok(Value::Null) => Ok(Existence::Absent),
            Ok(v) if v.as_object().is_some_and(|o| o.is_empty()) => Ok(Existence::Absent),
            Ok(v) => Ok(Existence::Present(v)),
            Err(e) if e.status() == Some(404) => Ok(Existence::Absent),
            Err(e) => Err(e),
        }
    }

    /// GET `datasets?filter={"where": where}`: the datasets matching.
    pub fn datasets_where(&self, what: &str, filter_where: Value) -> ScResult<Vec<Value>> {
        let filter = json!({ "where": filter_where });
        let url = self.endpoint(
            "datasets",
            &format!("?filter={}", quote(&filter.to_string())),
        );
        match self.get(what, &url)? {
            Value::Array(items) => Ok(items),
            Value::Null => Ok(Vec::new()),
            other => Err(ScicatError::Reply {
                what: what.into(),
                reason: format!("expected a list, got {}", crate::config::kind_of(&other)),
            }),
        }
    }

    /// GET `datasets?filter={"where":{"scientificMetadata.<key>.value": value}}`.
    pub fn datasets_by_metadata(&self, key: &str, value: &Value) -> ScResult<Vec<Value>> {
        self.datasets_where(
            "check whether the dataset exists (by metadata)",
            json!({ format!("scientificMetadata.{key}.value"): value }),
        )
    }

    /// GET `datasets/{pid}/origdatablocks` (v4 has no such route: there
    /// `origdatablocks?filter={"where":{"datasetId": pid}}`).
    pub fn datablocks_of(&self, pid: &str) -> ScResult<Vec<Value>> {
        let what = "list the dataset's origdatablocks";
        let url = match self.api {
            ApiVersion::V3 => self.endpoint("datasets", &format!("{}/origdatablocks", quote(pid))),
            ApiVersion::V4 => {
                let filter = json!({"where": {"datasetId": pid}});
                self.endpoint(
                    "origdatablocks",
                    &format!("?filter={}", quote(&filter.to_string())),
                )
            }
        };
        match self.get(what, &url)? {
            Value::Array(items) => Ok(items),
            Value::Null => Ok(Vec::new()),
            other => Err(ScicatError::Reply {
                what: what.into(),
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
        let res = self.post(
            "create origdatablock",
            &self.endpoint("origdatablocks", ""),
            body,
        );
        match res {
            // v4 also wants update rights on the dataset, which an account
            // allowed to create datasets for a group it is not in lacks.
            Err(ScicatError::Status {
                what,
                method,
                url,
                status: 403,
                message,
            }) if self.api == ApiVersion::V4 => Err(ScicatError::Status {
                what,
                method,
                url,
                status: 403,
                message: format!(
                    "{message} (API v4 needs update rights on dataset {}: an account in the dataset's ownerGroup or an admin group; v3 accepts an account that may only create datasets)",
                    body.get("datasetId")
                        .map(crate::evaluate::text)
                        .unwrap_or_default()
                ),
            }),
            other => other,
        }
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

/// The `SC` reads of one data file's evaluation. It remembers the first read
/// that failed for a reason other than "not there" (unreachable, 5xx,
/// 401/403, a redirect): the file's run stops on it rather than blaming the
/// schema for the fields it could not fill. Per file, so one file's failure
/// does not stick to the next in the engine.
pub struct FileReads<'a> {
    client: &'a Client,
    failure: Mutex<Option<String>>,
    /// Proposal and instrument answers shared with the engine's other files.
    shared: Option<&'a crate::lookup_cache::LookupCache>,
}

impl<'a> FileReads<'a> {
    pub fn new(client: &'a Client) -> Self {
        FileReads {
            client,
            failure: Mutex::new(None),
            shared: None,
        }
    }

    /// Also answers proposal and instrument lookups from `cache` (and fills
    /// it).
    pub fn with_cache(client: &'a Client, cache: &'a crate::lookup_cache::LookupCache) -> Self {
        FileReads {
            shared: Some(cache),
            ..FileReads::new(client)
        }
    }
}

impl ScicatReads for FileReads<'_> {
    fn api_version(&self) -> Option<ApiVersion> {
        Some(self.client.api)
    }

    fn failure(&self) -> Option<String> {
        self.failure
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

impl ScFetch for FileReads<'_> {
    fn get_json(&self, url: &str) -> Result<Value, String> {
        let shared = self
            .shared
            .filter(|_| crate::lookup_cache::LookupCache::shares(url));
        if let Some(v) = shared.and_then(|c| c.get(url)) {
            return Ok(v);
        }
        let c = self.client;
        let full = c.resolve(url);
        let shown = redact_url(&full);
        match c.get(&format!("GET {shown}"), &full) {
            Ok(v) => {
                if let Some(cache) = shared {
                    cache.put(url, &v);
                }
                Ok(v)
            }
            Err(e) => {
                let line = match &e {
                    ScicatError::Status {
                        status, message, ..
                    } => format!(
                        "GET {shown} answered {status}{}",
                        if message.is_empty() {
                            String::new()
                        } else {
                            format!(": {message}")
                        }
                    ),
                    other => other.to_string(),
                };
                let on_host = Url::parse(&full).is_ok_and(|u| c.same_host(&u));
                if on_host && !matches!(e.status(), Some(404) | Some(400)) {
                    let mut f = self.failure.lock().unwrap_or_else(|p| p.into_inner());
                    if f.is_none() {
                        *f = Some(match e {
                            ScicatError::Status {
                                status: 401 | 403, ..
                            } => format!(
                                "{line} (SciCat refused the token: it is missing, wrong or expired, or the account may not read this; check scicat.token / SCICAT_TOKEN)"
                            ),
                            _ => line.clone(),
                        });
                    }
                }
                Err(line)
            }
        }
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

impl ScicatReads for NoScicat {}

/// The `/api/v4` base: `host_v4` when set, else `base` with its `/api/v3`
/// replaced (`None` when it has none).
fn v4_base(base: &Url, host_v4: &str) -> anyhow::Result<Option<Url>> {
    let mut u = if host_v4.trim().is_empty() {
        let path = base.path();
        let Some(i) = path.rfind("/api/v3") else {
            return Ok(None);
        };
        let mut u = base.clone();
        u.set_path(&format!("{}/api/v4{}", &path[..i], &path[i + 7..]));
        u
    } else {
        Url::parse(host_v4.trim()).map_err(|e| {
            anyhow::anyhow!(
                "scicat.host_v4 {:?} is not a valid URL: {e}",
                redact_url(host_v4.trim())
            )
        })?
    };
    if !u.path().ends_with('/') {
        let p = format!("{}/", u.path());
        u.set_path(&p);
    }
    Ok(Some(u))
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
        // Too broken to parse: drop anything that looks like userinfo.
        Err(_) => match url.split_once("://") {
            Some((scheme, rest)) => {
                let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
                match rest[..end].rsplit_once('@') {
                    Some((_, host)) => format!("{scheme}://***@{host}{}", &rest[end..]),
                    None => url.to_string(),
                }
            }
            None => url.to_string(),
        },
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
    fn a_jwt_expiry_is_read_and_renewal_is_due_a_fifth_before_it() {
        // {"alg":"HS256"} . {"sub":"x","exp":2000000000} . sig
        let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4IiwiZXhwIjoyMDAwMDAwMDAwfQ.c2ln";
        let exp = jwt_expiry(jwt).unwrap();
        assert_eq!(
            exp,
            std::time::UNIX_EPOCH + Duration::from_secs(2_000_000_000)
        );
        assert_eq!(jwt_expiry("not-a-jwt"), None);
        assert_eq!(jwt_expiry("a.!!.c"), None);
        let obtained = exp - Duration::from_secs(100);
        let auth = Auth {
            token: Secret::new("t"),
            credentials: Some(("u".into(), Secret::new("p"))),
            expires: Some(exp),
            obtained,
        };
        assert!(!auth.due(obtained + Duration::from_secs(79)));
        assert!(auth.due(obtained + Duration::from_secs(81)));
        let static_token = Auth {
            credentials: None,
            ..auth
        };
        assert!(!static_token.due(exp), "a static token cannot be renewed");
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
    fn datasets_and_datablocks_follow_the_api_version() {
        let mut opts = ScicatOptions {
            host: "https://sc.example.org/api/v3".into(),
            api_version: "v4".into(),
            ..Default::default()
        };
        let c = Client::new(&opts).unwrap();
        assert_eq!(c.api_version(), ApiVersion::V4);
        assert_eq!(
            c.endpoint("datasets", "a%2Fb"),
            "https://sc.example.org/api/v4/datasets/a%2Fb"
        );
        assert_eq!(
            c.endpoint("origdatablocks", ""),
            "https://sc.example.org/api/v4/origdatablocks"
        );
        assert_eq!(
            c.resolve("proposals/1"),
            "https://sc.example.org/api/v3/proposals/1"
        );
        assert_eq!(
            c.endpoint("samples", ""),
            "https://sc.example.org/api/v3/samples"
        );
        opts.host_v4 = "https://v4.example.org/base".into();
        let c = Client::new(&opts).unwrap();
        assert_eq!(
            c.endpoint("datasets", ""),
            "https://v4.example.org/base/datasets"
        );
        assert!(c.same_host(&Url::parse("https://v4.example.org/x").unwrap()));
        opts.host_v4 = String::new();
        opts.host = "https://sc.example.org/catalog".into();
        let e = Client::new(&opts).err().unwrap().to_string();
        assert!(e.contains("host_v4"), "{e}");
        opts.api_version = "auto".into();
        assert_eq!(Client::new(&opts).unwrap().api_version(), ApiVersion::V3);
    }

    #[test]
    fn v3_class_validator_errors_are_readable() {
        let body = json!({"statusCode": 400, "message": json!([
            {"property": "contactEmail", "children": [],
             "constraints": {"customEmailList": "Expected an email or a list of semicolon separated emails, got x"}}
        ]).to_string()});
        assert_eq!(
            backend_message(&body.to_string()),
            "contactEmail: Expected an email or a list of semicolon separated emails, got x"
        );
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
        let html = "<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head>\n<body><h1>502</h1>nginx</body></html>";
        assert_eq!(
            backend_message(html),
            "an HTML page, not the API's JSON: \"502 Bad Gateway\""
        );
        // Control characters cannot start a forged log line.
        assert_eq!(
            backend_message("a\nINFO dataset uploaded"),
            "a INFO dataset uploaded"
        );
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

    #[test]
    fn never_connected_and_sent_without_answer_are_told_apart() {
        let dead = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap()
        };
        let post = |addr: std::net::SocketAddr| {
            let opts = ScicatOptions {
                host: format!("http://{addr}/api/v3"),
                timeout: 0.5,
                ..Default::default()
            };
            let c = Client::new(&opts).unwrap();
            c.post("create dataset", &c.endpoint("datasets", ""), &json!({}))
                .unwrap_err()
        };
        let e = post(dead);
        assert!(matches!(e, ScicatError::NotSent { .. }), "{e:?}");
        assert!(!e.is_ambiguous());

        // Accepts, reads, never answers.
        let hung = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = hung.local_addr().unwrap();
        let keep = std::thread::spawn(move || hung.accept().map(|(s, _)| s));
        let e = post(addr);
        assert!(matches!(e, ScicatError::NoAnswer { .. }), "{e:?}");
        assert!(e.is_ambiguous());
        drop(keep);
    }

    #[test]
    fn a_host_found_down_fails_later_requests_at_once() {
        let dead = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap()
        };
        let opts = ScicatOptions {
            host: format!("http://{dead}/api/v3"),
            ..Default::default()
        };
        let mut c = Client::new(&opts).unwrap();
        c.backoff.first_delay = Duration::from_millis(1);
        let e = c.get("first", &c.endpoint("proposals", "1")).unwrap_err();
        assert!(matches!(e, ScicatError::NotSent { .. }), "{e:?}");
        c.backoff.first_delay = Duration::from_secs(60);
        let t = std::time::Instant::now();
        let e = c.get("second", &c.endpoint("proposals", "2")).unwrap_err();
        assert!(matches!(e, ScicatError::Down { .. }), "{e:?}");
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "no back-off once down"
        );
    }

    #[test]
    fn broken_urls_lose_their_userinfo() {
        let r = redact_url("http://admin:hunter2@bad host/api/v3");
        assert!(!r.contains("hunter2"), "{r}");
    }
}
