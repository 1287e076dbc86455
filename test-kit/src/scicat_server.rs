//! An in-process SciCat (v3 and v4) test server over real HTTP.
//!
//! It serves `proposals/{id}`, `instruments`, `samples`, `datasets` (by pid,
//! by filter, their origdatablocks), creates datasets and origdatablocks after
//! validating bodies as strictly as the real backend ([`rules`]: unknown
//! properties, missing required fields and wrong types give 400 with the
//! backend's messages),
//! answers `datasets/isValid` and `auth/login`, records every request, and can
//! be told to fail: answer N times with a status (as JSON, as a proxy's HTML
//! page, or echoing the Authorization header), delay before or after acting,
//! drop the connection or truncate a 2xx body after acting, redirect
//! elsewhere, or hold requests at a barrier so that concurrent runs
//! interleave at the worst moment. Like the real backend, it answers 403
//! "Forbidden resource" to a missing or wrong token. The `/api/v4` routes are
//! in [`v4`]; they are recorded with the path prefix `v4/` (e.g.
//! `POST v4/datasets`).

use std::collections::HashMap;
use std::net::TcpListener as StdListener;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::{Map, Value, json};

pub mod rules;
pub mod v4;

pub use rules::{validate_dataset, validate_origdatablock};

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    /// Path below the API base, e.g. `datasets/abc`.
    pub path: String,
    /// The decoded `filter` query parameter, if any.
    pub filter: Option<Value>,
    pub query: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<Value>,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A failure to inject into requests matching `METHOD path-prefix`.
#[derive(Debug, Clone)]
enum Fault {
    /// Answer with `status` for the next `times` matching requests.
    Status { status: u16, times: usize },
    /// Process the next `times` matching requests, then drop the
    /// connection without answering.
    Drop { times: usize },
    /// Wait before answering every matching request.
    Delay(Duration),
    /// Process the next `times` matching requests, then wait before
    /// answering (past the client's timeout: committed, but unanswered).
    DelayAfter { delay: Duration, times: usize },
    /// Process the next `times` matching requests, then send a 2xx whose
    /// body is cut off half way.
    Truncate { times: usize },
    /// Answer the next `times` with `status` and an nginx-style HTML page.
    Html { status: u16, times: usize },
    /// Answer the next `times` with `status` and a body echoing the
    /// request's Authorization header.
    EchoAuth { status: u16, times: usize },
    /// Answer the next `times` with a redirect to `location` (the same path
    /// under another base).
    Redirect {
        status: u16,
        location: String,
        times: usize,
    },
    /// Hold each matching request until `n` have arrived (or `timeout`).
    Barrier {
        n: usize,
        arrived: usize,
        timeout: Duration,
    },
}

/// What to do with one request, decided from the faults.
#[derive(Default)]
struct Plan {
    delay: Option<Duration>,
    delay_after: Option<Duration>,
    status: Option<u16>,
    html: Option<u16>,
    echo: Option<u16>,
    redirect: Option<(u16, String)>,
    drop: bool,
    truncate: bool,
    barrier: Option<(String, usize, Duration)>,
}

#[derive(Default)]
pub struct State {
    pub requests: Vec<Recorded>,
    pub proposals: HashMap<String, Value>,
    pub instruments: Vec<Value>,
    pub samples: Vec<Value>,
    /// Datasets in creation order.
    pub datasets: Vec<Value>,
    pub origdatablocks: Vec<Value>,
    /// When set, every request but `auth/login` needs this bearer token.
    pub token: Option<String>,
    /// Accepted `auth/login` credentials.
    pub users: Vec<(String, String)>,
    /// The account may create datasets but not update them (not in the
    /// ownerGroup): v4 origdatablock POSTs get 403, v3 ones pass.
    pub no_dataset_update_rights: bool,
    faults: Vec<(String, Fault)>,
    next_id: u64,
}

