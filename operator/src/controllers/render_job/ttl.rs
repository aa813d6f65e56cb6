//! Finished jobs clean up, as Jobs do with `ttlSecondsAfterFinished`: a RenderJob that ended
//! (Succeeded, Failed, Cancelled) is deleted once its TTL, or the operator's default, has
//! passed since it finished. Its output stays in the bucket: deleting the resource is about
//! keeping the API server's list of jobs short, not about the files.

use std::time::Duration;

use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, DeleteParams, Preconditions};
use kube::runtime::controller::Action;
use kube::{Resource, ResourceExt};
use remotion_crds::RenderJob;
use remotion_crds::common::{condition_type, find_condition};

use crate::reconcile::Error;

/// A deletion refused because the job changed since it was read: looked at again this soon
/// (the watch brings the change meanwhile).
const RETRY_AFTER_CHANGE: Duration = Duration::from_secs(1);

/// How long a job lives after it finished: its own `ttlSecondsAfterFinished`, else `default`.
pub fn ttl_of(job: &RenderJob, default: Option<Duration>) -> Option<Duration> {
    match job.spec.ttl_seconds_after_finished {
        Some(seconds) => Some(Duration::from_secs(u64::try_from(seconds).unwrap_or(0))),
        None => default,
    }
}

/// When the job finished: its `completedAt`, else when `Ready` last changed (a job that ended
/// before launch), else when it was created.
pub fn finished_at(job: &RenderJob) -> Option<Timestamp> {
    let status = job.status.as_ref();
    status
        .and_then(|s| s.completed_at.as_ref())
        .or_else(|| {
            status.and_then(|s| find_condition(&s.conditions, condition_type::READY)).map(|c| &c.last_transition_time)
        })
        .map(|t| t.0)
        .or_else(|| job.metadata.creation_timestamp.as_ref().map(|t| t.0))
}

/// How long until a finished job is due for deletion (zero: now); `None` when it is kept.
pub fn due_in(job: &RenderJob, default: Option<Duration>, now: Timestamp) -> Option<Duration> {
    let ttl = ttl_of(job, default)?;
    let finished = finished_at(job)?;
    let elapsed = Duration::try_from(now.duration_since(finished)).unwrap_or_default();
    Some(ttl.saturating_sub(elapsed))
}

/// Deletes a finished job whose time has come, or looks again when it will have.
pub async fn collect(api: &Api<RenderJob>, job: &RenderJob, default: Option<Duration>) -> Result<Action, Error> {
    let Some(wait) = due_in(job, default, Timestamp::now()) else { return Ok(Action::await_change()) };
    if !wait.is_zero() {
        return Ok(Action::requeue(wait));
    }
    // Only the job as it was judged: one whose TTL was just raised, or a new job of the same
    // name, is not deleted.
    let preconditions = Preconditions { uid: job.uid(), resource_version: job.meta().resource_version.clone() };
    let params = DeleteParams { preconditions: Some(preconditions), ..DeleteParams::background() };
    match api.delete(&job.name_any(), &params).await {
        Ok(_) => {
            tracing::info!(job = %job.name_any(), namespace = ?job.namespace(), "deleted: its ttlSecondsAfterFinished passed");
            Ok(Action::await_change())
        }
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(Action::await_change()),
        Err(kube::Error::Api(status)) if status.code == 409 => Ok(Action::requeue(RETRY_AFTER_CHANGE)),
        Err(error) => Err(error.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
    use remotion_crds::render_job::RenderJobStatus;

    fn job(ttl: Option<i32>, completed: Option<&str>) -> RenderJob {
        let mut job = RenderJob::new("j", crate::controllers::render_job::references::tests::spec());
        job.spec.ttl_seconds_after_finished = ttl;
        job.metadata.creation_timestamp = Some(Time("2026-12-01T00:00:00Z".parse().expect("a time")));
        job.status = Some(RenderJobStatus {
            completed_at: completed.map(|t| Time(t.parse().expect("a time"))),
            ..RenderJobStatus::default()
        });
        job
    }

    fn at(s: &str) -> Timestamp {
        s.parse().expect("a time")
    }

    #[test]
    fn the_jobs_own_ttl_wins_over_the_default() {
        let hour = Some(Duration::from_secs(3600));
        let finished = job(Some(60), Some("2026-12-02T10:00:00Z"));
        assert_eq!(due_in(&finished, hour, at("2026-12-02T10:00:20Z")), Some(Duration::from_secs(40)));
        assert_eq!(due_in(&finished, hour, at("2026-12-02T11:00:00Z")), Some(Duration::ZERO));
        let defaulted = job(None, Some("2026-12-02T10:00:00Z"));
        assert_eq!(due_in(&defaulted, hour, at("2026-12-02T10:30:00Z")), Some(Duration::from_secs(1800)));
        assert_eq!(due_in(&defaulted, None, at("2026-12-02T10:30:00Z")), None);
        // Zero: at once, as on a Job.
        assert_eq!(
            due_in(&job(Some(0), Some("2026-12-02T10:00:00Z")), None, at("2026-12-02T10:00:00Z")),
            Some(Duration::ZERO)
        );
    }

    #[test]
    fn a_job_that_ended_before_launch_counts_from_when_it_was_created_at_worst() {
        let never_launched = job(Some(60), None);
        assert_eq!(finished_at(&never_launched), Some(at("2026-12-01T00:00:00Z")));
        assert_eq!(due_in(&never_launched, None, at("2026-12-02T00:00:00Z")), Some(Duration::ZERO));
    }
}
