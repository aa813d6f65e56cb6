//! RemotionSite controller: fetch the bundle archive (URL, ConfigMap or S3 object), check its
//! digest, unpack it safely, check it is a Remotion bundle, upload what changed to
//! `sites/<namespace>/<siteName>/` of the referenced LambdaBucket, and list the compositions
//! through the referenced RenderFunction. Nothing is uploaded from an archive that fails a
//! check: every check runs before the first write. The finalizer removes the folder unless the
//! LambdaBucket is gone.
//!
//! Each namespace has a folder of its own, and each site folder an owner marker ([`owner`]):
//! a folder another RemotionSite (of this namespace, or of another cluster sharing the bucket)
//! owns is neither written nor deleted (`OwnedByAnother`). A folder of the layout before
//! namespaces is left as it is, and named in an Event ([`legacy`]).
//!
//! A site is synced again only when something that decides its content changed: the
//! generation, the bucket, or the source's identity (URL + digest; the ConfigMap's bytes; the
//! S3 object's ETag). Sources that can change in place are polled every
//! [`SiteSettings::poll_interval`]; a URL source is pinned by its digest and never polled.
//!
//! The work is bounded: the size limits derive from the scratch volume and the number of syncs
//! that share it, a sync holds one of that many permits while it uses the volume
//! ([`scratch`]), and a site whose syncs fail waits before the next attempt — the backoff is
//! kept in its status, so a restart does not fetch it again at once ([`retry`]).
//!
//! The pipeline, one file a step:
//! 1. [`references`]: the bucket to upload to and the function that lists compositions, or a
//!    reason to wait;
//! 2. [`owner`]: the site's folder is its own, or claimed now;
//! 3. [`source`]: what identifies the source's content; unless [`retry`] says to wait, a claim
//!    on the scratch volume ([`scratch`]), then fetch ([`fetch`]) → verify the digest
//!    ([`verify`]) → unpack safely ([`archive`], a zip's size checked from its end records
//!    first: [`zip_end`]) → upload what changed ([`sync`], with [`content_type`] headers);
//! 4. [`compositions`]: the compositions, listed through the function;
//! 5. [`cleanup`]: on deletion, the site's folder removed.

pub mod archive;
pub mod bundle_version;
pub mod cleanup;
pub mod compositions;
pub mod content_type;
pub mod fetch;
pub mod legacy;
pub mod owner;
pub mod references;
pub mod retry;
pub mod scratch;
pub mod settings;
pub mod source;
pub mod sync;
pub mod verify;
pub mod zip_end;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::api::Api;
use kube::runtime::controller::Action;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::{Controller, watcher};
use kube::{Resource, ResourceExt};
use remotion_crds::common::condition_type::{READY, REMOTION_VERSION};
use remotion_crds::remotion_site::{CompositionSummary, SyncRetry};
use remotion_crds::{LambdaBucket, Reason, RemotionSite, RemotionSiteStatus, RenderFunction};
use remotion_protocol::keys::{self, SiteFolder, SiteName};
use remotion_protocol::remotion_version::Compatibility;
use tokio_util::sync::CancellationToken;

use self::owner::{Owner, OwnerError};
use self::references::{ReadyBucket, Wait};
use self::scratch::Scratch;
pub use self::settings::SiteSettings;
use self::source::SourceIdentity;
use self::sync::SyncReport;
use super::{Context, Settings, log_result, shutdown_signal};
use crate::reconcile::conditions::{self, Desired, Status};
use crate::reconcile::guard::{self, DeserializeGuard, HasContext};
use crate::reconcile::shell;
use crate::reconcile::{Error, apply_status};

/// Metrics label of this controller.
pub const CONTROLLER: &str = "remotionsite";
/// Field manager of the status this controller writes.
pub const FIELD_MANAGER: &str = "remotion-operator/remotionsite";
/// How often a site waiting for its bucket or function looks again (their watches usually
/// wake it sooner).
const WAIT_RECHECK: Duration = Duration::from_secs(60);

crate::ready_resource!(RemotionSite, RemotionSiteStatus, CONTROLLER, FIELD_MANAGER);

/// What the controller keeps between reconciles.
pub struct SiteContext {
    /// The operator's shared context.
    pub ctx: Arc<Context>,
    /// Limits and timings.
    pub settings: SiteSettings,
    /// The scratch volume: one permit per sync at once.
    scratch: Scratch,
    /// Client of URL sources.
    http: reqwest::Client,
    /// Last successful sync per site UID (lost on restart: the next reconcile syncs again,
    /// uploading nothing that is already there).
    synced: Mutex<HashMap<String, Synced>>,
    /// The `status.retry` this process last wrote per site UID: newer than the watch cache may
    /// be just after the write, so a reconcile that follows at once does not take an older
    /// record (an attempt still "under way") for the truth.
    retries: Mutex<HashMap<String, SyncRetry>>,
}