/// A running test server; stops when dropped.
pub struct ScicatServer {
    /// The API base, e.g. `http://127.0.0.1:4711/api/v3`.
    pub url: String,
    state: Arc<Mutex<State>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for ScicatServer {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A URL where nothing listens (for "server down").
pub fn dead_url() -> String {
    let l = StdListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    format!("http://127.0.0.1:{port}/api/v3")
}

impl ScicatServer {
    /// Starts a server with the proposals and instruments of the ESS example
    /// files.
    pub fn start() -> ScicatServer {
        let server = Self::empty();
        {
            let mut s = server.state();
            s.proposals.insert(
                "443503".into(),
                json!({"proposalId": "443503", "pi_firstname": "Jane", "pi_lastname": "Doe",
                       "pi_email": "jane.doe@ess.eu", "title": "CODA proposal"}),
            );
            s.proposals.insert(
                "876380".into(),
                json!({"proposalId": "876380", "pi_firstname": "Søren", "pi_lastname": "Schmidt",
                       "pi_email": "soren.schmidt@ess.eu", "title": "YMIR proposal"}),
            );
            s.instruments = vec![
                json!({"id": "inst-odin-1", "pid": "inst-odin-1", "name": "ODIN", "uniqueName": "odin"}),
                json!({"id": "inst-ymir-1", "pid": "inst-ymir-1", "name": "YMIR", "uniqueName": "ymir"}),
            ];
        }
        server
    }

    /// Starts a server that knows nothing.
    pub fn empty() -> ScicatServer {
        Self::empty_on(0)
    }

    /// Like [`ScicatServer::start`], on a given port (0: any free one).
    pub fn start_on(port: u16) -> ScicatServer {
        let server = Self::start();
        if port == 0 {
            return server;
        }
        let moved = Self::empty_on(port);
        {
            let from = server.state();
            let mut to = moved.state();
            to.proposals = from.proposals.clone();
            to.instruments = from.instruments.clone();
        }
        moved
    }

    fn empty_on(port: u16) -> ScicatServer {
        let listener = StdListener::bind(("127.0.0.1", port)).unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(Mutex::new(State::default()));
        let (stop_tx, mut stop_rx) = tokio::sync::oneshot::channel::<()>();
        let st = state.clone();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                loop {
                    tokio::select! {
                        _ = &mut stop_rx => break,
                        accepted = listener.accept() => {
                            let Ok((stream, _)) = accepted else { continue };
                            let st = st.clone();
                            tokio::spawn(async move {
                                let svc = service_fn(move |req| handle(st.clone(), req));
                                let _ = http1::Builder::new()
                                    .serve_connection(TokioIo::new(stream), svc)
                                    .await;
                            });
                        }
                    }
                }
            });
        });
        ScicatServer {
            url: format!("http://127.0.0.1:{port}/api/v3"),
            state,
            stop: Some(stop_tx),
            thread: Some(thread),
        }
    }

    pub fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap()
    }

    /// Requires `Authorization: Bearer <token>` on every request but login.
    pub fn require_token(&self, token: &str) {
        self.state().token = Some(token.into());
    }

    /// Accepts these credentials at `auth/login` (which returns the required
    /// token, or a fixed one).
    pub fn add_user(&self, user: &str, password: &str) {
        self.state().users.push((user.into(), password.into()));
    }

    /// The next `times` requests `METHOD path-prefix` (e.g. `POST datasets`)
    /// are answered with `status`.
    pub fn fail(&self, route: &str, status: u16, times: usize) {
        self.state()
            .faults
            .push((route.into(), Fault::Status { status, times }));
    }

    /// The next matching request is processed, then its connection dropped
    /// without an answer (a crash or a network cut after the server acted).
    pub fn drop_after(&self, route: &str, times: usize) {
        self.state()
            .faults
            .push((route.into(), Fault::Drop { times }));
    }

    /// Every matching request waits `d` before its answer.
    pub fn delay(&self, route: &str, d: Duration) {
        self.state().faults.push((route.into(), Fault::Delay(d)));
    }

    /// The next `times` matching requests are processed, then answered only
    /// after `delay` (a commit the client times out on).
    pub fn delay_after(&self, route: &str, delay: Duration, times: usize) {
        self.state()
            .faults
            .push((route.into(), Fault::DelayAfter { delay, times }));
    }

    /// The next `times` matching requests are processed, then answered with
    /// their 2xx status and a body cut off half way.
    pub fn truncate(&self, route: &str, times: usize) {
        self.state()
            .faults
            .push((route.into(), Fault::Truncate { times }));
    }

    /// The next `times` matching requests get `status` with an HTML page,
    /// as a reverse proxy sends when the backend is down.
    pub fn html(&self, route: &str, status: u16, times: usize) {
        self.state()
            .faults
            .push((route.into(), Fault::Html { status, times }));
    }

    /// The next `times` matching requests get `status` with a body that
    /// echoes their Authorization header.
    pub fn echo_auth(&self, route: &str, status: u16, times: usize) {
        self.state()
            .faults
            .push((route.into(), Fault::EchoAuth { status, times }));
    }

    /// The next `times` matching requests are redirected (`status`, e.g.
    /// 302 or 307) to the same path under `base`.
    pub fn redirect(&self, route: &str, status: u16, base: &str, times: usize) {
        self.state().faults.push((
            route.into(),
            Fault::Redirect {
                status,
                location: base.trim_end_matches('/').to_string(),
                times,
            },
        ));
    }

    /// Holds matching requests until `n` of them have arrived (at most
    /// `timeout` each), so that concurrent clients act at the same moment.
    pub fn barrier(&self, route: &str, n: usize, timeout: Duration) {
        self.state().faults.push((
            route.into(),
            Fault::Barrier {
                n,
                arrived: 0,
                timeout,
            },
        ));
    }

    pub fn clear_faults(&self) {
        self.state().faults.clear();
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.state().requests.clone()
    }

    /// The requests from number `start` on (cheap to poll on a long run).
    pub fn requests_from(&self, start: usize) -> Vec<Recorded> {
        let s = self.state();
        s.requests
            .get(start..)
            .map(<[_]>::to_vec)
            .unwrap_or_default()
    }

    /// Requests `METHOD path-prefix`.
    pub fn requests_to(&self, route: &str) -> Vec<Recorded> {
        self.requests()
            .into_iter()
            .filter(|r| route_matches(route, &r.method, &r.path))
            .collect()
    }

    pub fn datasets(&self) -> Vec<Value> {
        self.state().datasets.clone()
    }

    pub fn origdatablocks(&self) -> Vec<Value> {
        self.state().origdatablocks.clone()
    }
}

