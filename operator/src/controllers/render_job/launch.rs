//! Launching a job exactly once: its references resolved, its props read and placed, its
//! payload built and its cost estimated, the launch recorded in the status, then the `launch`
//! invocation sent. A job whose spec cannot work ends before anything is written to AWS.

use kube::api::Api;
use kube::runtime::controller::Action;
use kube::{Resource, ResourceExt};
use remotion_crds::common::INPUT_PROPS_SECRET_LABEL;
use remotion_crds::render_job::RenderPhase;
use remotion_crds::{Reason, RenderJob};
use remotion_protocol::keys::{self, RenderId};
use remotion_protocol::payload::Payload;

use super::admission::{self, Decision};
use super::references::{self, Blocked};
use super::status::{self, Verdict};
use super::write::{AFTER_CONFLICT, record_launch, write_unlaunched_status};
use super::{Fetched, JobContext, bucket, destination, estimate, invoke, now, payload, preflight, props};
use crate::reconcile::{Error, add_finalizer, has_finalizer};
use crate::tenancy::outputs;

/// Ends a job before launch (invalid spec, cancelled).
async fn end_before_launch(
    api: &Api<RenderJob>,
    job: &RenderJob,
    ctx: &JobContext,
    phase: RenderPhase,
    reason: Reason,
    message: String,
) -> Result<Action, Error> {
    let current = job.status.clone().unwrap_or_default();
    let verdict = Verdict::Ended { phase, reason, message, doc: None };
    let desired = status::desired(&current, &verdict, job.meta().generation, &now());
    match write_unlaunched_status(api, job, ctx, &desired).await? {
        Some(wait) => Ok(Action::requeue(wait)),
        None => Ok(Action::await_change()),
    }
}

/// Marks a job waiting (`Pending`) and looks again later (the watches on the references
/// usually wake it sooner).
async fn wait(
    api: &Api<RenderJob>,
    job: &RenderJob,
    ctx: &JobContext,
    reason: Reason,
    message: String,
) -> Result<Action, Error> {
    let current = job.status.clone().unwrap_or_default();
    let verdict = Verdict::Waiting { reason, message, estimate: None };
    let desired = status::desired(&current, &verdict, job.meta().generation, &now());
    let wait = write_unlaunched_status(api, job, ctx, &desired).await?;
    Ok(Action::requeue(wait.unwrap_or(ctx.tuning.waiting_recheck)))
}

/// Marks a job `Queued` with its position, and looks again later (a freed slot reconciles it
/// sooner). The recheck stretches with the queue so that refreshing positions stays within
/// the status write budget.
async fn queue(
    api: &Api<RenderJob>,
    job: &RenderJob,
    ctx: &JobContext,
    reason: Reason,
    message: String,
) -> Result<Action, Error> {
    let current = job.status.clone().unwrap_or_default();
    let verdict = Verdict::Queued { reason, message };
    let desired = status::desired(&current, &verdict, job.meta().generation, &now());
    let held_back = write_unlaunched_status(api, job, ctx, &desired).await?;
    let queued = ctx.queued.load(std::sync::atomic::Ordering::Relaxed);
    let budget = f64::from(ctx.progress_writes_per_second.max(1));
    let recheck = ctx.tuning.queued_recheck.max(std::time::Duration::from_secs_f64(queued as f64 / budget));
    Ok(Action::requeue(held_back.map_or(recheck, |wait| wait.min(recheck))))
}

