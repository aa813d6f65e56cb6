//! Status writes by server-side apply, without churn.
//!
//! A controller builds the whole status it owns and calls [`apply_status`]. The write is
//! skipped when the live object already carries every field of that status with the same
//! value (conditions compared without `lastTransitionTime`) and holds no field this field
//! manager owns that the new status drops. Fields of other managers are left alone.

use std::fmt::Debug;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ManagedFieldsEntry;
use kube::api::{Api, Patch, PatchParams};
use kube::{Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

/// Applies `desired` as the status of `live` with `field_manager`, unless the live status says
/// the same already. Returns the updated object when a write happened.
pub async fn apply_status<K, S>(
    api: &Api<K>,
    live: &K,
    field_manager: &str,
    desired: &S,
) -> Result<Option<K>, kube::Error>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Serialize + Debug,
    S: Serialize,
{
    apply_status_when(api, live, field_manager, desired, Precondition::None).await
}

/// Whether a status write holds only if nothing changed the object since it was read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Precondition {
    /// Written whatever changed meanwhile.
    None,
    /// Refused (409 Conflict) when the object is no longer at the read resourceVersion: for a
    /// status decided from what was read, which must not overwrite what another writer
    /// recorded since (a job's launch, say).
    Unchanged,
}

/// [`apply_status`], under `precondition`.
pub async fn apply_status_when<K, S>(
    api: &Api<K>,
    live: &K,
    field_manager: &str,
    desired: &S,
    precondition: Precondition,
) -> Result<Option<K>, kube::Error>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Serialize + Debug,
    S: Serialize,
{
    let desired = serde_json::to_value(desired).map_err(kube::Error::SerdeError)?;
    let live_json = serde_json::to_value(live).map_err(kube::Error::SerdeError)?;
    let owned = owned_status_fields(live.meta().managed_fields.as_deref().unwrap_or_default(), field_manager);
    if !needs_write(&desired, live_json.get("status"), owned.as_ref()) {
        return Ok(None);
    }
    let mut patch = json!({
        "apiVersion": K::api_version(&()),
        "kind": K::kind(&()),
        "status": desired,
    });
    if precondition == Precondition::Unchanged {
        patch["metadata"] = json!({"resourceVersion": live.resource_version()});
    }
    let params = PatchParams::apply(field_manager).force();
    api.patch_status(&live.name_any(), &params, &Patch::Apply(&patch)).await.map(Some)
}

/// Applies `desired` as the status of `live` only if the object is still at `live`'s
/// resourceVersion (the API server answers 409 Conflict otherwise): for a write that must not
/// happen twice, like recording a launch, where another writer (a previous leader finishing
/// its reconcile) may have changed the object since it was read.
pub async fn apply_status_unchanged<K, S>(
    api: &Api<K>,
    live: &K,
    field_manager: &str,
    desired: &S,
) -> Result<K, kube::Error>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Serialize + Debug,
    S: Serialize,
{
    let patch = json!({
        "apiVersion": K::api_version(&()),
        "kind": K::kind(&()),
        "metadata": {"resourceVersion": live.resource_version()},
        "status": desired,
    });
    let params = PatchParams::apply(field_manager).force();
    api.patch_status(&live.name_any(), &params, &Patch::Apply(&patch)).await
}

/// The `f:status` node of the fields `field_manager` owns through the status subresource.
pub fn owned_status_fields(entries: &[ManagedFieldsEntry], field_manager: &str) -> Option<Value> {
    entries
        .iter()
        .filter(|e| e.manager.as_deref() == Some(field_manager) && e.subresource.as_deref() == Some("status"))
        .find_map(|e| e.fields_v1.as_ref().and_then(|f| f.0.get("f:status").cloned()))
}

/// Empties what [`needs_write`] never reads of `entry`'s fields: the fields inside each
/// condition (it compares conditions by their `type` key only). A cache holding thousands of
/// objects keeps their owned-fields trees; each condition's node is a map of its own.
pub fn shrink_owned_fields(entry: &mut ManagedFieldsEntry) {
    let conditions = entry
        .fields_v1
        .as_mut()
        .and_then(|f| f.0.get_mut("f:status"))
        .and_then(|s| s.get_mut("f:conditions"))
        .and_then(Value::as_object_mut);
    for (key, fields) in conditions.into_iter().flatten() {
        if key.starts_with("k:") {
            *fields = Value::Object(Map::new());
        }
    }
}

