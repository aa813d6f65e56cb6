//! Step 2: the site's files, from the source to the bucket: what identifies the source's
//! current content, then fetch → verify the digest → unpack safely → upload what changed.
//! Nothing is uploaded from an archive that fails a check.

use std::path::Path;

use kube::ResourceExt;
use remotion_crds::{Reason, RemotionSite};
use remotion_protocol::keys::SiteFolder;
use remotion_protocol::remotion_version::Compatibility;

use super::SiteContext;
use super::archive::{self, ArchiveError, UnpackedSite};
use super::fetch::{self, FetchError, InMemoryArchive};
use super::references::ReadyBucket;
use super::sync::{self, SyncError, SyncReport};
use super::verify::verify_sha256;
use crate::reconcile::Error;

/// What identifies the source's current content, and (for ConfigMaps, read whole to learn
/// it) the archive already in memory. Learning it writes nothing to the scratch volume.
pub struct SourceIdentity {
    pub identity: String,
    pub can_change: bool,
    pub in_memory: Option<InMemoryArchive>,
}

/// File name of the archive in the scratch folder.
const ARCHIVE_FILE: &str = "archive";

pub async fn identity(site: &RemotionSite, bucket: &ReadyBucket, ctx: &SiteContext) -> Result<SourceIdentity, Error> {
    let source = &site.spec.source;
    if let Some(url) = &source.url {
        let digest = source.sha256.clone().unwrap_or_default();
        return Ok(SourceIdentity {
            identity: format!("url {url} sha256 {digest}"),
            can_change: false,
            in_memory: None,
        });
    }
    if let Some(reference) = &source.config_map_ref {
        let namespace = site.namespace().unwrap_or_default();
        let archive = fetch::read_config_map(
            ctx.ctx.aws.secrets().as_ref(),
            &namespace,
            &reference.name,
            &reference.key,
            &ctx.settings.fetch,
        )
        .await
        .map_err(fetch_error)?;
        let identity = format!("configMap {}/{} sha256 {}", reference.name, reference.key, archive.sha256);
        return Ok(SourceIdentity { identity, can_change: true, in_memory: Some(archive) });
    }
    if let Some(object) = &source.s3 {
        let etag = fetch::s3_object_etag(&bucket.clients.s3, &object.bucket, &object.key).await.map_err(fetch_error)?;
        let identity = format!("s3 {}/{} etag {etag}", object.bucket, object.key);
        return Ok(SourceIdentity { identity, can_change: true, in_memory: None });
    }
    Err(Error::new(Reason::InvalidSource, "spec.source needs one of url, configMapRef or s3"))
}

/// Fetch (unless already in memory) → verify → unpack → sync, in `scratch` (the sync's claim
/// on the scratch volume). Returns the bundle's Remotion version and the sync report; a bundle
/// of a page protocol the renderer does not speak is refused before anything is uploaded.
pub async fn fetch_and_sync(
    site: &RemotionSite,
    folder: &SiteFolder,
    bucket: &ReadyBucket,
    ctx: &SiteContext,
    scratch: &Path,
    in_memory: Option<InMemoryArchive>,
) -> Result<(Option<String>, SyncReport), Error> {
    let archive_path = scratch.join(ARCHIVE_FILE);
    let source = &site.spec.source;
    let fetched = match (in_memory, &source.url, &source.s3) {
        (Some(archive), _, _) => fetch::write_archive(&archive, &archive_path).await.map_err(fetch_error)?,
        (None, Some(url), _) => {
            // IP literals and allowed hosts here; names again at each connection (the client's resolver).
            ctx.ctx
                .aws
                .policy()
                .network
                .check_url(url)
                .map_err(|refusal| fetch_error(fetch::FetchError::Refused { url: url.clone(), refusal }))?;
            fetch::fetch_url(&ctx.http, url, &archive_path, &ctx.settings.fetch).await.map_err(fetch_error)?
        }
        (None, None, Some(object)) => {
            fetch::fetch_s3(&bucket.clients.s3, &object.bucket, &object.key, &archive_path, &ctx.settings.fetch)
                .await
                .map_err(fetch_error)?
        }
        (None, None, None) => return Err(Error::new(Reason::InvalidSource, "spec.source has nothing to fetch")),
    };
    verify_sha256(source.sha256.as_deref(), &fetched.sha256)
        .map_err(|e| Error::caused_by(Reason::DigestMismatch, format!("{e}; nothing was uploaded"), e))?;

    let unpacked = unpack(&archive_path, &scratch.join("site"), ctx.settings.unpack).await?;
    tracing::info!(
        site = %folder,
        files = unpacked.files.len(),
        bytes = unpacked.total_bytes(),
        archive_bytes = fetched.size,
        "archive unpacked, syncing"
    );
    let versions = &unpacked.versions;
    let compatibility = Compatibility::of(versions.site_version.as_deref(), versions.remotion_version.as_deref());
    if compatibility.is_incompatible() {
        let message = format!("incompatible site: {}; nothing was uploaded", compatibility.describe());
        return Err(Error::new(Reason::IncompatibleRemotionVersion, message));
    }
    let report = sync::sync(&bucket.clients.s3, &bucket.name, folder, &unpacked, &ctx.settings.sync)
        .await
        .map_err(sync_error)?;
    Ok((unpacked.versions.remotion_version, report))
}

async fn unpack(archive: &Path, dest: &Path, limits: archive::UnpackLimits) -> Result<UnpackedSite, Error> {
    let (archive, dest) = (archive.to_path_buf(), dest.to_path_buf());
    tokio::task::spawn_blocking(move || {
        std::fs::create_dir_all(&dest)
            .map_err(|source| ArchiveError::Io { context: "creating the site folder".into(), source })?;
        archive::unpack(&archive, &dest, &limits)
    })
    .await
    .map_err(|e| Error::caused_by(Reason::InternalError, "the unpacking task failed", e))?
    .map_err(archive_error)
}

fn fetch_error(e: FetchError) -> Error {
    let message = if e.reason().is_terminal() { format!("{e}; nothing was uploaded") } else { e.to_string() };
    Error::caused_by(e.reason(), message, e)
}

fn archive_error(e: ArchiveError) -> Error {
    let message = if e.reason().is_terminal() { format!("{e}; nothing was uploaded") } else { e.to_string() };
    Error::caused_by(e.reason(), message, e)
}

pub fn sync_error(e: SyncError) -> Error {
    Error::caused_by(e.reason(), e.to_string(), e)
}
