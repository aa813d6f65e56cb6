//! Helpers shared by the packaging tests (`packaging_*.rs`): where the tools are, running
//! them, and reading their YAML output. Each test binary uses a part of it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use anyhow::{Context, Result, bail};
use serde_json::Value;

pub use remotion_tests::paths::repo_root;

/// Where `scripts/install-deps.sh` puts the pinned kubectl.
fn cached_tool(name: &str) -> Option<PathBuf> {
    let home = std::env::var_os("HOME")?;
    let path = PathBuf::from(home).join(".cache").join(name);
    path.is_file().then_some(path)
}

/// helm v3 from the Kubernetes stand-in's tools (`k8s-tools.sh`), or `REMOTION_HELM`.
pub fn helm() -> PathBuf {
    std::env::var_os("REMOTION_HELM")
        .map(PathBuf::from)
        .or_else(|| cached_tool("k8s-test-tools/bin/helm"))
        .unwrap_or_else(|| PathBuf::from("helm"))
}

/// kubectl (with kustomize) pinned by `scripts/install-deps.sh`, or `REMOTION_KUBECTL`, or the
/// one on PATH.
pub fn kubectl() -> PathBuf {
    std::env::var_os("REMOTION_KUBECTL")
        .map(PathBuf::from)
        .or_else(|| cached_tool("remotion-operator/bin/kubectl"))
        .unwrap_or_else(|| PathBuf::from("kubectl"))
}

/// Runs a command to its end, keeping its output.
pub fn run(program: &Path, args: &[&str]) -> Result<Output> {
    Command::new(program)
        .args(args)
        .output()
        .with_context(|| format!("running {} {}", program.display(), args.join(" ")))
}

/// Runs a command that must succeed and returns its stdout.
pub fn run_ok(program: &Path, args: &[&str]) -> Result<String> {
    let out = run(program, args)?;
    if !out.status.success() {
        bail!(
            "{} {} failed ({}):\n{}{}",
            program.display(),
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8(out.stdout)?)
}

/// Every document of a YAML stream (empty documents dropped).
pub fn yaml_documents(text: &str) -> Result<Vec<Value>> {
    let docs: Vec<Value> = serde_saphyr::from_multiple(text).context("parsing YAML")?;
    Ok(docs.into_iter().filter(|d| !d.is_null()).collect())
}

/// Reads a YAML file of one document.
pub fn yaml_file(path: &Path) -> Result<Value> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_saphyr::from_str(&text).with_context(|| format!("parsing {}", path.display()))
}
