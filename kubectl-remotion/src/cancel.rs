//! `cancel JOB`: sets `spec.cancel` (the one field of a running job's spec that may change)
//! and waits until the job reports it has stopped.

use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use futures::StreamExt as _;
use kube::Api;
use kube::api::{Patch, PatchParams};
use kube::runtime::{WatchStreamExt as _, watcher};
use remotion_crds::RenderJob;
use remotion_crds::render_job::RenderPhase;
use serde_json::json;

use crate::args::CancelArgs;
use crate::cluster::Cluster;
use crate::{Exit, report};

/// Asks the operator to cancel the render (a merge patch of `spec.cancel`).
pub async fn request(api: &Api<RenderJob>, name: &str) -> Result<()> {
    api.patch(name, &PatchParams::default(), &Patch::Merge(json!({"spec": {"cancel": true}})))
        .await
        .with_context(|| format!("setting spec.cancel of renderjob/{name}"))?;
    Ok(())
}

/// Waits until `name` is in a terminal phase.
pub async fn wait_ended(api: &Api<RenderJob>, name: &str, timeout: Duration) -> Result<RenderJob> {
    let watch = async {
        let mut updates = watcher::watch_object(api.clone(), name).default_backoff().boxed();
        while let Some(update) = updates.next().await {
            match update {
                Ok(Some(job)) if report::phase(&job).is_some_and(|p| p.is_terminal()) => return Ok(job),
                Ok(Some(_)) | Err(_) => {}
                Ok(None) => bail!("renderjob/{name} was deleted"),
            }
        }
        bail!("the watch of renderjob/{name} ended")
    };
    tokio::time::timeout(timeout, watch).await.with_context(|| {
        format!(
            "renderjob/{name} has not stopped within {} s; `kubectl get rj {name} -w` follows it",
            timeout.as_secs()
        )
    })?
}

/// The `cancel` command.
pub async fn run(cluster: &Cluster, args: &CancelArgs) -> Result<Exit> {
    let api = cluster.jobs();
    let name = &args.job;
    let job = api.get(name).await.with_context(|| format!("reading renderjob/{name} in {}", cluster.namespace))?;
    if let Some(phase) = report::phase(&job).filter(|p| p.is_terminal()) {
        println!("renderjob/{name} already ended ({phase:?}): nothing to cancel");
        return Ok(Exit::Success);
    }
    request(&api, name).await?;
    if args.no_wait {
        println!("renderjob/{name}: cancel requested");
        return Ok(Exit::Success);
    }
    eprintln!("Cancelling renderjob/{name}…");
    let job = wait_ended(&api, name, Duration::from_secs(args.wait_timeout)).await?;
    match report::phase(&job) {
        Some(RenderPhase::Cancelled) => {
            println!("{}", report::cancelled(&job));
            Ok(Exit::Success)
        }
        other => {
            eprintln!("renderjob/{name} ended {other:?} before the cancel took effect");
            Ok(Exit::Failure)
        }
    }
}
