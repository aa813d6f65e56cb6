//! Page-side promises awaited in slices. chromiumoxide fails a DevTools command that takes
//! more than 30 s, so a page wait that may last longer (a delayRender timeout above 30 s, or a
//! short wait in a Chromium starved of CPU) cannot be one `Runtime.evaluate`. The page keeps the
//! promise under a key instead, and each command awaits it for at most a slice: the first
//! command starts it, the next ones resume it, until it settles.

use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

/// Longest one DevTools command awaits a page-side promise: well inside chromiumoxide's fixed
/// 30 s limit per command, even when a starved Chromium answers late.
pub(super) const AWAIT_SLICE: Duration = Duration::from_secs(10);

/// What one slice answered: `done` with the value, or not yet.
#[derive(Debug, Deserialize)]
pub(super) struct Slice {
    pub done: bool,
    #[serde(default)]
    pub value: Value,
}

/// Races the promise kept under `key` against a timer of `ms`: `{done: true, value}` when it
/// settles in time (and forgets it), `{done: false}` otherwise. A rejection is thrown, so the
/// evaluation reports it as an exception. Every derived promise has a handler, so a rejection
/// after a slice ended is never an uncaught page error.
const AWAIT: &str = "(key, ms) => { const pending = window.__remotionOperatorPending; let timer; \
    const finish = () => { clearTimeout(timer); pending.delete(key); }; \
    return Promise.race([pending.get(key).then((value) => { finish(); return { done: true, value }; }, \
    (error) => { finish(); throw error; }), \
    new Promise((resolve) => { timer = setTimeout(() => resolve({ done: false }), ms); })]); }";

/// The first slice: evaluates `expression` at once (a synchronous throw becomes a rejection),
/// keeps its promise under `key` and awaits it for a slice.
pub(super) fn start(expression: &str, key: u64) -> String {
    format!(
        "(() => {{ const pending = (window.__remotionOperatorPending ??= new Map()); let settled; \
         try {{ settled = Promise.resolve(({expression})); }} catch (error) {{ settled = Promise.reject(error); }} \
         pending.set({key}, settled); return ({AWAIT})({key}, {ms}); }})()",
        ms = AWAIT_SLICE.as_millis()
    )
}

/// A further slice of the promise kept under `key`.
pub(super) fn resume(key: u64) -> String {
    format!("({AWAIT})({key}, {ms})", ms = AWAIT_SLICE.as_millis())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_start_evaluates_the_expression_once_and_a_resume_only_awaits() {
        let first = start("window.remotion_setFrame(3)", 7);
        assert_eq!(first.matches("window.remotion_setFrame(3)").count(), 1);
        assert!(first.contains("pending.set(7, settled)"));
        let next = resume(7);
        assert!(!next.contains("remotion_setFrame"));
        assert!(next.ends_with("(7, 10000)"));
    }

    #[test]
    fn a_slice_without_a_value_is_a_null_value() {
        let slice: Slice = serde_json::from_str(r#"{"done": true}"#).unwrap();
        assert!(slice.done && slice.value.is_null());
        let pending: Slice = serde_json::from_str(r#"{"done": false}"#).unwrap();
        assert!(!pending.done);
    }
}
