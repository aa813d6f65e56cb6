//! The operator's finalizer, added and removed by JSON patch with a `test` of the list we saw,
//! so a concurrent change of the finalizers (another controller's) fails the patch instead of
//! being overwritten.

use std::fmt::Debug;

use kube::api::{Api, Patch, PatchParams};
use kube::{Resource, ResourceExt};
use serde::de::DeserializeOwned;
use serde_json::json;

/// The finalizer guarding cleanup of external (AWS) state.
pub const FINALIZER: &str = "remotion-operator.io/cleanup";

/// Whether `object` carries the operator's finalizer.
pub fn has_finalizer<K: Resource>(object: &K) -> bool {
    object.finalizers().iter().any(|f| f == FINALIZER)
}

/// Whether `object` is being deleted.
pub fn is_deleting<K: Resource>(object: &K) -> bool {
    object.meta().deletion_timestamp.is_some()
}

/// Adds the finalizer (no call when present). Returns the object as the server has it now.
pub async fn add_finalizer<K>(api: &Api<K>, object: &K) -> Result<K, kube::Error>
where
    K: Resource + Clone + DeserializeOwned + Debug,
{
    if has_finalizer(object) {
        return Ok(object.clone());
    }
    let operations = if object.meta().finalizers.is_none() {
        json!([
            {"op": "test", "path": "/metadata/uid", "value": object.meta().uid},
            {"op": "add", "path": "/metadata/finalizers", "value": [FINALIZER]},
        ])
    } else {
        json!([
            {"op": "test", "path": "/metadata/finalizers", "value": object.finalizers()},
            {"op": "add", "path": "/metadata/finalizers/-", "value": FINALIZER},
        ])
    };
    api.patch(&object.name_any(), &PatchParams::default(), &Patch::Json::<()>(to_patch(operations))).await
}

/// Removes the finalizer (no call when absent).
pub async fn remove_finalizer<K>(api: &Api<K>, object: &K) -> Result<(), kube::Error>
where
    K: Resource + Clone + DeserializeOwned + Debug,
{
    let Some(index) = object.finalizers().iter().position(|f| f == FINALIZER) else {
        return Ok(());
    };
    let operations = json!([
        {"op": "test", "path": "/metadata/finalizers", "value": object.finalizers()},
        {"op": "remove", "path": format!("/metadata/finalizers/{index}")},
    ]);
    match api.patch(&object.name_any(), &PatchParams::default(), &Patch::Json::<()>(to_patch(operations))).await {
        Ok(_) => Ok(()),
        // Already gone: removing our finalizer was the last thing keeping it.
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(()),
        Err(e) => Err(e),
    }
}

fn to_patch(operations: serde_json::Value) -> json_patch::Patch {
    serde_json::from_value(operations).expect("static JSON patch operations are well-formed")
}
