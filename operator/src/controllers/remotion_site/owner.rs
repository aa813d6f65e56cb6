//! Who owns a site's folder: the marker `sites/<namespace>/<siteName>/.remotion-operator-owner.json`
//! ([`keys::site_owner`]), naming the cluster, namespace, name and UID of the RemotionSite that
//! claimed the folder.
//!
//! The namespaced layout keeps namespaces apart; the marker keeps apart what shares a
//! namespace's folder all the same: two RemotionSites of one namespace naming the same
//! `siteName`, and two clusters (each with its own namespaces of the same names) sharing a
//! bucket. A site claims its folder before its first upload, with a conditional create
//! (`If-None-Match: *`), so of two claiming at once exactly one wins. Before every sync and
//! before its cleanup, a site reads the marker: a folder another resource owns, or one with
//! files and no marker (written by other means), is neither written nor deleted.

use aws_sdk_s3::primitives::ByteStream;
use kube::ResourceExt;
use remotion_crds::{Reason, RemotionSite};
use remotion_protocol::keys::{self, SiteFolder};
use serde::{Deserialize, Serialize};

use super::sync::{SyncError, SyncOptions, sdk_message, sync_error, timed};
use crate::reconcile::Error;
use crate::tenancy::{ClusterId, foreign};

/// The largest marker read (a marker is a few hundred bytes; anything larger is not one).
const MARKER_LIMIT_BYTES: i64 = 4096;

/// The content of a folder's marker: the RemotionSite that owns it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Owner {
    /// The cluster's `clusterId` (the admin's tenancy policy).
    pub cluster_id: String,
    /// The RemotionSite's namespace.
    pub namespace: String,
    /// The RemotionSite's name.
    pub name: String,
    /// The RemotionSite's UID: a site deleted and created again under the same name is another
    /// owner, whose predecessor's cleanup removed the folder (marker included).
    pub uid: String,
}

impl Owner {
    /// `site` of the cluster `cluster`.
    pub fn of(site: &RemotionSite, cluster: &ClusterId) -> Self {
        Self {
            cluster_id: cluster.as_str().to_owned(),
            namespace: site.namespace().unwrap_or_default(),
            name: site.name_any(),
            uid: site.uid().unwrap_or_default(),
        }
    }

    /// Whether the marker `self` names the same resource as `other`.
    fn is(&self, other: &Owner) -> bool {
        self.cluster_id == other.cluster_id && self.uid == other.uid
    }
}

impl std::fmt::Display for Owner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The marker is a file in a shared bucket: anyone with write access there wrote it.
        let field = |text: &str| foreign::one_line(text, 100);
        let (namespace, name) = (field(&self.namespace), field(&self.name));
        write!(f, "RemotionSite {namespace}/{name} (uid {}) of cluster {}", field(&self.uid), field(&self.cluster_id))
    }
}

/// What a folder's marker and content say about a site's right to it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Standing {
    /// The marker names the site.
    Ours,
    /// No marker and nothing else: the folder is free.
    Free,
    /// Another resource owns the folder.
    Another(Owner),
    /// No marker, but files: written by other means (another tool, or by hand).
    Unmarked,
    /// A marker the operator cannot read: not one of its own.
    Unreadable(String),
}

/// Decides from the marker as read (`None`: absent) and whether the folder holds anything else.
pub fn standing(ours: &Owner, marker: Option<Result<Owner, String>>, has_files: bool) -> Standing {
    match marker {
        Some(Ok(owner)) if owner.is(ours) => Standing::Ours,
        Some(Ok(owner)) => Standing::Another(owner),
        Some(Err(why)) => Standing::Unreadable(why),
        None if has_files => Standing::Unmarked,
        None => Standing::Free,
    }
}

