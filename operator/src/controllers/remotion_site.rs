//! RemotionSite controller: fetch the bundle archive (URL, ConfigMap or S3 object), check its
//! digest, unpack it safely, check it is a Remotion bundle, upload what changed to
//! `sites/<siteName>/` of the referenced LambdaBucket, and list the compositions through the
//! referenced RenderFunction. Nothing is uploaded from an archive that fails a check: every
//! check runs before the first write. The finalizer removes `sites/<siteName>/` unless the
//! LambdaBucket is gone.
//!
//! A site is synced again only when something that decides its content changed: the
//! generation, the bucket, or the source's identity (URL + digest; the ConfigMap's bytes; the
//! S3 object's ETag). Sources that can change in place are polled every
//! [`SiteSettings::poll_interval`]; a URL source is pinned by its digest and never polled.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::Api;
use kube::runtime::controller::Action;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::{Controller, watcher};
use kube::{Resource, ResourceExt};
use remotion_crds::common::condition_type::READY;
use remotion_crds::common::find_condition;
use remotion_crds::keys::{self, SiteName};
use remotion_crds::protocol::{
    CompositionsRequest, CompositionsResponse, PROTOCOL_VERSION, Payload, S3Prefix, SerializedProps, SiteLocation,
};
use remotion_crds::remotion_site::CompositionSummary;
use remotion_crds::{LambdaBucket, RemotionSite, RemotionSiteStatus, RenderFunction};
use tokio_util::sync::CancellationToken;

use super::guard::{self, DeserializeGuard, HasContext};
use super::{Context, Settings, log_result, shutdown_signal};
use crate::aws::{AwsClients, InvokeError, invoke_json};
use crate::conditions::{self, Desired, Status};
use crate::reconcile::{Error, add_finalizer, apply_status, has_finalizer, is_deleting, remove_finalizer};
use crate::site::archive::{self, ArchiveError, UnpackedSite};
use crate::site::fetch::{self, FetchError, Fetched};
use crate::site::sync::{self, SyncReport};
use crate::site::verify::verify_sha256;
use crate::site::{SiteSettings, sync::SyncError};

/// Metrics label of this controller.
pub const CONTROLLER: &str = "remotionsite";
/// Field manager of the status this controller writes.
pub const FIELD_MANAGER: &str = "remotion-operator/remotionsite";
/// How often a site waiting for its bucket or function looks again (their watches usually
/// wake it sooner).
const WAIT_RECHECK: Duration = Duration::from_secs(60);
/// Most compositions kept in the status (the schema's bound).
const MAX_COMPOSITIONS: usize = 1000;

/// What the controller keeps between reconciles.
pub struct SiteContext {
    /// The operator's shared context.
    pub ctx: Arc<Context>,
    /// Limits and timings.
    pub settings: SiteSettings,
    http: reqwest::Client,
    /// Last successful sync per site UID (lost on restart: the next reconcile syncs again,
    /// uploading nothing that is already there).
    synced: Mutex<HashMap<String, Synced>>,
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
        let http = fetch::http_client(&settings.fetch)?;
        Ok(Self { ctx, settings, http, synced: Mutex::new(HashMap::new()) })
    }

    fn synced(&self, uid: &str) -> Option<Synced> {
        self.synced.lock().unwrap_or_else(|e| e.into_inner()).get(uid).cloned()
    }

    fn remember(&self, uid: &str, synced: Synced) {
        self.synced.lock().unwrap_or_else(|e| e.into_inner()).insert(uid.to_owned(), synced);
    }

    fn forget(&self, uid: &str) {
        self.synced.lock().unwrap_or_else(|e| e.into_inner()).remove(uid);
    }
}

