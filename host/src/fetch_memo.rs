//! SciCat reads for one data file's evaluation: [`ScicatReads`] (a lookup
//! that also tells why SciCat failed and which API it speaks), and a memo in
//! front of it: schemas often read several fields of the same SciCat
//! document (three `SC` variables on `proposals/<id>`), and each identical
//! GET is asked once.

use std::cell::RefCell;
use std::collections::HashMap;

use serde_json::Value;

use crate::evaluate::ScFetch;

/// A SciCat lookup as one ingestion uses it: the evaluator only GETs
/// ([`ScFetch`]); the run also needs to know whether SciCat itself failed
/// and which dataset API it speaks.
pub trait ScicatReads: ScFetch {
    /// Why SciCat itself failed a read (unreachable, 5xx, the token
    /// refused), once a request found that out: the run stops on it instead
    /// of blaming the schema for the fields it could not fill.
    fn failure(&self) -> Option<String> {
        None
    }
    /// The dataset API this server was found to speak; `None` without a
    /// server (the config's choice then decides).
    fn api_version(&self) -> Option<crate::api::ApiVersion> {
        None
    }
}

/// Answers repeated GETs of the same url from the first answer. Failures are
/// kept too: within one file a second try would only repeat the wait (the
/// client has already retried) and the same warning.
pub struct MemoFetch<'a> {
    inner: &'a dyn ScicatReads,
    answers: RefCell<HashMap<String, Result<Value, String>>>,
}

impl<'a> MemoFetch<'a> {
    pub fn new(inner: &'a dyn ScicatReads) -> Self {
        MemoFetch {
            inner,
            answers: RefCell::new(HashMap::new()),
        }
    }
}

impl ScFetch for MemoFetch<'_> {
    fn get_json(&self, url: &str) -> Result<Value, String> {
        if let Some(known) = self.answers.borrow().get(url) {
            return known.clone();
        }
        // Not borrowed across the call: the inner fetch may take long, and
        // nothing here re-enters, but a held borrow would make that a panic.
        let answer = self.inner.get_json(url);
        self.answers
            .borrow_mut()
            .insert(url.to_string(), answer.clone());
        answer
    }
}

impl ScicatReads for MemoFetch<'_> {
    fn failure(&self) -> Option<String> {
        self.inner.failure()
    }

    fn api_version(&self) -> Option<crate::api::ApiVersion> {
        self.inner.api_version()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    struct Counting(Cell<usize>);
    impl ScFetch for Counting {
        fn get_json(&self, url: &str) -> Result<Value, String> {
            self.0.set(self.0.get() + 1);
            if url.starts_with("bad") {
                Err(format!("GET {url} answered 404"))
            } else {
                Ok(Value::String(url.to_string()))
            }
        }
    }
    impl ScicatReads for Counting {}

    #[test]
    fn identical_urls_are_fetched_once_and_answer_the_same() {
        let inner = Counting(Cell::new(0));
        let memo = MemoFetch::new(&inner);
        for _ in 0..3 {
            assert_eq!(memo.get_json("proposals/1"), Ok(Value::from("proposals/1")));
        }
        assert_eq!(memo.get_json("proposals/2"), Ok(Value::from("proposals/2")));
        assert_eq!(inner.0.get(), 2);
        for _ in 0..2 {
            assert_eq!(
                memo.get_json("bad/1"),
                Err("GET bad/1 answered 404".to_string())
            );
        }
        assert_eq!(inner.0.get(), 3);
    }
}