/// What a site was last synced from, and what the function said about it.
#[derive(Clone, Debug, PartialEq)]
struct Synced {
    generation: Option<i64>,
    bucket: String,
    source: String,
    content_hash: String,
    compositions: Option<(String, Vec<CompositionSummary>)>,
}

impl HasContext for SiteContext {
    fn context(&self) -> &Context {
        &self.ctx
    }
}

impl SiteContext {
    /// A context with `settings` (its HTTP client built from the fetch limits).
    pub fn new(ctx: Arc<Context>, settings: SiteSettings) -> Result<Self, reqwest::Error> {
        let http = fetch::http_client(&settings.fetch, Arc::new(ctx.aws.policy().network.clone()))?;
        let scratch = Scratch::new(settings.scratch.syncs, settings.scratch_dir.clone());
        Ok(Self {
            ctx,
            settings,
            scratch,
            http,
            synced: Mutex::new(HashMap::new()),
            retries: Mutex::new(HashMap::new()),
        })
    }

    fn synced(&self, uid: &str) -> Option<Synced> {
        self.synced.lock().unwrap_or_else(|e| e.into_inner()).get(uid).cloned()
    }

    fn remember(&self, uid: &str, synced: Synced) {
        self.synced.lock().unwrap_or_else(|e| e.into_inner()).insert(uid.to_owned(), synced);
    }

    fn forget(&self, uid: &str) {
        self.synced.lock().unwrap_or_else(|e| e.into_inner()).remove(uid);
        self.note_retry(uid, None);
    }

    /// The retry record this process last wrote for the site, if any.
    fn retry_written(&self, uid: &str) -> Option<SyncRetry> {
        self.retries.lock().unwrap_or_else(|e| e.into_inner()).get(uid).cloned()
    }

    /// Notes the retry record just written for the site (`None`: cleared).
    fn note_retry(&self, uid: &str, retry: Option<SyncRetry>) {
        let mut retries = self.retries.lock().unwrap_or_else(|e| e.into_inner());
        match retry {
            Some(retry) => retries.insert(uid.to_owned(), retry),
            None => retries.remove(uid),
        };
    }
}

/// Runs the controller with the [`SiteSettings`] of `settings` until `shutdown`.
pub async fn run(ctx: Arc<Context>, settings: Settings, shutdown: CancellationToken) {
    let site_settings = settings.site.clone();
    run_with(ctx, settings, site_settings, shutdown).await;
}

/// Runs the controller with `site_settings` until `shutdown`.
pub async fn run_with(ctx: Arc<Context>, settings: Settings, site_settings: SiteSettings, shutdown: CancellationToken) {
    let site_ctx = match SiteContext::new(ctx.clone(), site_settings) {
        Ok(site_ctx) => Arc::new(site_ctx),
        Err(e) => {
            tracing::error!(error = %e, "the HTTP client for site archives could not be built; RemotionSites are not reconciled");
            return;
        }
    };
    let controller = Controller::new(
        settings.api::<DeserializeGuard<RemotionSite>>(&ctx.client),
        watcher::Config::default().any_semantic(),
    );
    let sites = controller.store();
    controller
        .with_config(settings.controller_config())
        // A site waiting for its bucket or function goes on as soon as that one changes.
        .watches(
            settings.api::<DeserializeGuard<LambdaBucket>>(&ctx.client),
            watcher::Config::default().any_semantic(),
            {
                let sites = sites.clone();
                move |bucket: DeserializeGuard<LambdaBucket>| {
                    referencing(&sites, &bucket, |site| Some(&site.spec.bucket_ref.name))
                }
            },
        )
        .watches(
            settings.api::<DeserializeGuard<RenderFunction>>(&ctx.client),
            watcher::Config::default().any_semantic(),
            {
                let sites = sites.clone();
                move |function: DeserializeGuard<RenderFunction>| {
                    referencing(&sites, &function, |site| site.spec.function_ref.as_ref().map(|r| &r.name))
                }
            },
        )
        .graceful_shutdown_on(shutdown_signal(shutdown))
        .run(guard::reconcile(CONTROLLER, reconcile), guard::error_policy(error_policy), site_ctx)
        .for_each(log_result(CONTROLLER))
        .await;
}

