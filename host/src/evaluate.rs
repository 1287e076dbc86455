//! The schema evaluator lives in the `scicat-evaluator` crate
//! (`scicat_evaluator::evaluate`); this module keeps the
//! `crate::evaluate::*` paths the rest of the host uses, and adds what the
//! host's SciCat reads offer beyond a lookup ([`ScicatReads`]).

pub use crate::fetch_memo::ScicatReads;
pub use scicat_evaluator::evaluate::*;
