//! Lambda's execution environment, emulated around a function process: what a container image
//! meets on Lambda, built with bubblewrap and a memory/CPU control group.
//!
//! - the root filesystem read-only; `/tmp` the only writable place, a tmpfs sized to the
//!   function's ephemeral storage;
//! - no `/dev/shm` (only the character devices a runtime needs), a private `/proc`;
//! - a non-root user (Lambda's `sbx_user1051`, uid 993), no `HOME`, and only Lambda's
//!   environment variables plus the ones the caller configures on the function;
//! - memory capped at the function's memory size, and (where [`FunctionSize::limit_cpu`] asks)
//!   CPU in proportion to it: Lambda gives one vCPU at 1,769 MB (a CFS quota of
//!   `memory / 1769` CPUs).
//!
//! The tmpfs' pages count toward the memory limit here, which is stricter than Lambda (whose
//! `/tmp` is disk); the peak reported by [`Confinement::peak_memory_bytes`] includes them.
//!
//! On by default for every function process the harness starts; `REMOTION_TEST_SANDBOX=off`
//! runs them unconfined (for machines without bubblewrap or a writable cgroup hierarchy).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use anyhow::{Context, Result, bail};

use crate::process::{Reaper, shell_quote};

/// Lambda's unprivileged user and group (`sbx_user1051`).
pub const LAMBDA_UID: u32 = 993;

/// Memory that buys one full vCPU on Lambda, MB.
const MB_PER_VCPU: u64 = 1769;

/// The CFS period the quota is a share of, µs.
const CPU_PERIOD_US: u64 = 100_000;

/// Variables of the harness's own environment a sandboxed process still gets: logging and the
/// project's own knobs (`REMOTION_CHROMIUM`, …), never the machine's `HOME` or `PATH`.
const PASSED_THROUGH_PREFIXES: &[&str] = &["RUST_LOG", "RUST_BACKTRACE", "REMOTION_"];

/// Whether function processes run confined (the default).
pub fn enabled() -> bool {
    std::env::var("REMOTION_TEST_SANDBOX").map_or(true, |v| v != "off" && v != "0")
}

/// What the function is configured with on Lambda.
#[derive(Clone, Debug)]
pub struct FunctionSize {
    /// `MemorySize`, MB.
    pub memory_mb: u32,
    /// `EphemeralStorage.Size` (`/tmp`), MB.
    pub disk_mb: u32,
    /// Whether CPU is capped at Lambda's share of the memory size. On for measurements; off
    /// for the many processes of the ordinary tests: on a small machine shared by parallel
    /// tests, CFS quotas throttle Chromium's threads in bursts and stretch renders many
    /// times over, which measures the machine rather than the code.
    pub limit_cpu: bool,
}

/// The root filesystem a sandboxed function process sees.
#[derive(Clone, Debug, Default)]
pub enum Root {
    /// The machine's own, read-only, with the binary run where it was built.
    #[default]
    Host,
    /// The function image's filesystem ([`FunctionImage`]), the binary mounted as its bootstrap.
    Image(FunctionImage),
}

/// Where the function image keeps its entry point (`function/Dockerfile`).
pub const IMAGE_BOOTSTRAP: &str = "/var/runtime/bootstrap";

/// The runtime filesystem of the function's image, built from its Debian package list by
/// `scripts/function-rootfs.sh`, with the environment the Dockerfile's `ENV` gives the image.
#[derive(Clone, Debug)]
pub struct FunctionImage {
    /// The filesystem's folder.
    pub rootfs: PathBuf,
    /// The image's `ENV` variables.
    pub env: Vec<(String, String)>,
}

impl FunctionImage {
    /// Builds the filesystem (or finds it cached) and reads the image's environment.
    pub fn prepare() -> Result<Self> {
        let root = crate::paths::repo_root();
        let output = Command::new("bash")
            .arg(root.join("scripts/function-rootfs.sh"))
            .stderr(std::process::Stdio::inherit())
            .output()
            .context("running scripts/function-rootfs.sh")?;
        if !output.status.success() {
            bail!("scripts/function-rootfs.sh failed ({})", output.status);
        }
        let rootfs = PathBuf::from(String::from_utf8(output.stdout)?.trim());
        let dockerfile =
            std::fs::read_to_string(root.join("function/Dockerfile")).context("reading function/Dockerfile")?;
        Ok(Self { rootfs, env: image_env(&dockerfile) })
    }

