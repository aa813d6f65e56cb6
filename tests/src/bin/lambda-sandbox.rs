//! `lambda-sandbox <memory MB> <disk MB> <program> [args…]`: runs a function process inside
//! the harness's emulation of Lambda's sandbox (see [`remotion_tests::sandbox`]), for the main
//! job (`LAMBDA_SANDBOX=1 scripts/main-job.sh`). The program gets this process's `AWS_*`
//! variables as its Lambda environment. The file holding its peak memory is named on stderr at
//! the start, the peak itself when it ends; this process exits as the program did.

use std::path::Path;

use anyhow::{Context, Result};
use remotion_tests::process::Reaper;
use remotion_tests::sandbox::{self, FunctionSize, Root};

fn main() -> Result<()> {
    let usage = "usage: lambda-sandbox <memory MB> <disk MB> <program> [args…]";
    let mut args = std::env::args().skip(1);
    let memory_mb: u32 = args.next().context(usage)?.parse().context(usage)?;
    let disk_mb: u32 = args.next().context(usage)?.parse().context(usage)?;
    let program = args.next().context(usage)?;
    let lambda_env: Vec<(String, String)> = std::env::vars().filter(|(k, _)| k.starts_with("AWS_")).collect();
    let work = tempfile::tempdir().context("creating the sandbox's work folder")?;
    // Removes the control groups once this process is gone, however it ends.
    let reaper = Reaper::start(work.path())?;
    let (mut command, confinement) = sandbox::confine(
        &reaper,
        Path::new(&program),
        &FunctionSize { memory_mb, disk_mb, limit_cpu: true },
        &Root::Host,
        &lambda_env,
    )?;
    // The main job reads the peak from here while the process runs (it is stopped by a signal).
    eprintln!("lambda-sandbox: peak memory file {}", confinement.peak_memory_file().display());
    let status = command.args(args).status().with_context(|| format!("running {program} in the sandbox"))?;
    eprintln!(
        "lambda-sandbox: peak memory {} MiB of {} MiB{}",
        confinement.peak_memory_bytes()? >> 20,
        confinement.limit_bytes() >> 20,
        if confinement.oom_killed()? { "; killed for memory" } else { "" }
    );
    std::process::exit(status.code().unwrap_or(1));
}