/// A folder the site may not write or delete, or an S3 failure finding out.
#[derive(Debug, thiserror::Error)]
pub enum OwnerError {
    /// Another resource's marker.
    #[error("s3://{bucket}/{prefix} belongs to {owner}; nothing was written or deleted: choose another spec.siteName")]
    Another {
        /// Bucket.
        bucket: String,
        /// The folder.
        prefix: String,
        /// Its owner.
        owner: Owner,
    },
    /// Files without a marker, or a marker not of this operator.
    #[error(
        "s3://{bucket}/{prefix} holds files the operator did not write ({why}); nothing was written or deleted: \
         choose another spec.siteName, or empty the folder"
    )]
    Foreign {
        /// Bucket.
        bucket: String,
        /// The folder.
        prefix: String,
        /// What was found.
        why: String,
    },
    /// Reading or writing the marker failed.
    #[error(transparent)]
    S3(#[from] SyncError),
}

impl OwnerError {
    /// The condition reason: `OwnedByAnother` (terminal) for a folder of another, else the
    /// sync's (retried).
    pub fn reason(&self) -> Reason {
        match self {
            Self::Another { .. } | Self::Foreign { .. } => Reason::OwnedByAnother,
            Self::S3(e) => e.reason(),
        }
    }

    /// As a reconcile error.
    pub fn into_error(self) -> Error {
        Error::caused_by(self.reason(), self.to_string(), self)
    }
}

/// Makes sure `ours` owns `folder` of `bucket`, claiming it when it is free.
pub async fn claim(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    folder: &SiteFolder,
    ours: &Owner,
    options: &SyncOptions,
) -> Result<(), OwnerError> {
    let mut found = inspect(client, bucket, folder, ours, options).await?;
    if found == Standing::Free && !create(client, bucket, folder, ours, options).await? {
        // Another site claimed it a moment ago (or the store took an earlier try of ours,
        // whose answer was lost): the marker now says whose it is.
        found = standing(ours, read(client, bucket, folder, options).await?, true);
    }
    refusal(bucket, folder, found).map_or(Ok(()), Err)
}

/// What `folder` of `bucket` is to `ours` (one or two requests).
pub async fn inspect(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    folder: &SiteFolder,
    ours: &Owner,
    options: &SyncOptions,
) -> Result<Standing, SyncError> {
    let marker = read(client, bucket, folder, options).await?;
    let has_files = match marker {
        Some(_) => true,
        None => any_object(client, bucket, &keys::site_prefix(folder), options).await?,
    };
    Ok(standing(ours, marker, has_files))
}

/// The error for a folder the site may not use; `None` when it may.
pub fn refusal(bucket: &str, folder: &SiteFolder, standing: Standing) -> Option<OwnerError> {
    let (bucket, prefix) = (bucket.to_owned(), keys::site_prefix(folder));
    match standing {
        Standing::Ours | Standing::Free => None,
        Standing::Another(owner) => Some(OwnerError::Another { bucket, prefix, owner }),
        Standing::Unmarked => Some(OwnerError::Foreign { bucket, prefix, why: "no owner marker".into() }),
        Standing::Unreadable(why) => {
            Some(OwnerError::Foreign { bucket, prefix, why: format!("an owner marker {why}") })
        }
    }
}

/// The marker: `None` when absent, `Err` (the reason) when it is not one the operator wrote.
async fn read(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    folder: &SiteFolder,
    options: &SyncOptions,
) -> Result<Option<Result<Owner, String>>, SyncError> {
    let key = keys::site_owner(folder);
    let error = sync_error("reading the owner marker", bucket, &key);
    let object =
        match tokio::time::timeout(options.call_timeout, client.get_object().bucket(bucket).key(&key).send()).await {
            Ok(Ok(object)) => object,
            Ok(Err(e)) if e.as_service_error().is_some_and(|e| e.is_no_such_key()) => return Ok(None),
            Ok(Err(e)) => return Err(error(sdk_message(e))),
            Err(_) => return Err(error(format!("timed out after {} s", options.call_timeout.as_secs()))),
        };
    if object.content_length().unwrap_or_default() > MARKER_LIMIT_BYTES {
        return Ok(Some(Err(format!("larger than {MARKER_LIMIT_BYTES} bytes"))));
    }
    let body = tokio::time::timeout(options.call_timeout, object.body.collect())
        .await
        .map_err(|_| error("timed out".into()))?
        .map_err(|e| error(e.to_string()))?
        .into_bytes();
    Ok(Some(serde_json::from_slice(&body).map_err(|e| format!("that is not valid ({e})"))))
}