/// Whether applying `desired` would change anything but condition timestamps.
///
/// `live` is the live status; `owned` the `f:status` node of this manager's managed fields.
pub fn needs_write(desired: &Value, live: Option<&Value>, owned: Option<&Value>) -> bool {
    match desired {
        Value::Object(fields) => object_differs(fields, live, owned),
        other => live != Some(other),
    }
}

fn object_differs(desired: &Map<String, Value>, live: Option<&Value>, owned: Option<&Value>) -> bool {
    let Some(live) = live.and_then(Value::as_object) else {
        return desired.values().any(|v| !v.is_null());
    };
    let changed = desired.iter().filter(|(_, v)| !v.is_null()).any(|(key, value)| {
        let owned_child = owned.and_then(|o| o.get(format!("f:{key}")));
        match value {
            Value::Array(conditions) if key == "conditions" => {
                conditions_differ(conditions, live.get(key), owned_child)
            }
            Value::Object(fields) => object_differs(fields, live.get(key), owned_child),
            scalar_or_list => live.get(key) != Some(scalar_or_list),
        }
    });
    changed || drops_owned_field(desired, live, owned)
}

/// Whether the apply would remove a field this manager set before (SSA drops owned fields
/// that the applied object leaves out).
fn drops_owned_field(desired: &Map<String, Value>, live: &Map<String, Value>, owned: Option<&Value>) -> bool {
    let Some(owned) = owned.and_then(Value::as_object) else {
        return false;
    };
    owned.keys().filter_map(|k| k.strip_prefix("f:")).any(|key| {
        let present_live = live.get(key).is_some_and(|v| !v.is_null());
        let present_desired = desired.get(key).is_some_and(|v| !v.is_null());
        present_live && !present_desired
    })
}

