//! `kubectl remotion`: a command line for video developers on top of remotion-operator.
//!
//! `render` and `still` create a RenderJob from flags named like `npx remotion lambda render`
//! and `still`, follow it to its end with a progress display and download the output; `sites`
//! lists the RemotionSites and their compositions; `cancel` stops a render; `logs` shows a
//! job's conditions, errors and Events. Everything goes through the Kubernetes API with the
//! caller's kubeconfig, like kubectl: the plugin needs no AWS credentials.
//!
//! Code map:
//! - [`args`]: the command line (clap), [`spec`]: flags → `RenderJobSpec`, [`props`]: `--props`,
//!   [`env_file`]: `--env-file`;
//! - [`cluster`]: the client and namespace from the kubeconfig, like kubectl;
//! - [`render`]: `render` and `still` from start to end, picking the site and function
//!   ([`resolve`]), following the job ([`follow`], shown by [`progress`], Ctrl-C in
//!   [`interrupt`]), reporting ([`report`]) and downloading ([`download`]);
//! - [`sites`], [`cancel`], [`logs`]: the other commands; [`table`] and [`format`] print.

pub mod args;
pub mod cancel;
pub mod cluster;
pub mod download;
pub mod env_file;
pub mod follow;
pub mod format;
pub mod interrupt;
pub mod logs;
pub mod progress;
pub mod props;
pub mod render;
pub mod report;
pub mod resolve;
pub mod sites;
pub mod spec;
pub mod table;

use args::{Cli, Command};

/// How a command ended, as the process's exit status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// Done (for `render`/`still`: succeeded and downloaded).
    Success,
    /// The render failed or was cancelled, or the command could not do its job.
    Failure,
    /// Stopped with Ctrl-C.
    Interrupted,
}

impl Exit {
    /// The process exit status: 0, 1, or 130 (128 + SIGINT, as shells report an interrupt).
    pub fn code(self) -> i32 {
        match self {
            Self::Success => 0,
            Self::Failure => 1,
            Self::Interrupted => 130,
        }
    }
}

/// Runs one command; errors are returned for `main` to print.
pub async fn run(cli: Cli) -> anyhow::Result<Exit> {
    let cluster = cluster::connect(&cli.kube).await?;
    match cli.command {
        Command::Render(args) => render::render(&cluster, *args).await,
        Command::Still(args) => render::still(&cluster, *args).await,
        Command::Sites(args) => sites::run(&cluster, &args).await,
        Command::Cancel(args) => cancel::run(&cluster, &args).await,
        Command::Logs(args) => logs::run(&cluster, &args).await,
    }
}