    /// Size of the filesystem on disk, bytes (the image's size less the binary).
    pub fn size_bytes(&self) -> Result<u64> {
        let output = Command::new("du").arg("-sxb").arg(&self.rootfs).output().context("running du")?;
        let text = String::from_utf8_lossy(&output.stdout);
        text.split_whitespace()
            .next()
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| anyhow::anyhow!("du printed {text:?}"))
    }
}

/// The `ENV` variables of a Dockerfile's last stage (`ENV A=1 \` continued over lines).
fn image_env(dockerfile: &str) -> Vec<(String, String)> {
    let last_stage = dockerfile.rsplit_once("\nFROM ").map_or(dockerfile, |(_, stage)| stage);
    let mut joined = String::new();
    for line in last_stage.lines().filter(|l| !l.trim_start().starts_with('#')) {
        match line.trim_end().strip_suffix('\\') {
            Some(continued) => joined.push_str(continued),
            None => {
                joined.push_str(line);
                joined.push('\n');
            }
        }
    }
    joined
        .lines()
        .filter_map(|l| l.trim().strip_prefix("ENV "))
        .flat_map(|assignments| assignments.split_whitespace())
        .filter_map(|a| a.split_once('=').map(|(k, v)| (k.to_owned(), v.trim_matches('"').to_owned())))
        .collect()
}

/// The control groups one sandboxed process runs in; read for its peak memory.
#[derive(Debug)]
pub struct Confinement {
    cgroups: Cgroups,
    limit_bytes: u64,
}

impl Drop for Confinement {
    /// Removes the groups when their processes are gone already (the kernel refuses while any
    /// remain; the reaper removes those when the test binary exits).
    fn drop(&mut self) {
        for dir in self.cgroups.dirs() {
            let _ = std::fs::remove_dir(dir);
        }
    }
}

impl Confinement {
    /// Peak memory of the process and everything it started (Chromium included), bytes.
    pub fn peak_memory_bytes(&self) -> Result<u64> {
        self.cgroups.peak_memory()
    }

    /// The file the kernel keeps that peak in (bytes), for scripts that read it themselves.
    pub fn peak_memory_file(&self) -> PathBuf {
        self.cgroups.peak_memory_file()
    }

    /// The memory limit, bytes.
    pub fn limit_bytes(&self) -> u64 {
        self.limit_bytes
    }

    /// Whether the kernel had to kill a process of the sandbox for memory.
    pub fn oom_killed(&self) -> Result<bool> {
        self.cgroups.oom_killed()
    }

    /// The processes in the sandbox now (host PIDs).
    pub fn pids(&self) -> Result<Vec<u32>> {
        let file = PathBuf::from(&self.cgroups.procs_files()[0]);
        let text = std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
        Ok(text.lines().filter_map(|l| l.trim().parse().ok()).collect())
    }
}

/// A command that runs `binary` inside Lambda's emulated environment, with `lambda_env` as its
/// whole environment (plus the pass-through variables), and the confinement to read it by.
pub fn confine(
    reaper: &Reaper,
    binary: &Path,
    size: &FunctionSize,
    root: &Root,
    lambda_env: &[(String, String)],
) -> Result<(Command, Confinement)> {
    let bwrap = which("bwrap").context(
        "the Lambda sandbox needs bubblewrap (apt-get install bubblewrap); \
         REMOTION_TEST_SANDBOX=off runs function processes unconfined",
    )?;
    let limit_bytes = u64::from(size.memory_mb) * 1024 * 1024;
    let quota_us = size.limit_cpu.then(|| CPU_PERIOD_US * u64::from(size.memory_mb) / MB_PER_VCPU);
    let cgroups = Cgroups::create(limit_bytes, quota_us)?;
    reaper.on_exit(cgroups.removal())?;

    let mut args: Vec<String> = Vec::new();
    let mut push = |items: &[&str]| args.extend(items.iter().map(|s| (*s).to_owned()));
    push(&["--unshare-all", "--share-net", "--die-with-parent", "--new-session"]);
    push(&["--uid", &LAMBDA_UID.to_string(), "--gid", &LAMBDA_UID.to_string()]);
    let (program, image_env) = match root {
        Root::Host => {
            push(&["--ro-bind", "/", "/"]);
            (binary.to_string_lossy().into_owned(), Vec::new())
        }
        Root::Image(image) => {
            push(&["--ro-bind", &image.rootfs.to_string_lossy(), "/"]);
            push(&["--ro-bind", &binary.to_string_lossy(), IMAGE_BOOTSTRAP]);
            (IMAGE_BOOTSTRAP.to_owned(), image.env.clone())
        }
    };
    push(&["--proc", "/proc"]);
    // A /dev of the character devices only: no /dev/shm, as on Lambda.
    push(&["--tmpfs", "/dev"]);
    for device in ["null", "zero", "full", "random", "urandom", "tty"] {
        let path = format!("/dev/{device}");
        push(&["--dev-bind", &path, &path]);
    }
    for (link, target) in [
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    ] {
        push(&["--symlink", target, &format!("/dev/{link}")]);
    }
    push(&["--remount-ro", "/dev"]);
    let tmp_bytes = u64::from(size.disk_mb) * 1024 * 1024;
    push(&["--size", &tmp_bytes.to_string(), "--perms", "1777", "--tmpfs", "/tmp"]);
    push(&["--chdir", "/tmp", "--clearenv"]);
    for (name, value) in image_env.into_iter().chain(environment(lambda_env)) {
        push(&["--setenv", &name, &value]);
    }
    push(&["--", &program]);

    // The shell joins the control groups, then becomes bwrap: everything the sandbox starts is
    // counted from its first instruction.
    let join: String = cgroups.procs_files().iter().map(|f| format!("echo $$ > {} && ", shell_quote(f))).collect();
    let script = format!("{join}exec {} \"$@\"", shell_quote(&bwrap.to_string_lossy()));
    let mut command = Command::new("sh");
    command.arg("-c").arg(script).arg("sh").args(args).env_clear();
    Ok((command, Confinement { cgroups, limit_bytes }))
}