/// Checks, records and sends the launch of a job not launched yet.
pub async fn prepare_and_launch(
    api: &Api<RenderJob>,
    job: &RenderJob,
    ctx: &JobContext,
    namespace: &str,
) -> Result<Action, Error> {
    let generation = job.meta().generation;
    let current = job.status.clone().unwrap_or_default();
    if job.spec.cancel {
        let message = "cancelled before launch: nothing was rendered".to_owned();
        return end_before_launch(api, job, ctx, RenderPhase::Cancelled, Reason::Cancelled, message).await;
    }
    if let Some(message) = job.spec.webhook.as_ref().and_then(super::webhook::invalid) {
        return end_before_launch(api, job, ctx, RenderPhase::Failed, Reason::InvalidWebhook, message).await;
    }
    let fetched = Fetched::get(ctx, namespace, job).await?;
    let resolved = match references::resolve(&job.spec, fetched.found()) {
        Ok(resolved) => resolved,
        Err(Blocked::Invalid { reason, message }) => {
            return end_before_launch(api, job, ctx, RenderPhase::Failed, reason, message).await;
        }
        Err(Blocked::Waiting { reason, message }) => return wait(api, job, ctx, reason, message).await,
    };
    let id = RenderId::from_uid(&job.uid().unwrap_or_default())
        .map_err(|e| Error::caused_by(Reason::InvalidUid, "deriving the render id", e))?;
    if ctx.memory.of(id.as_str()).launch.is_some() {
        // Launched by this process already; the cache has not caught up with the status
        // write that recorded it yet.
        return Ok(Action::requeue(ctx.tuning.poll_interval));
    }

    // Props: read and checked before anything is written, so a bad ConfigMap fails cleanly.
    let serialized = match read_props(job, ctx, namespace).await {
        Ok(serialized) => serialized,
        Err(PropsProblem::Missing(message)) => return wait(api, job, ctx, Reason::InputPropsNotFound, message).await,
        Err(PropsProblem::NotAllowed(message)) => {
            return wait(api, job, ctx, Reason::InputPropsNotAllowed, message).await;
        }
        Err(PropsProblem::Invalid(message)) => {
            return end_before_launch(api, job, ctx, RenderPhase::Failed, Reason::InvalidInputProps, message).await;
        }
        Err(PropsProblem::Api(error)) => return Err(error),
    };
    // The namespace's key rules guard buckets namespaces share; a store of the job's own is
    // no one else's.
    let custom_keys: Vec<String> = match job.spec.output.as_ref().filter(|o| o.store.is_none()) {
        Some(output) => output.key.iter().chain(&output.separate_audio_to).cloned().collect(),
        None => Vec::new(),
    };
    for key in &custom_keys {
        if let Err(refusal) = outputs::check_key(ctx.shared.aws.policy(), namespace, &id, key) {
            let message = refusal.to_string();
            return end_before_launch(api, job, ctx, RenderPhase::Failed, Reason::OutputKeyNotAllowed, message).await;
        }
    }
    let env_bytes = serde_json::to_string(&job.spec.env_variables).map_or(0, |s| s.len());
    let placed = props::place(serialized, env_bytes, &id);
    let mut request = match payload::request(&job.spec, &id, &resolved, placed.payload.clone()) {
        Ok(request) => request,
        Err(e) => {
            return end_before_launch(api, job, ctx, RenderPhase::Failed, Reason::InvalidSpec, e.to_string()).await;
        }
    };
    // A store of the job's own: its keys, read now. A missing Secret holds the job Pending; a
    // store the admin's policy refuses fails it.
    if let Some(store) = destination::store_of(job) {
        let keys = match destination::clients(ctx, namespace, store, destination::Purpose::Use).await {
            Ok(clients) => destination::payload_store(store, &clients).await,
            Err(error) => Err(error),
        };
        match keys {
            Ok(keys) => {
                request.output.bucket = Some(store.bucket.clone());
                request.output.store = Some(keys);
            }
            Err(error) if matches!(error.reason(), Reason::IdentityNotAllowed | Reason::EndpointNotAllowed) => {
                return end_before_launch(api, job, ctx, RenderPhase::Failed, error.reason(), error.report()).await;
            }
            Err(error) => return wait(api, job, ctx, error.reason(), error.report()).await,
        }
    }
    if let Some(name) = destination::bucket_ref_of(job) {
        match destination::other_bucket(ctx, namespace, job, name, &resolved.bucket.aws.region).await? {
            Ok(bucket_name) => request.output.bucket = Some(bucket_name),
            Err(Blocked::Invalid { reason, message }) => {
                return end_before_launch(api, job, ctx, RenderPhase::Failed, reason, message).await;
            }
            Err(Blocked::Waiting { reason, message }) => return wait(api, job, ctx, reason, message).await,
        }
    }

    // A slot of the function the chunks render on, or a place in its queue. Nothing has been
    // written to AWS yet.
    let Some(function) = fetched.renderer.as_ref().or(fetched.function.as_ref()) else {
        return Err(Error::new(Reason::InternalError, "a resolved job has no function"));
    };
    let wanted = admission::wanted_slots(&job.spec, resolved.composition.as_ref().map(|c| c.duration_in_frames));
    let slots = match ctx.admission.decide(&ctx.jobs, &ctx.references, job, function, wanted) {
        Decision::Admit { slots } => slots,
        Decision::Wait { reason, message } => return queue(api, job, ctx, reason, message).await,
    };
    if let Some(slots) = slots {
        request.renderer.max_concurrency = admission::chunk_slots(&job.spec, slots);
    }

    let bucket_clients = ctx.shared.aws.clients(namespace, &resolved.bucket.aws).await?;
    let function_clients = ctx.shared.aws.clients(namespace, &resolved.function.aws).await?;
    let s3 = &bucket_clients.s3;
    let bucket_name = &resolved.bucket.name;

    // A profile measures the composition at its own size, rate and length: a render that
    // forces others is neither checked nor priced by it (the function does not plan by it).
    let profile = match keys::optimization(&resolved.site, &job.spec.composition) {
        Ok(key) if request.overrides.is_empty() => ctx.profiles.get(s3, bucket_name, &key).await,
        _ => None,
    };
    if let Some(profile) = &profile {
        let frames = resolved.composition.as_ref().and_then(|c| u64::try_from(c.duration_in_frames).ok());
        let function_ref = &job.spec.renderer_function_ref.as_ref().unwrap_or(&job.spec.function_ref).name;
        let chunks = resolved.chunk_function();
        if let Err(blocked) = preflight::check_chunk_time(&job.spec, frames, chunks, profile, function_ref) {
            let message = blocked.message().to_owned();
            return end_before_launch(api, job, ctx, RenderPhase::Failed, blocked.reason(), message).await;
        }
    }
    let estimate = profile.and_then(|profile| estimate::before_launch(&job.spec, &resolved, &profile).ok());
    if let Some((key, body)) = &placed.upload {
        bucket::put(s3, bucket_name, key, body.clone().into_bytes(), "application/json", job.spec.delete_after).await?;
    }
    if job.spec.delete_after.is_some() && !resolved.bucket.expiry_enabled {
        let message = format!(
            "deleteAfter is set but LambdaBucket {} has no expiry rules (spec.expiry.enabled): the render's files will stay",
            fetched.bucket.as_ref().map(|b| b.name_any()).unwrap_or_default()
        );
        ctx.shared.events.warning(job, Reason::ExpiryDisabled, "Launch", message).await;
    }

    // The finalizer first: a job deleted from now on still gets its render cancelled.
    let job = &if has_finalizer(job) { job.clone() } else { add_finalizer(api, job).await? };
    // The patch answers with the job as it is now, and a launch recorded since it was read
    // (by the admitted lane, or a previous leader) is in it: the record below would pass the
    // resourceVersion check and launch the render a second time.
    if super::launched(job) {
        tracing::info!(render_id = %id, "launched by another writer since it was read; following it");
        return Ok(Action::requeue(ctx.tuning.poll_interval));
    }
    // Record the launch before sending it: a restarted operator must never launch twice.
    let mut record = current.clone();
    record.render_id = Some(id.to_string());
    record.bucket_name = Some(bucket_name.clone());
    record.invocation_slots = slots.and_then(|s| i32::try_from(s).ok());
    let verdict = Verdict::Launched { started_at: now(), estimate };
    let desired = status::desired(&record, &verdict, generation, &now());
    if !record_launch(api, job, ctx, &desired).await? {
        // Changed since it was read (by another writer, or the cache was behind): it may have
        // been launched already. Look again once the cache has the change.
        tracing::info!(render_id = %id, "the job changed before its launch was recorded; looking again");
        ctx.admission.launch_again(job, AFTER_CONFLICT);
        return Ok(Action::requeue(ctx.tuning.poll_interval));
    }

    invoke::spawn(
        &ctx.memory,
        function_clients.lambda_invoke.clone(),
        resolved.function.name.clone(),
        id.to_string(),
        &Payload::Launch(request),
    )
    .map_err(|e| Error::caused_by(Reason::InvalidPayload, "serializing the launch payload", e))?;
    tracing::info!(render_id = %id, function = resolved.function.name, "launched");
    Ok(Action::requeue(ctx.tuning.poll_interval))
}