/// The sites of `target`'s namespace whose reference (`by`) names it.
fn referencing<K: Resource>(
    sites: &Store<DeserializeGuard<RemotionSite>>,
    target: &K,
    by: impl Fn(&RemotionSite) -> Option<&String>,
) -> Vec<ObjectRef<DeserializeGuard<RemotionSite>>> {
    let namespace = target.meta().namespace.as_deref();
    let name = target.meta().name.as_deref();
    sites
        .state()
        .iter()
        .filter(|guarded| {
            guarded
                .0
                .as_ref()
                .is_ok_and(|site| site.meta().namespace.as_deref() == namespace && by(site).map(String::as_str) == name)
        })
        .map(|site| ObjectRef::from_obj(site.as_ref()))
        .collect()
}

fn error_policy(site: Arc<RemotionSite>, error: &Error, ctx: Arc<SiteContext>) -> Action {
    ctx.ctx.backoffs.after_error(&*site, error)
}

/// One reconcile: `apply` while the site lives, [`cleanup::cleanup`] once it is deleted.
pub async fn reconcile(site: Arc<RemotionSite>, ctx: Arc<SiteContext>) -> Result<Action, Error> {
    let api: Api<RemotionSite> = shell::api_of(&ctx.ctx, &*site);
    let work = shell::with_finalizer(&api, &*site, |live| apply(&api, live, &ctx), |live| cleanup::cleanup(live, &ctx));
    shell::reconcile_finalized(&api, &*site, &ctx.ctx, work).await
}

/// The site folder: `spec.siteName`, else the resource's name.
fn site_name(site: &RemotionSite) -> Result<SiteName, Error> {
    let name = site.spec.site_name.clone().unwrap_or_else(|| site.name_any());
    SiteName::new(name).map_err(|e| Error::caused_by(Reason::InvalidSiteName, format!("{e}; set spec.siteName"), e))
}

/// The site's folder in its bucket: its namespace's, named by [`site_name`].
fn site_folder(site: &RemotionSite) -> Result<SiteFolder, Error> {
    SiteFolder::new(site.namespace().unwrap_or_default(), site_name(site)?)
        .map_err(|e| Error::caused_by(Reason::InvalidSiteName, e.to_string(), e))
}