/// `route` is `METHOD path-prefix`, `METHOD` alone, or a path prefix.
fn route_matches(route: &str, method: &str, path: &str) -> bool {
    let (m, p) = match route.split_once(' ') {
        Some(mp) => mp,
        None if ["GET", "POST", "PUT", "PATCH", "DELETE"].contains(&route) => (route, ""),
        None => ("", route),
    };
    (m.is_empty() || m.eq_ignore_ascii_case(method)) && path.starts_with(p.trim_start_matches('/'))
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

async fn handle(
    state: Arc<Mutex<State>>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, BoxError> {
    let method = req.method().to_string();
    let uri = req.uri().clone();
    let headers: Vec<(String, String)> = req
        .headers()
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
        .collect();
    let bytes = req.into_body().collect().await?.to_bytes();
    let full_path = uri.path().to_string();
    let path = full_path
        .strip_prefix("/api/v3/")
        .or_else(|| full_path.strip_prefix("/api/v3"))
        .unwrap_or(full_path.trim_start_matches('/'))
        .to_string();
    let path = match path.strip_prefix("api/v4") {
        Some(rest) => format!("v4/{}", rest.trim_start_matches('/')),
        None => path,
    };
    // Like Express: the route is matched on the raw path, then each segment
    // is decoded (so a pid with an encoded `/` stays one segment).
    let segments: Vec<String> = path
        .trim_end_matches('/')
        .split('/')
        .map(|seg| {
            percent_encoding::percent_decode_str(seg)
                .decode_utf8_lossy()
                .into_owned()
        })
        .collect();
    let path = segments.join("/");
    let query = uri.query().unwrap_or("").to_string();
    let filter = query_param(&query, "filter").and_then(|f| serde_json::from_str(&f).ok());
    let body: Option<Value> = if bytes.is_empty() {
        None
    } else {
        match serde_json::from_slice(&bytes) {
            Ok(v) => Some(v),
            Err(_) => {
                return Ok(reply(
                    400,
                    json!({"statusCode": 400, "message": ["body is not JSON"]}),
                ));
            }
        }
    };

    // Faults that apply to this request.
    let plan = {
        let mut s = state.lock().unwrap();
        s.requests.push(Recorded {
            method: method.clone(),
            path: path.clone(),
            filter: filter.clone(),
            query: query.clone(),
            headers: headers.clone(),
            body: body.clone(),
        });
        plan_faults(&mut s.faults, &method, &path)
    };
    if let Some((route, n, timeout)) = &plan.barrier {
        let deadline = tokio::time::Instant::now() + *timeout;
        loop {
            let arrived = state
                .lock()
                .unwrap()
                .faults
                .iter()
                .find_map(|(r, f)| match f {
                    Fault::Barrier { arrived, .. } if r == route => Some(*arrived),
                    _ => None,
                });
            if arrived.is_none_or(|a| a >= *n) || tokio::time::Instant::now() >= deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    if let Some(d) = plan.delay {
        tokio::time::sleep(d).await;
    }
    if let Some(status) = plan.status {
        return Ok(reply(
            status,
            json!({"statusCode": status, "message": "injected failure"}),
        ));
    }
    if let Some(status) = plan.html {
        let page = format!(
            "<html>\r\n<head><title>{status} Bad Gateway</title></head>\r\n<body>\r\n<center><h1>{status} Bad Gateway</h1></center>\r\n<hr><center>nginx/1.24.0</center>\r\n</body>\r\n</html>\r\n"
        );
        return Ok(Response::builder()
            .status(status)
            .header("content-type", "text/html")
            .body(Full::new(Bytes::from(page)))
            .unwrap());
    }
    if let Some(status) = plan.echo {
        let auth = headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("authorization"))
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
        return Ok(reply(
            status,
            json!({"statusCode": status, "message": format!("token rejected: {auth}"), "headers": {"authorization": auth}}),
        ));
    }
    if let Some((status, base)) = &plan.redirect {
        let target = format!(
            "{base}/{}{}",
            path,
            if query.is_empty() {
                String::new()
            } else {
                format!("?{query}")
            }
        );
        return Ok(Response::builder()
            .status(*status)
            .header("location", target)
            .body(Full::new(Bytes::new()))
            .unwrap());
    }
    let (status, value) = {
        let mut s = state.lock().unwrap();
        let parts: Vec<&str> = segments.iter().map(String::as_str).collect();
        route(
            &mut s,
            &method,
            &path,
            &parts,
            filter.as_ref(),
            &headers,
            body,
        )
    };
    if plan.drop {
        return Err("connection dropped by the test server".into());
    }
    if let Some(d) = plan.delay_after {
        tokio::time::sleep(d).await;
    }
    if plan.truncate && (200..300).contains(&status) {
        // Announce the whole body, send half: the client's read fails.
        let text = value.to_string();
        let half = text.as_bytes()[..text.len() / 2].to_vec();
        return Ok(Response::builder()
            .status(status)
            .header("content-type", "application/json")
            .header("content-length", text.len().to_string())
            .body(Full::new(Bytes::from(half)))
            .unwrap());
    }
    Ok(reply(status, value))
}

/// Decides what the faults do to one request, using up counted ones.
fn plan_faults(faults: &mut [(String, Fault)], method: &str, path: &str) -> Plan {
    let mut plan = Plan::default();
    for (route, f) in faults.iter_mut() {
        if !route_matches(route, method, path) {
            continue;
        }
        let answered = plan.status.is_some()
            || plan.html.is_some()
            || plan.echo.is_some()
            || plan.redirect.is_some();
        match f {
            Fault::Delay(d) => plan.delay = Some(*d),
            Fault::Barrier {
                n,
                arrived,
                timeout,
            } => {
                *arrived += 1;
                plan.barrier = Some((route.clone(), *n, *timeout));
            }
            Fault::Status { status, times } if *times > 0 && !answered => {
                *times -= 1;
                plan.status = Some(*status);
            }
            Fault::Html { status, times } if *times > 0 && !answered => {
                *times -= 1;
                plan.html = Some(*status);
            }
            Fault::EchoAuth { status, times } if *times > 0 && !answered => {
                *times -= 1;
                plan.echo = Some(*status);
            }
            Fault::Redirect {
                status,
                location,
                times,
            } if *times > 0 && !answered => {
                *times -= 1;
                plan.redirect = Some((*status, location.clone()));
            }
            _ => {}
        }
    }
    // A request answered by an injected fault never reached the server's
    // logic, so it does not use up a fault that acts after processing.
    let answered = plan.status.is_some()
        || plan.html.is_some()
        || plan.echo.is_some()
        || plan.redirect.is_some();
    if !answered {
        for (route, f) in faults.iter_mut() {
            if !route_matches(route, method, path) {
                continue;
            }
            match f {
                Fault::Drop { times } if *times > 0 && !plan.drop => {
                    *times -= 1;
                    plan.drop = true;
                }
                Fault::DelayAfter { delay, times } if *times > 0 && plan.delay_after.is_none() => {
                    *times -= 1;
                    plan.delay_after = Some(*delay);
                }
                Fault::Truncate { times } if *times > 0 && !plan.truncate => {
                    *times -= 1;
                    plan.truncate = true;
                }
                _ => {}
            }
        }
    }
    plan
}

fn reply(status: u16, v: Value) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(v.to_string())))
        .unwrap()
}