fn conditions_differ(desired: &[Value], live: Option<&Value>, owned: Option<&Value>) -> bool {
    let live: &[Value] = live.and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
    let type_of = |c: &Value| c.get("type").and_then(Value::as_str).map(str::to_owned);
    let changed = desired.iter().any(|want| {
        let Some(type_) = type_of(want) else { return true };
        let Some(have) = live.iter().find(|c| type_of(c).as_deref() == Some(type_.as_str())) else {
            return true;
        };
        want.as_object()
            .into_iter()
            .flatten()
            .any(|(key, value)| key != "lastTransitionTime" && !value.is_null() && have.get(key) != Some(value))
    });
    // A condition this manager owned that the new status leaves out would be removed.
    let dropped = owned.and_then(Value::as_object).into_iter().flatten().any(|(key, _)| {
        let Some(type_) = key
            .strip_prefix("k:")
            .and_then(|k| serde_json::from_str::<Value>(k).ok())
            .and_then(|k| k.get("type").and_then(Value::as_str).map(str::to_owned))
        else {
            return false;
        };
        let live_has = live.iter().any(|c| type_of(c).as_deref() == Some(type_.as_str()));
        let desired_has = desired.iter().any(|c| type_of(c).as_deref() == Some(type_.as_str()));
        live_has && !desired_has
    });
    changed || dropped
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ready(status: &str, time: &str) -> Value {
        json!({"type": "Ready", "status": status, "reason": "R", "message": "m", "observedGeneration": 1, "lastTransitionTime": time})
    }

    #[test]
    fn only_timestamps_changed_means_no_write() {
        let live = json!({"bucketName": "b", "conditions": [ready("True", "2026-01-01T00:00:00Z")], "other": 1});
        let desired = json!({"bucketName": "b", "conditions": [ready("True", "2026-02-02T00:00:00Z")]});
        assert!(!needs_write(&desired, Some(&live), None));
    }

    #[test]
    fn changed_values_and_new_conditions_mean_a_write() {
        let live = json!({"bucketName": "b", "conditions": [ready("True", "2026-01-01T00:00:00Z")]});
        assert!(needs_write(&json!({"bucketName": "c"}), Some(&live), None));
        assert!(needs_write(&json!({"conditions": [ready("False", "2026-01-01T00:00:00Z")]}), Some(&live), None));
        let progressing = json!({"type": "Progressing", "status": "True", "reason": "R", "message": "m"});
        assert!(needs_write(&json!({"conditions": [progressing]}), Some(&live), None));
        assert!(needs_write(&json!({"progress": {"percent": 3}}), Some(&json!({"progress": {"percent": 2}})), None));
        assert!(needs_write(&json!({"bucketName": "b"}), None, None));
    }

    #[test]
    fn other_managers_fields_are_ignored_but_own_dropped_fields_are_not() {
        let live = json!({"bucketName": "b", "url": "u", "conditions": [ready("True", "t"), {"type": "Extra", "status": "True"}]});
        let desired = json!({"bucketName": "b", "conditions": [ready("True", "t")]});
        // `url` and the `Extra` condition belong to someone else.
        let owned = json!({"f:bucketName": {}, "f:conditions": {"k:{\"type\":\"Ready\"}": {}}});
        assert!(!needs_write(&desired, Some(&live), Some(&owned)));
        // We set `url` before and leave it out now: SSA would remove it, so write.
        let owned_url = json!({"f:bucketName": {}, "f:url": {}, "f:conditions": {"k:{\"type\":\"Ready\"}": {}}});
        assert!(needs_write(&desired, Some(&live), Some(&owned_url)));
        // We owned the Extra condition and drop it now.
        let owned_extra = json!({"f:conditions": {"k:{\"type\":\"Ready\"}": {}, "k:{\"type\":\"Extra\"}": {}}});
        assert!(needs_write(&desired, Some(&live), Some(&owned_extra)));
    }

    #[test]
    fn shrunk_owned_fields_give_the_same_answers() {
        use k8s_openapi::apimachinery::pkg::apis::meta::v1::FieldsV1;
        let condition = |t: &str| {
            (
                format!("k:{{\"type\":\"{t}\"}}"),
                json!({".": {}, "f:lastTransitionTime": {}, "f:message": {}, "f:reason": {}, "f:status": {}, "f:type": {}}),
            )
        };
        let (ready_key, ready_fields) = condition("Ready");
        let (extra_key, extra_fields) = condition("Extra");
        let tree = json!({"f:status": {"f:bucketName": {}, "f:url": {}, "f:progress": {"f:percent": {}},
                         "f:conditions": {".": {}, ready_key.clone(): ready_fields, extra_key.clone(): extra_fields}}});
        let mut entry = ManagedFieldsEntry {
            manager: Some("m".into()),
            subresource: Some("status".into()),
            fields_v1: Some(FieldsV1(tree.clone())),
            ..Default::default()
        };
        shrink_owned_fields(&mut entry);
        let shrunk = entry.fields_v1.as_ref().unwrap().0.clone();
        assert_eq!(shrunk["f:status"]["f:conditions"][&ready_key], json!({}));
        assert_eq!(shrunk["f:status"]["f:progress"], json!({"f:percent": {}}), "only conditions' insides go");
        let live = json!({"bucketName": "b", "url": "u", "progress": {"percent": 2},
                          "conditions": [ready("True", "t"), {"type": "Extra", "status": "True"}]});
        for desired in [
            json!({"bucketName": "b", "url": "u", "progress": {"percent": 2}, "conditions": [ready("True", "t"), {"type": "Extra", "status": "True"}]}),
            json!({"bucketName": "b", "url": "u", "progress": {"percent": 2}, "conditions": [ready("True", "t")]}),
            json!({"bucketName": "b", "progress": {"percent": 2}, "conditions": [ready("True", "t"), {"type": "Extra", "status": "True"}]}),
            json!({"bucketName": "b", "url": "u", "progress": {"percent": 3}, "conditions": [ready("False", "t"), {"type": "Extra", "status": "True"}]}),
        ] {
            assert_eq!(
                needs_write(&desired, Some(&live), tree.get("f:status")),
                needs_write(&desired, Some(&live), shrunk.get("f:status")),
                "{desired}"
            );
        }
    }
}
