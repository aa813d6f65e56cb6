//! `render` and `still`: check the site and function, create the RenderJob, follow it, then
//! report and download — or report the failure, or handle Ctrl-C.

use std::io::IsTerminal as _;
use std::path::PathBuf;

use anyhow::{Context as _, Result, anyhow};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::ResourceExt as _;
use kube::api::PostParams;
use remotion_crds::RenderJob;
use remotion_crds::render_job::{RenderJobSpec, RenderPhase};

use crate::args::{JobArgs, RenderArgs, StillArgs};
use crate::cluster::Cluster;
use crate::follow::{self, Ending};
use crate::progress::Progress;
use crate::spec::{self, Target};
use crate::{Exit, download, format, interrupt, report, resolve};

/// The `render` command.
pub async fn render(cluster: &Cluster, args: RenderArgs) -> Result<Exit> {
    let site = resolve::site(cluster, &args.site, &args.composition).await?;
    let function = resolve::function(cluster, args.job.function.as_deref(), &site).await?;
    let target = Target { site: &args.site, function: &function, composition: &args.composition };
    let spec = spec::video(target, &args.job, &args.video)?;
    run_job(cluster, spec, &args.job, args.output.clone()).await
}

/// The `still` command.
pub async fn still(cluster: &Cluster, args: StillArgs) -> Result<Exit> {
    let site = resolve::site(cluster, &args.site, &args.composition).await?;
    let function = resolve::function(cluster, args.job.function.as_deref(), &site).await?;
    let target = Target { site: &args.site, function: &function, composition: &args.composition };
    let spec = spec::still(target, &args.job, args.frame, args.image_format)?;
    run_job(cluster, spec, &args.job, args.output.clone()).await
}

async fn run_job(cluster: &Cluster, spec: RenderJobSpec, job_args: &JobArgs, output: Option<PathBuf>) -> Result<Exit> {
    let api = cluster.jobs();
    let mut metadata = ObjectMeta { namespace: Some(cluster.namespace.clone()), ..ObjectMeta::default() };
    match &job_args.name {
        Some(name) => metadata.name = Some(name.clone()),
        None => metadata.generate_name = Some(spec::generate_name(&spec.composition)),
    }
    let (site, function, composition) =
        (spec.site_ref.name.clone(), spec.function_ref.name.clone(), spec.composition.clone());
    let job = RenderJob { metadata, spec, status: None };
    let created = api.create(&PostParams::default(), &job).await.map_err(refused)?;
    let name = created.name_any();
    eprintln!(
        "Created renderjob/{name} in namespace {} ({composition} of site {site}, function {function})",
        cluster.namespace
    );

    let mut progress = Progress::new(std::io::stderr().is_terminal());
    let interactive = interrupt::interactive();
    match follow::follow(&api, &name, &mut progress, interactive).await? {
        Ending::Ended(job) => finish(&job, &progress, job_args, output).await,
        Ending::CancelledByUser(job) => {
            match report::phase(&job) {
                Some(RenderPhase::Cancelled) => eprintln!("{}", report::cancelled(&job)),
                _ => eprint!("{}", report::failure(&job)),
            }
            Ok(Exit::Interrupted)
        }
        Ending::Detached => {
            let ns = &cluster.namespace;
            if interactive {
                eprintln!("Left renderjob/{name} rendering. Follow it with `kubectl get rj {name} -n {ns} -w`.");
            } else {
                eprintln!(
                    "Interrupted with no terminal to ask on: renderjob/{name} keeps rendering (not cancelled). \
                     Follow it with `kubectl get rj {name} -n {ns} -w`, stop it with `kubectl remotion cancel {name} -n {ns}`."
                );
            }
            Ok(Exit::Interrupted)
        }
    }
}

/// A job ended: on success the summary and the download, else why it failed.
async fn finish(job: &RenderJob, progress: &Progress, job_args: &JobArgs, output: Option<PathBuf>) -> Result<Exit> {
    if report::phase(job) != Some(RenderPhase::Succeeded) {
        eprint!("{}", report::failure(job));
        return Ok(Exit::Failure);
    }
    print!("{}", report::summary(job, progress.elapsed()));
    if job_args.no_download {
        return Ok(Exit::Success);
    }
    let output_status =
        job.status.as_ref().and_then(|s| s.output.as_ref()).context("the job succeeded without an output")?;
    // An image sequence is a folder of frames: its archive is the one file to download.
    let archive = match (output_status.frames, &output_status.archive) {
        (Some(_), Some(archive)) => Some(remotion_crds::render_job::RenderOutput {
            url: archive.url.clone(),
            s3_uri: archive.s3_uri.clone(),
            size_bytes: archive.size_bytes,
            content_type: archive.content_type.clone(),
            ..Default::default()
        }),
        (Some(frames), None) => {
            println!(
                "  The {frames} frames stay in {}: render with imageSequence.archive for one file to download",
                output_status.s3_uri
            );
            return Ok(Exit::Success);
        }
        (None, _) => None,
    };
    let result = archive.as_ref().unwrap_or(output_status);
    let url = result.url.as_deref().context("the output has no URL to download it from (see the job's Events)")?;
    let dest =
        output.or_else(|| job_args.out.clone()).unwrap_or_else(|| download::default_path(&job.name_any(), result));
    let expected = u64::try_from(result.size_bytes).context("the output's size")?;
    // Following the job installed a Ctrl-C handler; without this branch Ctrl-C would be
    // swallowed for the rest of a long download.
    let size = tokio::select! {
        size = download::download(url, &dest, expected) => {
            size.with_context(|| format!("downloading to {}", dest.display()))?
        }
        _ = tokio::signal::ctrl_c() => {
            let _ = tokio::fs::remove_file(download::part_path(&dest)?).await;
            eprintln!("Download stopped; the output stays in the bucket: {url}");
            return Ok(Exit::Interrupted);
        }
    };
    println!("  Saved:   {} ({})", dest.display(), format::bytes(size));
    Ok(Exit::Success)
}

/// The API server's own words when it refuses the job (validation rules say what to change).
fn refused(error: kube::Error) -> anyhow::Error {
    match error {
        kube::Error::Api(status) => anyhow!("the API server refused the RenderJob: {}", status.message),
        other => anyhow::Error::new(other).context("creating the RenderJob"),
    }
}