fn query_param(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == name).then(|| {
            percent_encoding::percent_decode_str(&v.replace('+', " "))
                .decode_utf8_lossy()
                .into_owned()
        })
    })
}

fn error(status: u16, messages: Vec<String>) -> (u16, Value) {
    let reason = match status {
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        409 => "Conflict",
        _ => "Error",
    };
    (
        status,
        json!({"statusCode": status, "message": messages, "error": reason}),
    )
}

/// A v3 dataset 400 as the backend answers it: `message` is a JSON-encoded
/// list of class-validator errors (`property`, `constraints`).
fn v3_dataset_error(problems: Vec<String>) -> (u16, Value) {
    let errors: Vec<Value> = problems
        .iter()
        .map(|p| {
            let property = p
                .strip_prefix("property ")
                .unwrap_or(p)
                .split_whitespace()
                .next()
                .unwrap_or("");
            json!({"property": property, "children": [], "constraints": {"isValid": p}})
        })
        .collect();
    (
        400,
        json!({"status": 400, "message": Value::Array(errors).to_string()}),
    )
}

pub fn route(
    s: &mut State,
    method: &str,
    path: &str,
    parts: &[&str],
    filter: Option<&Value>,
    headers: &[(String, String)],
    body: Option<Value>,
) -> (u16, Value) {
    if path == "auth/login" && method == "POST" {
        let b = body.unwrap_or(Value::Null);
        let (u, p) = (b["username"].as_str(), b["password"].as_str());
        let ok = s
            .users
            .iter()
            .any(|(uu, pp)| Some(uu.as_str()) == u && Some(pp.as_str()) == p);
        if !ok {
            return error(401, vec!["Unauthorized".into()]);
        }
        let token = s.token.clone().unwrap_or_else(|| "login-token".into());
        return (
            201,
            json!({"access_token": token, "id": token, "userId": u}),
        );
    }
    if let Some(t) = &s.token {
        let auth = headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("authorization"))
            .map(|(_, v)| v.as_str());
        // The real backend answers 403 "Forbidden resource", not 401, to a
        // missing, wrong or expired token.
        if auth != Some(&format!("Bearer {t}")) {
            return error(403, vec!["Forbidden resource".into()]);
        }
    }
    match (method, parts) {
        (_, ["v4", rest @ ..]) => v4::route(s, method, rest, filter, headers, body),
        ("GET", ["proposals", id]) => match s.proposals.get(*id) {
            Some(p) => (200, p.clone()),
            None => error(404, vec![format!("proposal {id} not found")]),
        },
        ("GET", ["instruments"]) => (200, Value::Array(filtered(&s.instruments, filter))),
        ("GET", ["samples"]) => (200, Value::Array(filtered(&s.samples, filter))),
        ("GET", ["datasets"]) => (200, Value::Array(filtered(&s.datasets, filter))),
        ("GET", ["datasets", pid]) => match s.datasets.iter().find(|d| d["pid"] == *pid) {
            Some(d) => (200, d.clone()),
            None => error(404, vec![format!("dataset {pid} not found")]),
        },
        ("GET", ["datasets", pid, "origdatablocks"]) => {
            if !s.datasets.iter().any(|d| d["pid"] == *pid) {
                return error(404, vec![format!("dataset {pid} not found")]);
            }
            let blocks: Vec<Value> = s
                .origdatablocks
                .iter()
                .filter(|b| b["datasetId"] == *pid)
                .cloned()
                .collect();
            (200, Value::Array(blocks))
        }
        ("POST", ["datasets", "isValid"]) => {
            let problems = validate_dataset(body.as_ref());
            (
                200,
                json!({"valid": problems.is_empty(), "reason": problems}),
            )
        }
        ("POST", ["datasets"]) => {
            let problems = validate_dataset(body.as_ref());
            if !problems.is_empty() {
                return v3_dataset_error(problems);
            }
            store_dataset(s, body.unwrap())
        }
        ("POST", ["origdatablocks"]) => {
            let problems = validate_origdatablock(body.as_ref());
            if !problems.is_empty() {
                return error(400, problems);
            }
            let mut b = body.unwrap();
            let pid = b["datasetId"].as_str().unwrap().to_string();
            let Some(di) = s.datasets.iter().position(|d| d["pid"] == pid.as_str()) else {
                return error(400, vec![format!("dataset {pid} does not exist")]);
            };
            s.next_id += 1;
            let id = format!("odb-{:04}", s.next_id);
            {
                let ds = s.datasets[di].clone();
                let o = b.as_object_mut().unwrap();
                o.insert("_id".into(), json!(id));
                o.insert("ownerGroup".into(), ds["ownerGroup"].clone());
                o.insert(
                    "accessGroups".into(),
                    ds.get("accessGroups").cloned().unwrap_or(json!([])),
                );
            }
            s.origdatablocks.push(b.clone());
            let (size, n) = s
                .origdatablocks
                .iter()
                .filter(|x| x["datasetId"] == pid.as_str())
                .fold((0u64, 0u64), |(sz, n), x| {
                    (
                        sz + x["size"].as_u64().unwrap_or(0),
                        n + x["dataFileList"].as_array().map_or(0, |l| l.len() as u64),
                    )
                });
            let d = s.datasets[di].as_object_mut().unwrap();
            d.insert("size".into(), json!(size));
            d.insert("numberOfFiles".into(), json!(n));
            (201, b)
        }
        _ => error(404, vec![format!("Cannot {method} /api/v3/{path}")]),
    }
}

