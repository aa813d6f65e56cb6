//! Step 4: on deletion, the bucket is removed (`deletionPolicy: Delete`) or kept (`Retain`);
//! the shell then drops the finalizer.

use std::sync::Arc;

use kube::ResourceExt;
use kube::runtime::controller::Action;
use remotion_crds::lambda_bucket::DeletionPolicy;
use remotion_crds::{LambdaBucket, Reason};

use super::s3::empty_and_delete;
use crate::controllers::Context;
use crate::reconcile::Error;

/// Removes or keeps the bucket of a deleted LambdaBucket.
pub async fn cleanup(bucket: Arc<LambdaBucket>, ctx: &Context) -> Result<Action, Error> {
    let name = bucket.status.as_ref().and_then(|s| s.bucket_name.clone()).or_else(|| bucket.spec.bucket_name.clone());
    match (bucket.spec.deletion_policy, name) {
        (DeletionPolicy::Delete, Some(name)) => {
            let clients = ctx.aws.clients(&bucket.namespace().unwrap_or_default(), &bucket.spec.aws).await?;
            let objects = empty_and_delete(&clients.s3, &name).await?;
            let note = format!("Deleted bucket {name} and its {objects} objects");
            ctx.events.normal(&*bucket, Reason::Deleted, "DeleteBucket", note).await;
        }
        (DeletionPolicy::Retain, Some(name)) => {
            let note = format!("Kept bucket {name} (deletionPolicy: Retain)");
            ctx.events.normal(&*bucket, Reason::Retained, "RetainBucket", note).await;
        }
        // No bucket was ever chosen: nothing to keep or remove.
        (_, None) => {}
    }
    Ok(Action::await_change())
}
