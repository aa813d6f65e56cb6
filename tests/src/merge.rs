//! JSON Merge Patch (RFC 7386), to derive test variants from samples the way
//! `kubectl patch --type merge` would.

use serde_json::Value;

/// Applies `patch` to `target` in place: objects merge recursively, `null` removes a field,
/// anything else replaces.
pub fn merge(target: &mut Value, patch: &Value) {
    let Value::Object(patch_map) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Default::default());
    }
    let target_map = target.as_object_mut().expect("made an object above");
    for (key, value) in patch_map {
        if value.is_null() {
            target_map.remove(key);
        } else {
            merge(target_map.entry(key.clone()).or_insert(Value::Null), value);
        }
    }
}

/// `target` with `patch` applied.
pub fn merged(target: &Value, patch: &Value) -> Value {
    let mut out = target.clone();
    merge(&mut out, patch);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn follows_rfc_7386() {
        let doc = json!({"a": "b", "c": {"d": "e", "f": "g"}});
        let patch = json!({"a": "z", "c": {"f": null}});
        assert_eq!(merged(&doc, &patch), json!({"a": "z", "c": {"d": "e"}}));
        assert_eq!(merged(&json!({"a": [1]}), &json!({"a": [2, 3]})), json!({"a": [2, 3]}));
        assert_eq!(merged(&json!({"a": 1}), &json!({"b": {"c": 1}})), json!({"a": 1, "b": {"c": 1}}));
    }
}