async fn apply(api: &Api<RemotionSite>, live: Arc<RemotionSite>, ctx: &SiteContext) -> Result<Action, Error> {
    // Decide on the object as it is now: a status write of this controller (the record of an
    // attempt) wakes the next reconcile, which may start before the watch cache holds the
    // writes that followed, and would then rewrite an older status or sync again.
    let Some(live) = api.get_opt(&live.name_any()).await? else { return Ok(Action::await_change()) };
    let live = shell::announce_first_visit(api, live, "Fetching the site").await?;
    let folder = site_folder(&live)?;
    let uid = live.uid().unwrap_or_default();

    let bucket = match references::bucket(&live, &ctx.ctx).await? {
        Ok(bucket) => bucket,
        Err(wait) => return wait_for(api, &live, wait).await,
    };
    let function = match references::function(&live, &ctx.ctx).await? {
        Some(Err(wait)) => return wait_for(api, &live, wait).await,
        Some(Ok(function)) => Some(function),
        None => None,
    };

    let source = source::identity(&live, &bucket, ctx).await?;
    let previous = ctx.synced(&uid).filter(|s| {
        s.generation == live.meta().generation
            && s.bucket == bucket.name
            && s.source == source.identity
            && live.status.as_ref().and_then(|st| st.content_hash.as_ref()) == Some(&s.content_hash)
    });
    let (live, mut status, mut synced) = match previous {
        Some(previous) => {
            let status = shell::owned_status(&live);
            (live, status, previous)
        }
        None => {
            let ours = Owner::of(&live, &ctx.ctx.aws.policy().cluster_id);
            owner::claim(&bucket.clients.s3, &bucket.name, &folder, &ours, &ctx.settings.sync)
                .await
                .map_err(OwnerError::into_error)?;
            let (live, unpacked_version, report) = match attempt_sync(api, live, &folder, &bucket, ctx, &source).await?
            {
                Attempt::Synced { live, unpacked_version, report } => (live, unpacked_version, report),
                Attempt::Waiting { live, wait } => {
                    let ours = ctx.retry_written(&uid).is_some();
                    return hold(api, &live, wait, ours).await;
                }
            };
            let mut status = shell::owned_status(&live);
            if let Compatibility::Untested(version) = Compatibility::of(None, unpacked_version.as_deref()) {
                let note = Compatibility::Untested(version).describe();
                ctx.ctx.events.warning(&live, Reason::RemotionVersionUntested, "CheckRemotionVersion", note).await;
            }
            status.remotion_version = unpacked_version;
            status.files = Some(report.files as i64);
            status.bytes = Some(report.bytes as i64);
            status.uploaded = Some(report.uploaded as i64);
            status.deleted = Some(report.deleted as i64);
            status.unchanged = Some(report.unchanged as i64);
            status.content_hash = Some(report.content_hash.clone());
            if report.uploaded + report.deleted > 0 {
                let note = format!(
                    "Uploaded {} and deleted {} files of {} to s3://{}/{}",
                    report.uploaded,
                    report.deleted,
                    report.files,
                    bucket.name,
                    keys::site_prefix(&folder)
                );
                ctx.ctx.events.normal(&live, Reason::Synced, "UploadSite", note).await;
                note_legacy_folder(&live, &folder, &bucket, ctx).await;
            }
            let synced = Synced {
                generation: live.meta().generation,
                bucket: bucket.name.clone(),
                source: source.identity.clone(),
                content_hash: report.content_hash,
                compositions: None,
            };
            (live, status, synced)
        }
    };
    // The site's files are in the bucket: no attempt is owed.
    status.retry = None;
    ctx.note_retry(&uid, None);
    status.site_name = Some(folder.name().to_string());
    status.bucket_name = Some(bucket.name.clone());
    let serve_url = keys::serve_url(&bucket.url, &folder);
    status.serve_url = Some(serve_url.clone());

    match &function {
        Some(function) => {
            let wanted = format!("{}@{}", synced.content_hash, function.identity);
            let listed = match synced.compositions.take().filter(|(key, _)| *key == wanted) {
                Some((_, listed)) => listed,
                None => match compositions::list(function, &bucket, &folder, &serve_url, &ctx.settings).await {
                    Ok(listed) => listed,
                    Err(error) => {
                        // The site is uploaded: remember that, and say so in the status (its
                        // content hash, no retry), so that listing again fetches nothing.
                        ctx.remember(&uid, synced.clone());
                        apply_status(api, &live, FIELD_MANAGER, &status).await?;
                        return Err(error);
                    }
                },
            };
            status.compositions = listed.clone();
            synced.compositions = Some((wanted, listed));
        }
        None => status.compositions.clear(),
    }
    ctx.remember(&uid, synced);

    let message = format!(
        "{} files ({} bytes) at {serve_url}{}",
        status.files.unwrap_or_default(),
        status.bytes.unwrap_or_default(),
        if function.is_some() { format!("; {} compositions", status.compositions.len()) } else { String::new() }
    );
    set_remotion_version(&mut status, &live);
    shell::set_ready(&mut status, &live, Status::True, Reason::Available, message);
    apply_status(api, &live, FIELD_MANAGER, &status).await?;
    Ok(if source.can_change { Action::requeue(ctx.settings.poll_interval) } else { Action::await_change() })
}

/// Sets the `RemotionVersion` condition from the uploaded bundle's Remotion release (a bundle
/// of another page protocol never gets this far: it is refused before the upload).
fn set_remotion_version(status: &mut RemotionSiteStatus, live: &RemotionSite) {
    let compatibility = Compatibility::of(None, status.remotion_version.as_deref());
    let (state, reason) = match compatibility {
        Compatibility::Tested(_) => (Status::True, Reason::RemotionVersionTested),
        Compatibility::Untested(_) => (Status::False, Reason::RemotionVersionUntested),
        Compatibility::Unknown | Compatibility::Incompatible { .. } => {
            (Status::Unknown, Reason::RemotionVersionUnknown)
        }
    };
    let desired = Desired { type_: REMOTION_VERSION, status: state, reason, message: compatibility.describe() };
    conditions::set(&mut status.conditions, desired, live.meta().generation, Time(Timestamp::now()));
}

/// The outcome of [`attempt_sync`].
enum Attempt {
    /// Uploaded; `live` is the object as the attempt's record left it.
    Synced { live: RemotionSite, unpacked_version: Option<String>, report: SyncReport },
    /// Earlier attempts failed: not before `wait` has passed.
    Waiting { live: RemotionSite, wait: Duration },
}