/// Creates the marker unless one exists: `false` when one did (`412`), or a write of one was
/// under way (`409`).
async fn create(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    folder: &SiteFolder,
    ours: &Owner,
    options: &SyncOptions,
) -> Result<bool, SyncError> {
    let key = keys::site_owner(folder);
    let error = sync_error("creating the owner marker", bucket, &key);
    let body = serde_json::to_vec(ours).map_err(|e| error(e.to_string()))?;
    let put = client
        .put_object()
        .bucket(bucket)
        .key(&key)
        .content_type("application/json")
        .if_none_match("*")
        .body(ByteStream::from(body))
        .send();
    match tokio::time::timeout(options.call_timeout, put).await {
        Ok(Ok(_)) => Ok(true),
        Ok(Err(e)) if e.raw_response().is_some_and(|r| matches!(r.status().as_u16(), 409 | 412)) => Ok(false),
        Ok(Err(e)) => Err(error(sdk_message(e))),
        Err(_) => Err(error(format!("timed out after {} s", options.call_timeout.as_secs()))),
    }
}

/// Whether anything is under `prefix`.
async fn any_object(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    prefix: &str,
    options: &SyncOptions,
) -> Result<bool, SyncError> {
    let list = client.list_objects_v2().bucket(bucket).prefix(prefix).max_keys(1).send();
    let page = timed(options.call_timeout, sync_error("listing", bucket, prefix), list).await?;
    Ok(!page.contents().is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owner(cluster: &str, uid: &str) -> Owner {
        Owner { cluster_id: cluster.into(), namespace: "team-a".into(), name: "promo".into(), uid: uid.into() }
    }

    #[test]
    fn only_the_same_resource_of_the_same_cluster_owns_a_folder() {
        let ours = owner("prod", "u1");
        assert_eq!(standing(&ours, Some(Ok(owner("prod", "u1"))), true), Standing::Ours);
        // Another RemotionSite of the namespace naming the same siteName.
        assert_eq!(standing(&ours, Some(Ok(owner("prod", "u2"))), true), Standing::Another(owner("prod", "u2")));
        // Another cluster sharing the bucket, whatever its UIDs.
        assert_eq!(standing(&ours, Some(Ok(owner("staging", "u1"))), true), Standing::Another(owner("staging", "u1")));
    }

    #[test]
    fn a_folder_without_a_marker_is_free_only_when_empty() {
        let ours = owner("prod", "u1");
        assert_eq!(standing(&ours, None, false), Standing::Free);
        assert_eq!(standing(&ours, None, true), Standing::Unmarked);
        assert_eq!(standing(&ours, Some(Err("not JSON".into())), true), Standing::Unreadable("not JSON".into()));
    }

    #[test]
    fn a_refusal_names_the_owner_and_is_terminal() {
        let folder = SiteFolder::new("team-a", keys::SiteName::new("promo").unwrap()).unwrap();
        assert!(refusal("bkt", &folder, Standing::Ours).is_none());
        assert!(refusal("bkt", &folder, Standing::Free).is_none());
        let error = refusal("bkt", &folder, Standing::Another(owner("staging", "u9"))).unwrap();
        assert_eq!(error.reason(), Reason::OwnedByAnother);
        assert!(error.reason().is_terminal());
        let message = error.to_string();
        assert!(message.contains("s3://bkt/sites/team-a/promo/"), "{message}");
        assert!(message.contains("RemotionSite team-a/promo (uid u9) of cluster staging"), "{message}");
        let unmarked = refusal("bkt", &folder, Standing::Unmarked).unwrap().to_string();
        assert!(unmarked.contains("no owner marker"), "{unmarked}");
    }

    #[test]
    fn the_marker_is_json_with_the_four_names() {
        let json = serde_json::to_value(owner("prod", "u1")).unwrap();
        assert_eq!(json, serde_json::json!({"clusterId": "prod", "namespace": "team-a", "name": "promo", "uid": "u1"}));
    }
}