/// The environment inside: Lambda's own variables for a container image, the function's, and
/// the harness's pass-through ones (after the image's own `ENV`). No `HOME`: Lambda sets none.
fn environment(lambda_env: &[(String, String)]) -> Vec<(String, String)> {
    let mut vars: Vec<(String, String)> = [
        ("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"),
        ("LANG", "en_US.UTF-8"),
        ("TZ", ":UTC"),
        ("LAMBDA_TASK_ROOT", "/var/task"),
        ("LAMBDA_RUNTIME_DIR", "/var/runtime"),
        ("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand"),
        ("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/sandboxed"),
        ("AWS_LAMBDA_LOG_STREAM_NAME", "2026/01/01/[$LATEST]sandboxed"),
        ("_HANDLER", "bootstrap"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    for (name, value) in std::env::vars() {
        if PASSED_THROUGH_PREFIXES.iter().any(|p| name.starts_with(p)) && name != "REMOTION_TEST_SANDBOX" {
            vars.push((name, value));
        }
    }
    vars.extend(lambda_env.iter().cloned());
    if let Some((_, region)) = vars.iter().find(|(k, _)| k == "AWS_REGION").cloned() {
        vars.push(("AWS_DEFAULT_REGION".to_owned(), region));
    }
    vars
}

/// A memory and a CPU control group of their own, in whichever hierarchy the machine has.
#[derive(Debug)]
enum Cgroups {
    /// cgroup v1: one directory in each controller's hierarchy.
    V1 { memory: PathBuf, cpu: PathBuf },
    /// cgroup v2: one directory in the unified hierarchy.
    V2 { dir: PathBuf },
}

const CGROUP_ROOT: &str = "/sys/fs/cgroup";
const GROUP_PARENT: &str = "remotion-tests";

impl Cgroups {
    fn create(limit_bytes: u64, quota_us: Option<u64>) -> Result<Self> {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let name = format!("{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
        let root = Path::new(CGROUP_ROOT);
        let groups = if root.join("cgroup.controllers").exists() {
            let parent = root.join(GROUP_PARENT);
            make_dir(&parent)?;
            // v2 puts processes in leaves only; the parent hands both controllers down.
            write(&root.join("cgroup.subtree_control"), "+memory +cpu")?;
            write(&parent.join("cgroup.subtree_control"), "+memory +cpu")?;
            let dir = parent.join(&name);
            make_dir(&dir)?;
            write(&dir.join("memory.max"), &limit_bytes.to_string())?;
            write(&dir.join("memory.swap.max"), "0").ok();
            if let Some(quota_us) = quota_us {
                write(&dir.join("cpu.max"), &format!("{quota_us} {CPU_PERIOD_US}"))?;
            }
            Cgroups::V2 { dir }
        } else {
            let memory = root.join("memory").join(GROUP_PARENT).join(&name);
            let cpu = root.join("cpu").join(GROUP_PARENT).join(&name);
            make_dir(&memory)?;
            make_dir(&cpu)?;
            write(&memory.join("memory.limit_in_bytes"), &limit_bytes.to_string())?;
            // Without swap accounting the file is absent; this machine's swap is then the
            // only way past the limit, and the tests' machines have none.
            write(&memory.join("memory.memsw.limit_in_bytes"), &limit_bytes.to_string()).ok();
            if let Some(quota_us) = quota_us {
                write(&cpu.join("cpu.cfs_period_us"), &CPU_PERIOD_US.to_string())?;
                write(&cpu.join("cpu.cfs_quota_us"), &quota_us.to_string())?;
            }
            Cgroups::V1 { memory, cpu }
        };
        Ok(groups)
    }

    fn procs_files(&self) -> Vec<String> {
        match self {
            Cgroups::V1 { memory, cpu } => {
                vec![memory.join("cgroup.procs").display().to_string(), cpu.join("cgroup.procs").display().to_string()]
            }
            Cgroups::V2 { dir } => vec![dir.join("cgroup.procs").display().to_string()],
        }
    }

    fn peak_memory_file(&self) -> PathBuf {
        match self {
            Cgroups::V1 { memory, .. } => memory.join("memory.max_usage_in_bytes"),
            Cgroups::V2 { dir } => dir.join("memory.peak"),
        }
    }

    fn peak_memory(&self) -> Result<u64> {
        let file = self.peak_memory_file();
        let text = std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
        text.trim().parse().with_context(|| format!("{} holds {text:?}", file.display()))
    }

    fn oom_killed(&self) -> Result<bool> {
        let (file, key) = match self {
            Cgroups::V1 { memory, .. } => (memory.join("memory.oom_control"), "oom_kill"),
            Cgroups::V2 { dir } => (dir.join("memory.events"), "oom_kill"),
        };
        let text = std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
        Ok(text
            .lines()
            .filter_map(|l| l.split_once(' '))
            .any(|(k, v)| k == key && v.trim().parse::<u64>().is_ok_and(|n| n > 0)))
    }

    fn dirs(&self) -> Vec<PathBuf> {
        match self {
            Cgroups::V1 { memory, cpu } => vec![memory.clone(), cpu.clone()],
            Cgroups::V2 { dir } => vec![dir.clone()],
        }
    }

    /// A shell line removing the groups once their processes are gone.
    fn removal(&self) -> String {
        self.dirs()
            .iter()
            .map(|d| format!("rmdir {} 2>/dev/null", shell_quote(&d.to_string_lossy())))
            .collect::<Vec<_>>()
            .join("; ")
    }
}

fn make_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| {
        format!(
            "creating the control group {} (the Lambda sandbox needs root and a writable cgroup \
             hierarchy; REMOTION_TEST_SANDBOX=off runs function processes unconfined)",
            dir.display()
        )
    })
}

fn write(file: &Path, value: &str) -> Result<()> {
    std::fs::write(file, value).with_context(|| format!("writing {value:?} to {}", file.display()))
}

fn which(program: &str) -> Result<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        let candidate = dir.join(program);
        if candidate.is_file() {
            return Ok(candidate);
        }
    }
    bail!("{program} is not on PATH")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_environment_is_lambdas_without_home_and_with_the_functions_own() {
        let vars = environment(&[
            ("AWS_LAMBDA_FUNCTION_NAME".to_owned(), "f".to_owned()),
            ("AWS_REGION".to_owned(), "eu-west-1".to_owned()),
        ]);
        let get = |k: &str| vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("HOME"), None);
        assert_eq!(get("LAMBDA_TASK_ROOT"), Some("/var/task"));
        assert_eq!(get("AWS_LAMBDA_FUNCTION_NAME"), Some("f"));
        assert_eq!(get("AWS_DEFAULT_REGION"), Some("eu-west-1"));
        assert!(get("PATH").is_some_and(|p| p.contains("/usr/bin")));
    }

    #[test]
    fn the_images_environment_is_its_last_stages_env() {
        let dockerfile = "FROM rust AS build\nENV CARGO=1\nFROM debian\n# ENV NOT=this\n\
                          ENV A=/usr/bin/x \\\n    B=/tmp \\\n    C=\"q\"\nWORKDIR /var/task\n";
        let env = image_env(dockerfile);
        let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(pairs, [("A", "/usr/bin/x"), ("B", "/tmp"), ("C", "q")]);
    }

    #[test]
    fn the_project_dockerfile_gives_the_image_its_chromium_and_home() {
        let dockerfile = std::fs::read_to_string(crate::paths::repo_root().join("function/Dockerfile")).unwrap();
        let env = image_env(&dockerfile);
        assert!(
            env.iter().any(|(k, v)| k == "REMOTION_CHROMIUM" && v == "/usr/lib/chromium/chromium-headless-shell"),
            "{env:?}"
        );
        assert!(env.iter().any(|(k, v)| k == "HOME" && v == "/tmp"), "{env:?}");
    }
}
