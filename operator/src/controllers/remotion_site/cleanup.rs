//! Step 4: on deletion, `sites/<siteName>/` is removed unless the LambdaBucket (or its
//! bucket) is gone; the shell then drops the finalizer.

use std::sync::Arc;

use kube::ResourceExt;
use kube::api::Api;
use kube::runtime::controller::Action;
use remotion_crds::{LambdaBucket, Reason, RemotionSite};
use remotion_protocol::keys::{self, SiteName};

use super::source::sync_error;
use super::{SiteContext, site_name, sync};
use crate::reconcile::Error;

/// Removes the files of a deleted site.
pub async fn cleanup(site: Arc<RemotionSite>, ctx: &SiteContext) -> Result<Action, Error> {
    let namespace = site.namespace().unwrap_or_default();
    let recorded = site.status.as_ref().and_then(|s| s.site_name.clone());
    let name = match recorded.map(SiteName::new) {
        Some(Ok(name)) => Some(name),
        _ => site_name(&site).ok(),
    };
    let bucket_ref = &site.spec.bucket_ref.name;
    let bucket = Api::<LambdaBucket>::namespaced(ctx.ctx.client.clone(), &namespace).get_opt(bucket_ref).await?;
    let bucket_name = bucket.as_ref().and_then(|b| b.status.as_ref()).and_then(|s| s.bucket_name.clone());
    match (bucket, bucket_name, name) {
        (Some(bucket), Some(bucket_name), Some(name)) => {
            let clients = ctx.ctx.aws.clients(&namespace, &bucket.spec.aws).await?;
            let prefix = keys::site_prefix(&name);
            match sync::delete_prefix(&clients.s3, &bucket_name, &prefix, &ctx.settings.sync).await {
                Ok(deleted) => {
                    let note = format!("Deleted {deleted} objects under s3://{bucket_name}/{prefix}");
                    ctx.ctx.events.normal(&*site, Reason::Deleted, "DeleteSite", note).await;
                }
                Err(e) if e.is_missing_bucket() => {
                    tracing::info!(bucket = %bucket_name, "the bucket is gone: nothing to delete");
                }
                Err(e) => return Err(sync_error(e)),
            }
        }
        // The LambdaBucket (or its bucket) is gone, or no site was ever named: nothing to remove.
        _ => tracing::info!(site = %site.name_any(), "no bucket to clean up"),
    }
    ctx.forget(&site.uid().unwrap_or_default());
    Ok(Action::await_change())
}