/// Why the props could not be read.
enum PropsProblem {
    /// The ConfigMap/Secret or its key does not exist (yet).
    Missing(String),
    /// The Secret is not labelled for use as input props.
    NotAllowed(String),
    /// They are not a JSON object.
    Invalid(String),
    /// Reading them failed.
    Api(Error),
}

/// The job's props, serialized (a JSON object).
async fn read_props(job: &RenderJob, ctx: &JobContext, namespace: &str) -> Result<String, PropsProblem> {
    let origin = props::origin(&job.spec);
    let invalid = |e: props::PropsError| PropsProblem::Invalid(e.to_string());
    let secrets = ctx.shared.aws.secrets();
    let (found, key) = match &origin {
        props::PropsOrigin::Defaults => return Ok("{}".to_owned()),
        props::PropsOrigin::Inline => {
            let value = job.spec.input_props.clone().unwrap_or_default();
            return props::serialize(&value, &origin).map_err(invalid);
        }
        props::PropsOrigin::ConfigMap { name, key } => (secrets.config_map(namespace, name).await, key),
        props::PropsOrigin::Secret { name, key } => (secrets.secret(namespace, name).await, key),
    };
    let data = found
        .map_err(|e| PropsProblem::Api(Error::Kube(e)))?
        .ok_or_else(|| PropsProblem::Missing(format!("waiting for {origin} to exist")))?;
    if let props::PropsOrigin::Secret { name, .. } = &origin
        && data.labels.get(INPUT_PROPS_SECRET_LABEL).map(String::as_str) != Some("true")
    {
        return Err(PropsProblem::NotAllowed(format!(
            "Secret {name} is not labelled {INPUT_PROPS_SECRET_LABEL}=true; RenderJobs read only Secrets labelled \
             for input props: `kubectl label secret {name} {INPUT_PROPS_SECRET_LABEL}=true`"
        )));
    }
    let bytes = data.data.get(key).ok_or_else(|| PropsProblem::Missing(format!("waiting for {origin} to exist")))?;
    let text = std::str::from_utf8(bytes).map_err(|_| PropsProblem::Invalid(format!("{origin} is not UTF-8 text")))?;
    props::from_text(text, &origin).map_err(invalid)
}