/// One attempt to fetch, unpack and upload the site, under [`retry`]'s backoff and with a
/// claim on the scratch volume. The attempt is recorded in `status.retry` before it starts
/// (so one the operator does not live through counts as failed), and a failure records when
/// the next may start.
async fn attempt_sync(
    api: &Api<RemotionSite>,
    live: RemotionSite,
    folder: &SiteFolder,
    bucket: &ReadyBucket,
    ctx: &SiteContext,
    source: &SourceIdentity,
) -> Result<Attempt, Error> {
    let generation = live.meta().generation.unwrap_or_default();
    let uid = live.uid().unwrap_or_default();
    let previous = ctx.retry_written(&uid).or_else(|| live.status.as_ref().and_then(|s| s.retry.clone()));
    if let Some(wait) = retry::wait(previous.as_ref(), generation, Timestamp::now()) {
        return Ok(Attempt::Waiting { live, wait });
    }
    let claim = ctx.scratch.claim().await?;
    let attempt = retry::attempt(previous.as_ref(), generation, Timestamp::now());
    let mut status = shell::owned_status(&live);
    status.retry = Some(attempt.clone());
    let live = apply_status(api, &live, FIELD_MANAGER, &status).await?.unwrap_or(live);
    ctx.note_retry(&uid, Some(attempt.clone()));
    let result = source::fetch_and_sync(&live, folder, bucket, ctx, claim.path(), source.in_memory.clone()).await;
    drop(claim);
    match result {
        Ok((unpacked_version, report)) => Ok(Attempt::Synced { live, unpacked_version, report }),
        Err(error) => {
            let failed = retry::failed(&attempt, error.is_terminal(), Timestamp::now());
            status.retry = Some(failed.clone());
            match apply_status(api, &live, FIELD_MANAGER, &status).await {
                Ok(_) => ctx.note_retry(&uid, Some(failed)),
                Err(e) => {
                    tracing::warn!(site = %folder, error = %e, "recording the failed attempt in the status failed")
                }
            }
            Err(error)
        }
    }
}

/// After a sync that wrote the site's folder: names the folder of the layout before namespaces
/// in an Event when one of the site's name is in the bucket ([`legacy`]). A failure to look is
/// only logged: the note is worth no retry.
async fn note_legacy_folder(live: &RemotionSite, folder: &SiteFolder, bucket: &ReadyBucket, ctx: &SiteContext) {
    match legacy::left_behind(&bucket.clients.s3, &bucket.name, folder.name(), &ctx.settings.sync).await {
        Ok(true) => {
            let note = legacy::note(&bucket.name, folder);
            ctx.ctx.events.normal(live, Reason::Synced, "LegacySiteFolder", note).await;
        }
        Ok(false) => {}
        Err(error) => tracing::debug!(site = %folder, %error, "could not look for a folder of the older layout"),
    }
}

/// A site waiting for its next attempt. When its record was left by an earlier process (not
/// `ours`) and `Ready` still says the attempt is under way, that attempt never finished (the
/// operator stopped during it, or ran out of memory or scratch space): say so, and when the
/// next one starts.
async fn hold(api: &Api<RemotionSite>, live: &RemotionSite, wait: Duration, ours: bool) -> Result<Action, Error> {
    let ready = live.status.as_ref().and_then(|s| s.conditions.iter().find(|c| c.type_ == READY));
    let retry = live.status.as_ref().and_then(|s| s.retry.as_ref());
    let unfinished = ready.is_some_and(|c| c.reason == Reason::Reconciling.as_str());
    if let Some(message) = retry.and_then(|r| retry::unfinished_attempt(r, unfinished && !ours)) {
        shell::write_ready(api, live, Status::Unknown, Reason::Reconciling, message).await?;
    }
    Ok(Action::requeue(wait))
}

async fn wait_for(api: &Api<RemotionSite>, live: &RemotionSite, wait: Wait) -> Result<Action, Error> {
    shell::write_ready(api, live, Status::False, wait.reason, wait.message).await?;
    Ok(Action::requeue(WAIT_RECHECK))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_site_name_defaults_to_the_resource_name_and_is_validated() {
        let spec: remotion_crds::RemotionSiteSpec = serde_json::from_value(serde_json::json!({
            "bucketRef": {"name": "b"}, "source": {"url": "https://x/a.tgz", "sha256": "0".repeat(64)}
        }))
        .unwrap();
        let site = RemotionSite::new("my-site", spec.clone());
        assert_eq!(site_name(&site).unwrap().as_str(), "my-site");
        let named = RemotionSite::new("x", remotion_crds::RemotionSiteSpec { site_name: Some("a/b".into()), ..spec });
        let err = site_name(&named).unwrap_err();
        assert!(err.is_terminal());
        assert_eq!(err.reason(), Reason::InvalidSiteName);
    }
}