/// Stores a validated dataset body (a pid is made up when it has none).
fn store_dataset(s: &mut State, mut d: Value) -> (u16, Value) {
    let pid = match d.get("pid").and_then(|p| p.as_str()) {
        Some(p) => p.to_string(),
        None => {
            s.next_id += 1;
            format!("20.500.12269/test-{:04}", s.next_id)
        }
    };
    if s.datasets.iter().any(|x| x["pid"] == pid.as_str()) {
        return error(409, vec![format!("dataset {pid} exists already")]);
    }
    let now = chrono::Utc::now().to_rfc3339();
    let o = d.as_object_mut().unwrap();
    o.insert("pid".into(), json!(pid));
    o.insert("createdAt".into(), json!(now));
    o.insert("updatedAt".into(), json!(now));
    s.datasets.push(d.clone());
    (201, d)
}

/// Applies a loopback `where` filter: plain equality on (dotted) keys, and
/// `{"ilike": pattern}` case-insensitive matching with `%` wildcards.
fn filtered(items: &[Value], filter: Option<&Value>) -> Vec<Value> {
    let Some(Value::Object(wh)) = filter.and_then(|f| f.get("where")) else {
        return items.to_vec();
    };
    items
        .iter()
        .filter(|item| {
            wh.iter().all(|(k, want)| {
                let got = k.split('.').try_fold(*item, |v, p| v.get(p));
                match (got, want) {
                    (Some(Value::String(g)), Value::Object(op)) if op.contains_key("ilike") => {
                        let pat = op["ilike"].as_str().unwrap_or("").to_lowercase();
                        let g = g.to_lowercase();
                        let parts: Vec<&str> = pat.split('%').collect();
                        if parts.len() == 1 {
                            g == pat
                        } else {
                            g.starts_with(parts[0])
                                && g.ends_with(parts[parts.len() - 1])
                                && parts.iter().all(|p| g.contains(p))
                        }
                    }
                    (Some(g), w) => g == w,
                    (None, _) => false,
                }
            })
        })
        .cloned()
        .collect()
}

/// The scientific metadata `value`s of a dataset, by key.
pub fn sm_values(d: &Value) -> Map<String, Value> {
    d["scientificMetadata"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v["value"].clone()))
                .collect()
        })
        .unwrap_or_default()
}
