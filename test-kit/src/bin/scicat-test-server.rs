//! Runs the tests' in-process SciCat test server on its own, for trying the
//! ingestor by hand: `scicat-test-server [PORT]`. It knows the proposals and
//! instruments of the ESS examples, serves `/api/v3` and `/api/v4` (datasets
//! and origdatablocks), judges bodies like the real backend, and prints
//! every request (and the created datasets and datablocks) as it
//! goes. Stop it with Ctrl-C.

use scicat_test_kit::scicat_server;

fn main() {
    let port: u16 = std::env::args()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    let server = scicat_server::ScicatServer::start_on(port);
    eprintln!(
        "SciCat test server at {} (datasets and origdatablocks also under {})  (Ctrl-C to stop)",
        server.url,
        server.url.replace("/api/v3", "/api/v4")
    );
    let mut seen = 0;
    loop {
        std::thread::sleep(std::time::Duration::from_millis(200));
        let requests = server.requests_from(seen);
        for r in &requests {
            eprintln!(
                "{} /{}{}{}",
                r.method,
                r.path,
                if r.query.is_empty() { "" } else { "?" },
                r.query
            );
            if let (true, Some(b)) = (r.method == "POST", &r.body) {
                println!("{}", serde_json::to_string(b).unwrap());
            }
        }
        seen += requests.len();
    }
}
