//! Following one RenderJob to its end: a watch of that object alone, shown by [`Progress`],
//! with Ctrl-C handled as [`interrupt`] says.

use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use futures::StreamExt as _;
use kube::Api;
use kube::runtime::{WatchStreamExt as _, watcher};
use remotion_crds::RenderJob;

use crate::interrupt::{self, Choice};
use crate::progress::Progress;
use crate::{cancel, report};

/// Consecutive watch errors after which following gives up (a missing permission, an API
/// server gone); single errors are retried with backoff.
const MAX_WATCH_ERRORS: usize = 5;

/// How following a job ended.
#[derive(Debug)]
pub enum Ending {
    /// The job reached a terminal phase.
    Ended(Box<RenderJob>),
    /// Ctrl-C, answered yes: the job was cancelled and has stopped (or ended otherwise first).
    CancelledByUser(Box<RenderJob>),
    /// Ctrl-C, answered no (or no terminal to ask on): the render goes on.
    Detached,
}

/// Follows `name` until it ends or the user interrupts.
pub async fn follow(api: &Api<RenderJob>, name: &str, progress: &mut Progress, interactive: bool) -> Result<Ending> {
    let mut updates = watcher::watch_object(api.clone(), name).default_backoff().boxed();
    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    let mut cancelling = false;
    let mut errors = 0;
    loop {
        tokio::select! {
            update = updates.next() => match update {
                None => bail!("the watch of renderjob/{name} ended"),
                Some(Err(error)) => {
                    errors += 1;
                    if errors >= MAX_WATCH_ERRORS {
                        progress.clear();
                        return Err(error).with_context(|| format!("watching renderjob/{name}"));
                    }
                }
                Some(Ok(None)) => {
                    progress.clear();
                    bail!("renderjob/{name} was deleted");
                }
                Some(Ok(Some(job))) => {
                    errors = 0;
                    progress.update(&job);
                    if report::phase(&job).is_some_and(|p| p.is_terminal()) {
                        progress.clear();
                        let job = Box::new(job);
                        return Ok(if cancelling { Ending::CancelledByUser(job) } else { Ending::Ended(job) });
                    }
                }
            },
            _ = ticker.tick() => progress.tick(),
            _ = tokio::signal::ctrl_c() => {
                progress.clear();
                if cancelling {
                    // A second Ctrl-C while cancelling: the cancel is written, stop waiting.
                    return Ok(Ending::Detached);
                }
                match interrupt::ask(interactive).await {
                    Choice::Cancel => {
                        cancel::request(api, name).await?;
                        eprintln!("Cancelling renderjob/{name} (Ctrl-C again to stop waiting)…");
                        cancelling = true;
                    }
                    Choice::Detach => return Ok(Ending::Detached),
                }
            }
        }
    }
}