/// Runs the controller with default [`SiteSettings`] until `shutdown`.
pub async fn run(ctx: Arc<Context>, settings: Settings, shutdown: CancellationToken) {
    run_with(ctx, settings, SiteSettings::default(), shutdown).await;
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

/// One reconcile: the work, then metrics, conditions and Events for its outcome.
pub async fn reconcile(site: Arc<RemotionSite>, ctx: Arc<SiteContext>) -> Result<Action, Error> {
    let _timer = ctx.ctx.metrics.reconcile_started(CONTROLLER);
    let namespace = site.namespace().unwrap_or_default();
    let api: Api<RemotionSite> = Api::namespaced(ctx.ctx.client.clone(), &namespace);
    let result = if is_deleting(&*site) { cleanup(&api, &site, &ctx).await } else { apply(&api, &site, &ctx).await };
    match result {
        Ok(action) => {
            ctx.ctx.backoffs.reset(&*site);
            Ok(action)
        }
        Err(error) => {
            ctx.ctx.metrics.reconcile_failed(CONTROLLER, error.kind());
            report_error(&api, &site, &ctx.ctx, &error).await;
            Err(error)
        }
    }
}

/// The status fields this controller owns, from the live status.
fn owned_status(live: &RemotionSite) -> RemotionSiteStatus {
    let status = live.status.clone().unwrap_or_default();
    RemotionSiteStatus { conditions: status.conditions.into_iter().filter(|c| c.type_ == READY).collect(), ..status }
}

fn set_ready(status: &mut RemotionSiteStatus, live: &RemotionSite, state: Status, reason: &str, message: String) {
    let generation = live.meta().generation;
    conditions::set(
        &mut status.conditions,
        Desired { type_: READY, status: state, reason, message },
        generation,
        Time(k8s_openapi::jiff::Timestamp::now()),
    );
    status.observed_generation = generation;
}

/// The site folder: `spec.siteName`, else the resource's name.
fn site_name(site: &RemotionSite) -> Result<SiteName, Error> {
    let name = site.spec.site_name.clone().unwrap_or_else(|| site.name_any());
    SiteName::new(name).map_err(|e| Error::terminal("InvalidSiteName", format!("{e}; set spec.siteName")))
}

/// A reason to wait (not an error: nothing is wrong with this site's spec).
struct Wait {
    reason: &'static str,
    message: String,
}

/// The bucket to upload to, when its LambdaBucket is Ready.
struct ReadyBucket {
    name: String,
    url: String,
    clients: AwsClients,
}

fn ready_now(
    conditions: &[k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition],
    generation: Option<i64>,
) -> bool {
    find_condition(conditions, READY).is_some_and(|c| c.status == "True" && c.observed_generation == generation)
}

async fn resolve_bucket(site: &RemotionSite, ctx: &Context) -> Result<Result<ReadyBucket, Wait>, Error> {
    let namespace = site.namespace().unwrap_or_default();
    let name = &site.spec.bucket_ref.name;
    let Some(bucket) = Api::<LambdaBucket>::namespaced(ctx.client.clone(), &namespace).get_opt(name).await? else {
        return Ok(Err(Wait { reason: "BucketNotFound", message: format!("LambdaBucket {name} does not exist") }));
    };
    let status = bucket.status.clone().unwrap_or_default();
    let (Some(bucket_name), Some(url), true) =
        (status.bucket_name, status.url, ready_now(&status.conditions, bucket.meta().generation))
    else {
        let why = find_condition(&status.conditions, READY)
            .map(|c| format!(" ({}: {})", c.reason, c.message))
            .unwrap_or_default();
        return Ok(Err(Wait {
            reason: "BucketNotReady",
            message: format!("waiting for LambdaBucket {name} to be Ready{why}"),
        }));
    };
    let clients = ctx.aws.clients(&namespace, &bucket.spec.aws).await?;
    Ok(Ok(ReadyBucket { name: bucket_name, url, clients }))
}

/// The function that lists compositions, when it is Ready and speaks our protocol.
struct ReadyFunction {
    name: String,
    /// Changes when the function does (a new deployment may list differently).
    identity: String,
    clients: AwsClients,
}

async fn resolve_function(site: &RemotionSite, ctx: &Context) -> Result<Option<Result<ReadyFunction, Wait>>, Error> {
    let Some(reference) = &site.spec.function_ref else { return Ok(None) };
    let namespace = site.namespace().unwrap_or_default();
    let name = &reference.name;
    let Some(function) = Api::<RenderFunction>::namespaced(ctx.client.clone(), &namespace).get_opt(name).await? else {
        let message = format!("RenderFunction {name} does not exist");
        return Ok(Some(Err(Wait { reason: "FunctionNotFound", message })));
    };
    let status = function.status.clone().unwrap_or_default();
    let (Some(function_name), true) =
        (status.function_name.clone(), ready_now(&status.conditions, function.meta().generation))
    else {
        let why = find_condition(&status.conditions, READY)
            .map(|c| format!(" ({}: {})", c.reason, c.message))
            .unwrap_or_default();
        let message = format!("waiting for RenderFunction {name} to be Ready to list the compositions{why}");
        return Ok(Some(Err(Wait { reason: "FunctionNotReady", message })));
    };
    if status.protocol_version != Some(i64::from(PROTOCOL_VERSION)) {
        return Err(Error::terminal(
            "ProtocolMismatch",
            format!(
                "RenderFunction {name} speaks protocol {:?}, this operator {PROTOCOL_VERSION}; deploy a matching function image",
                status.protocol_version
            ),
        ));
    }
    let clients = ctx.aws.clients(&namespace, &function.spec.aws).await?;
    let identity = format!("{function_name}@{:?}/{}", status.version, function.meta().generation.unwrap_or_default());
    Ok(Some(Ok(ReadyFunction { name: function_name, identity, clients })))
}

async fn apply(api: &Api<RemotionSite>, site: &RemotionSite, ctx: &SiteContext) -> Result<Action, Error> {
    let mut live = site.clone();
    // First visit: say at once that we are on it (kstatus, Helm --wait).
    if find_condition(&owned_status(&live).conditions, READY).is_none() {
        let mut status = owned_status(&live);
        set_ready(&mut status, &live, Status::Unknown, "Reconciling", "Fetching the site".into());
        if let Some(updated) = apply_status(api, &live, FIELD_MANAGER, &status).await? {
            live = updated;
        }
    }
    live = add_finalizer(api, &live).await?;
    let name = site_name(&live)?;
    let uid = live.uid().unwrap_or_default();

    let bucket = match resolve_bucket(&live, &ctx.ctx).await? {
        Ok(bucket) => bucket,
        Err(wait) => return wait_for(api, &live, wait).await,
    };
    let function = match resolve_function(&live, &ctx.ctx).await? {
        Some(Err(wait)) => return wait_for(api, &live, wait).await,
        Some(Ok(function)) => Some(function),
        None => None,
    };

    let scratch = scratch_dir(&ctx.settings)?;
    let source = source_identity(&live, &bucket, ctx, scratch.path()).await?;
    let previous = ctx.synced(&uid).filter(|s| {
        s.generation == live.meta().generation
            && s.bucket == bucket.name
            && s.source == source.identity
            && live.status.as_ref().and_then(|st| st.content_hash.as_ref()) == Some(&s.content_hash)
    });
    let mut status = owned_status(&live);
    let mut synced = match previous {
        Some(previous) => previous,
        None => {
            let report = fetch_and_sync(&live, &name, &bucket, ctx, scratch.path(), source.fetched).await?;
            let (unpacked_version, report) = report;
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
                    keys::site_prefix(&name)
                );
                ctx.ctx.events.normal(&live, "Synced", "UploadSite", note).await;
            }
            Synced {
                generation: live.meta().generation,
                bucket: bucket.name.clone(),
                source: source.identity.clone(),
                content_hash: report.content_hash,
                compositions: None,
            }
        }
    };
    drop(scratch);
    status.site_name = Some(name.to_string());
    status.bucket_name = Some(bucket.name.clone());
    let serve_url = keys::serve_url(&bucket.url, &name);
    status.serve_url = Some(serve_url.clone());

    match &function {
        Some(function) => {
            let wanted = format!("{}@{}", synced.content_hash, function.identity);
            let listed = match synced.compositions.take().filter(|(key, _)| *key == wanted) {
                Some((_, listed)) => listed,
                None => {
                    list_compositions(function, &bucket, &name, &serve_url, &ctx.settings).await.inspect_err(|_| {
                        // The site is uploaded: remember that even though listing failed.
                        ctx.remember(&uid, synced.clone());
                    })?
                }
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
    set_ready(&mut status, &live, Status::True, "Available", message);
    apply_status(api, &live, FIELD_MANAGER, &status).await?;
    Ok(if source.can_change { Action::requeue(ctx.settings.poll_interval) } else { Action::await_change() })
}

async fn wait_for(api: &Api<RemotionSite>, live: &RemotionSite, wait: Wait) -> Result<Action, Error> {
    let mut status = owned_status(live);
    set_ready(&mut status, live, Status::False, wait.reason, wait.message);
    apply_status(api, live, FIELD_MANAGER, &status).await?;
    Ok(Action::requeue(WAIT_RECHECK))
}

fn scratch_dir(settings: &SiteSettings) -> Result<tempfile::TempDir, Error> {
    let made = match &settings.scratch_dir {
        Some(dir) => tempfile::Builder::new().prefix("remotion-site-").tempdir_in(dir),
        None => tempfile::Builder::new().prefix("remotion-site-").tempdir(),
    };
    made.map_err(|e| Error::transient("ScratchSpaceError", format!("creating a scratch folder for the archive: {e}")))
}

/// What identifies the source's current content, and (for ConfigMaps, read whole to learn
/// it) the archive already on disk.
struct SourceIdentity {
    identity: String,
    can_change: bool,
    fetched: Option<Fetched>,
}

/// File name of the archive in the scratch folder.
const ARCHIVE_FILE: &str = "archive";

async fn source_identity(
    site: &RemotionSite,
    bucket: &ReadyBucket,
    ctx: &SiteContext,
    scratch: &Path,
) -> Result<SourceIdentity, Error> {
    let source = &site.spec.source;
    if let Some(url) = &source.url {
        let digest = source.sha256.clone().unwrap_or_default();
        return Ok(SourceIdentity { identity: format!("url {url} sha256 {digest}"), can_change: false, fetched: None });
    }
    if let Some(reference) = &source.config_map_ref {
        let namespace = site.namespace().unwrap_or_default();
        let fetched = fetch::fetch_config_map(
            ctx.ctx.aws.secrets().as_ref(),
            &namespace,
            &reference.name,
            &reference.key,
            &scratch.join(ARCHIVE_FILE),
            &ctx.settings.fetch,
        )
        .await
        .map_err(fetch_error)?;
        let identity = format!("configMap {}/{} sha256 {}", reference.name, reference.key, fetched.sha256);
        return Ok(SourceIdentity { identity, can_change: true, fetched: Some(fetched) });
    }
    if let Some(object) = &source.s3 {
        let etag = fetch::s3_object_etag(&bucket.clients.s3, &object.bucket, &object.key).await.map_err(fetch_error)?;
        let identity = format!("s3 {}/{} etag {etag}", object.bucket, object.key);
        return Ok(SourceIdentity { identity, can_change: true, fetched: None });
    }
    Err(Error::terminal("InvalidSource", "spec.source needs one of url, configMapRef or s3"))
}

/// Fetch (unless already on disk) → verify → unpack → sync. Returns the bundle's Remotion
/// version and the sync report.
async fn fetch_and_sync(
    site: &RemotionSite,
    name: &SiteName,
    bucket: &ReadyBucket,
    ctx: &SiteContext,
    scratch: &Path,
    fetched: Option<Fetched>,
) -> Result<(Option<String>, SyncReport), Error> {
    let archive_path = scratch.join(ARCHIVE_FILE);
    let source = &site.spec.source;
    let fetched = match (fetched, &source.url, &source.s3) {
        (Some(fetched), _, _) => fetched,
        (None, Some(url), _) => {
            fetch::fetch_url(&ctx.http, url, &archive_path, &ctx.settings.fetch).await.map_err(fetch_error)?
        }
        (None, None, Some(object)) => {
            fetch::fetch_s3(&bucket.clients.s3, &object.bucket, &object.key, &archive_path, &ctx.settings.fetch)
                .await
                .map_err(fetch_error)?
        }
        (None, None, None) => return Err(Error::terminal("InvalidSource", "spec.source has nothing to fetch")),
    };
    verify_sha256(source.sha256.as_deref(), &fetched.sha256)
        .map_err(|e| Error::terminal("DigestMismatch", format!("{e}; nothing was uploaded")))?;

    let unpacked = unpack(&archive_path, &scratch.join("site"), ctx.settings.unpack).await?;
    tracing::info!(
        site = %name,
        files = unpacked.files.len(),
        bytes = unpacked.total_bytes(),
        archive_bytes = fetched.size,
        "archive unpacked, syncing"
    );
    let report =
        sync::sync(&bucket.clients.s3, &bucket.name, name, &unpacked, &ctx.settings.sync).await.map_err(sync_error)?;
    Ok((unpacked.remotion_version, report))
}

async fn unpack(archive: &Path, dest: &Path, limits: archive::UnpackLimits) -> Result<UnpackedSite, Error> {
    let (archive, dest) = (archive.to_path_buf(), dest.to_path_buf());
    tokio::task::spawn_blocking(move || {
        std::fs::create_dir_all(&dest)
            .map_err(|source| ArchiveError::Io { context: "creating the site folder".into(), source })?;
        archive::unpack(&archive, &dest, &limits)
    })
    .await
    .map_err(|e| Error::transient("InternalError", format!("the unpacking task failed: {e}")))?
    .map_err(archive_error)
}

fn fetch_error(e: FetchError) -> Error {
    if e.is_transient() {
        Error::transient(e.reason(), format!("{e}"))
    } else {
        Error::terminal(e.reason(), format!("{e}; nothing was uploaded"))
    }
}

fn archive_error(e: ArchiveError) -> Error {
    if e.is_transient() {
        Error::transient(e.reason(), e.to_string())
    } else {
        Error::terminal(e.reason(), format!("{e}; nothing was uploaded"))
    }
}

fn sync_error(e: SyncError) -> Error {
    Error::transient(e.reason(), e.to_string())
}

/// Asks the function for the site's compositions.
async fn list_compositions(
    function: &ReadyFunction,
    bucket: &ReadyBucket,
    name: &SiteName,
    serve_url: &str,
    settings: &SiteSettings,
) -> Result<Vec<CompositionSummary>, Error> {
    let request = Payload::Compositions(CompositionsRequest {
        protocol_version: PROTOCOL_VERSION,
        site: SiteLocation {
            serve_url: serve_url.to_owned(),
            s3: Some(S3Prefix { bucket: bucket.name.clone(), prefix: keys::site_prefix(name) }),
        },
        input_props: SerializedProps::empty(),
        timeout_ms: settings.compositions_timeout.as_millis().min(u128::from(u64::MAX)) as u64,
    });
    let payload = serde_json::to_value(&request)
        .map_err(|e| Error::transient("InternalError", format!("serializing the compositions request: {e}")))?;
    let answer = invoke_json(&function.clients.lambda_invoke, &function.name, &payload, settings.compositions_timeout)
        .await
        .map_err(|e: InvokeError| Error::transient("CompositionsUnavailable", e.to_string()))?
        .map_err(|reported| {
            Error::transient(
                "CompositionsFailed",
                format!(
                    "{} could not list the compositions: {}: {}",
                    function.name, reported.error_type, reported.error_message
                ),
            )
        })?;
    let response: CompositionsResponse = serde_json::from_value(answer).map_err(|e| {
        Error::transient(
            "CompositionsUnavailable",
            format!("{} answered compositions with an unexpected shape: {e}", function.name),
        )
    })?;
    Ok(response.compositions.into_iter().take(MAX_COMPOSITIONS).map(summary).collect())
}

fn summary(c: remotion_crds::protocol::CompositionMetadata) -> CompositionSummary {
    CompositionSummary {
        id: c.id,
        width: i32::try_from(c.width).unwrap_or(i32::MAX),
        height: i32::try_from(c.height).unwrap_or(i32::MAX),
        fps: c.fps,
        duration_in_frames: i64::try_from(c.duration_in_frames).unwrap_or(i64::MAX),
    }
}

/// Deletion: remove `sites/<siteName>/` unless the LambdaBucket is gone, then the finalizer.
async fn cleanup(api: &Api<RemotionSite>, site: &RemotionSite, ctx: &SiteContext) -> Result<Action, Error> {
    if !has_finalizer(site) {
        return Ok(Action::await_change());
    }
    let namespace = site.namespace().unwrap_or_default();
    let recorded = site.status.as_ref().and_then(|s| s.site_name.clone());
    let name = match recorded.map(SiteName::new) {
        Some(Ok(name)) => Some(name),
        _ => site_name(site).ok(),
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
                    ctx.ctx.events.normal(site, "Deleted", "DeleteSite", note).await;
                }
                Err(e) if e.message.contains("NoSuchBucket") => {
                    tracing::info!(bucket = %bucket_name, "the bucket is gone: nothing to delete");
                }
                Err(e) => return Err(sync_error(e)),
            }
        }
        // The LambdaBucket (or its bucket) is gone, or no site was ever named: nothing to remove.
        _ => tracing::info!(site = %site.name_any(), "no bucket to clean up"),
    }
    ctx.forget(&site.uid().unwrap_or_default());
    remove_finalizer(api, site).await?;
    Ok(Action::await_change())
}

