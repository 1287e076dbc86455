//! The `/api/v4` routes of the SciCat test server: datasets (by pid, by
//! filter, create, `isValid`) and origdatablocks (by filter, create), with
//! the v4 dataset body judged as the backend does ([`super::rules`]:
//! whitelist + forbid, so v3 names such as `proposalId` are a 400). Proposals,
//! instruments, samples and auth have no v4 routes here either. The catalog
//! is the one the v3 routes see (the real backend has one database too).

use serde_json::Value;

pub use super::rules::validate_dataset_v4;
use super::{State, error, filtered, route as v3_route, store_dataset};

/// Answers a request below `/api/v4/` (`parts` without the prefix).
pub fn route(
    s: &mut State,
    method: &str,
    parts: &[&str],
    filter: Option<&Value>,
    headers: &[(String, String)],
    body: Option<Value>,
) -> (u16, Value) {
    // What v4 shares with v3 is answered by the same code.
    let same = |s: &mut State, body: Option<Value>| {
        v3_route(s, method, &parts.join("/"), parts, filter, headers, body)
    };
    match (method, parts) {
        ("GET", ["datasets"]) | ("GET", ["datasets", _]) => same(s, body),
        ("GET", ["origdatablocks"]) => (200, Value::Array(filtered(&s.origdatablocks, filter))),
        ("POST", ["datasets", "isValid"]) => (
            200,
            serde_json::json!({"valid": validate_dataset_v4(body.as_ref()).is_empty()}),
        ),
        ("POST", ["datasets"]) => {
            let problems = validate_dataset_v4(body.as_ref());
            if !problems.is_empty() {
                return error(400, problems);
            }
            store_dataset(s, body.unwrap())
        }
        ("POST", ["origdatablocks"]) => {
            if s.no_dataset_update_rights {
                return error(403, vec!["Unauthorized access".into()]);
            }
            same(s, body)
        }
        _ => error(
            404,
            vec![format!("Cannot {method} /api/v4/{}", parts.join("/"))],
        ),
    }
}
