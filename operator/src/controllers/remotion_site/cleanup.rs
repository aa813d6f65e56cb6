//! Step 4: on deletion, `sites/<namespace>/<siteName>/` is removed unless the LambdaBucket (or
//! its bucket) is gone, or the folder is not the site's ([`owner`]: then a Warning Event says
//! whose it is, and nothing is deleted); the shell then drops the finalizer.

use std::sync::Arc;

use kube::ResourceExt;
use kube::api::Api;
use kube::runtime::controller::Action;
use remotion_crds::{LambdaBucket, Reason, RemotionSite};
use remotion_protocol::keys::{self, SiteFolder, SiteName};

use super::owner::{self, Owner, Standing};
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
    let folder = name.and_then(|name| SiteFolder::new(namespace.clone(), name).ok());
    let bucket_ref = &site.spec.bucket_ref.name;
    let bucket = Api::<LambdaBucket>::namespaced(ctx.ctx.client.clone(), &namespace).get_opt(bucket_ref).await?;
    let bucket_name = bucket.as_ref().and_then(|b| b.status.as_ref()).and_then(|s| s.bucket_name.clone());
    match (bucket, bucket_name, folder) {
        (Some(bucket), Some(bucket_name), Some(folder)) => {
            let clients = ctx.ctx.aws.clients_for_cleanup(&namespace, &bucket.spec.aws).await?;
            let s3 = &clients.s3;
            let ours = Owner::of(&site, &ctx.ctx.aws.policy().cluster_id);
            let prefix = keys::site_prefix(&folder);
            match owner::inspect(s3, &bucket_name, &folder, &ours, &ctx.settings.sync).await {
                Ok(Standing::Ours) => {
                    let deleted =
                        sync::delete_folder(s3, &bucket_name, &folder, &ctx.settings.sync).await.map_err(sync_error)?;
                    let note = format!("Deleted {deleted} objects under s3://{bucket_name}/{prefix}");
                    ctx.ctx.events.normal(&*site, Reason::Deleted, "DeleteSite", note).await;
                }
                Ok(standing) => match owner::refusal(&bucket_name, &folder, standing) {
                    // Never synced: nothing of the site's to delete.
                    None => tracing::info!(bucket = %bucket_name, %prefix, "the site's folder is empty"),
                    // Not the site's folder: its owner's files stay, and so does nothing block
                    // the deletion of this resource.
                    Some(refusal) => {
                        let reason = refusal.reason();
                        ctx.ctx.events.warning(&*site, reason, "DeleteSite", refusal.to_string()).await;
                    }
                },
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