/// Writes the error into the `Ready` condition (False when terminal, Unknown while retried)
/// and publishes a Warning Event for terminal errors.
async fn report_error(api: &Api<RemotionSite>, site: &RemotionSite, ctx: &Context, error: &Error) {
    if error.is_terminal() {
        ctx.events.warning(site, error.kind(), "Reconcile", error.to_string()).await;
    }
    if is_deleting(site) {
        return;
    }
    let live = match api.get_opt(&site.name_any()).await {
        Ok(Some(live)) => live,
        Ok(None) => return,
        Err(e) => {
            tracing::warn!(error = %e, "reading the RemotionSite to report an error failed");
            return;
        }
    };
    let mut status = owned_status(&live);
    let (state, message) = if error.is_terminal() {
        (Status::False, error.to_string())
    } else {
        (Status::Unknown, format!("{error} (retrying)"))
    };
    set_ready(&mut status, &live, state, error.kind(), message);
    if let Err(e) = apply_status(api, &live, FIELD_MANAGER, &status).await {
        tracing::warn!(error = %e, "writing the error condition failed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compositions_are_summarised_for_the_status() {
        let c = remotion_crds::protocol::CompositionMetadata {
            id: "Intro".into(),
            width: 1920,
            height: 1080,
            fps: 30.0,
            duration_in_frames: 150,
            default_codec: None,
            default_out_name: None,
        };
        assert_eq!(
            summary(c),
            CompositionSummary { id: "Intro".into(), width: 1920, height: 1080, fps: 30.0, duration_in_frames: 150 }
        );
    }

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
        assert_eq!(err.kind(), "InvalidSiteName");
    }
}
