//! Sites synced before the namespaced layout: versions of the operator before it put a site in
//! `sites/<siteName>/` ([`keys::legacy_site_prefix`]), a folder shared by every namespace's site
//! of that name. Syncing into the site's own folder leaves that one alone: the operator cannot
//! tell which namespace's files it holds, so it never deletes it. It says so once the new
//! folder is written, and the admin removes the old folder when no renders use it.

use remotion_protocol::keys::{self, SiteFolder, SiteName};

use super::sync::{SyncError, SyncOptions, sync_error, timed};

/// Whether `sites/<siteName>/index.html`, the entry page of the layout before namespaces, is in
/// `bucket`.
pub async fn left_behind(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    name: &SiteName,
    options: &SyncOptions,
) -> Result<bool, SyncError> {
    let key = format!("{}{}", keys::legacy_site_prefix(name), keys::SITE_INDEX);
    let head = client.head_object().bucket(bucket).key(&key).send();
    match timed(options.call_timeout, sync_error("checking", bucket, &key), head).await {
        Ok(_) => Ok(true),
        Err(e) if matches!(e.code.as_deref(), Some("NotFound" | "NoSuchKey")) => Ok(false),
        Err(e) => Err(e),
    }
}

/// The note of an Event naming the folder left behind.
pub fn note(bucket: &str, folder: &SiteFolder) -> String {
    format!(
        "The site is now in s3://{bucket}/{}; s3://{bucket}/{} is the folder of the layout before namespaces, \
         shared by every namespace's site named {}: the operator leaves it as it is. Delete it once no \
         namespace's renders of an older operator use it",
        keys::site_prefix(folder),
        keys::legacy_site_prefix(folder.name()),
        folder.name()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_note_names_both_folders() {
        let folder = SiteFolder::new("team-a", SiteName::new("promo").unwrap()).unwrap();
        let note = note("bkt", &folder);
        assert!(note.contains("s3://bkt/sites/team-a/promo/"), "{note}");
        assert!(note.contains("s3://bkt/sites/promo/ is the folder of the layout before namespaces"), "{note}");
    }
}
