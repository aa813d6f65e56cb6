//! Helpers shared by the packaging tests (`packaging_*.rs`): where the tools are, running
//! them, and reading their YAML output.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use anyhow::{Context, Result, bail};
use serde_json::Value;

pub use remotion_tests::paths::repo_root;

/// The operator's RBAC needs, derived from `operator/src`: the chart and `config/rbac/` must
/// grant exactly these.
pub mod rbac;

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

/// The objects of `docs` of a kind.
pub fn of_kind<'a>(docs: &'a [Value], kind: &str) -> Vec<&'a Value> {
    docs.iter().filter(|d| d["kind"] == kind).collect()
}

/// The single object of a kind.
pub fn one_of_kind<'a>(docs: &'a [Value], kind: &str) -> &'a Value {
    let found = of_kind(docs, kind);
    assert_eq!(found.len(), 1, "expected one {kind}, found {}", found.len());
    found[0]
}

/// The CRDs of `config/crd/`, keyed by name.
pub fn config_crds() -> Result<std::collections::BTreeMap<String, Value>> {
    let mut crds = std::collections::BTreeMap::new();
    for file in remotion_tests::samples::yaml_files(&remotion_tests::paths::crd_dir())? {
        for doc in remotion_tests::samples::read_yaml_documents(&file)? {
            let name = doc["metadata"]["name"].as_str().context("a CRD without a name")?.to_owned();
            crds.insert(name, doc);
        }
    }
    Ok(crds)
}

/// A copy of both charts in a folder of its own with the operator chart's dependency built
/// (`helm dependency build` packs the CRD chart into `charts/`), and helm's cache, config and
/// data kept there too. Made once per test binary.
pub struct Charts {
    root: PathBuf,
}

impl Charts {
    /// The prepared charts of this test binary.
    pub fn get() -> &'static Charts {
        static CHARTS: std::sync::OnceLock<Charts> = std::sync::OnceLock::new();
        CHARTS.get_or_init(|| Charts::prepare().expect("preparing the charts"))
    }

    fn prepare() -> Result<Charts> {
        let root = std::env::temp_dir().join(format!("remotion-packaging-{}", std::process::id()));
        if root.exists() {
            std::fs::remove_dir_all(&root)?;
        }
        let quoted = remotion_tests::process::shell_quote(&root.to_string_lossy());
        remotion_tests::TestEnv::get().reaper().on_exit(format!("rm -rf {quoted}"))?;
        Charts::prepare_in(root)
    }

    /// Copies the charts into `root` (an empty or missing folder) and builds the dependency.
    pub fn prepare_in(root: PathBuf) -> Result<Charts> {
        for chart in ["remotion-operator", "remotion-operator-crds"] {
            copy_dir(&repo_root().join("charts").join(chart), &root.join("charts").join(chart))?;
        }
        let charts = Charts { root };
        charts.helm_ok(&["dependency", "build", &charts.chart("remotion-operator")])?;
        Ok(charts)
    }

    /// Path of a chart in the copy.
    pub fn chart(&self, name: &str) -> String {
        self.root.join("charts").join(name).to_string_lossy().into_owned()
    }

    fn helm_command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(helm());
        command
            .args(args)
            .env("HELM_CACHE_HOME", self.root.join("helm-cache"))
            .env("HELM_CONFIG_HOME", self.root.join("helm-config"))
            .env("HELM_DATA_HOME", self.root.join("helm-data"));
        command
    }

    /// Runs helm, keeping its output.
    pub fn helm(&self, args: &[&str]) -> Result<Output> {
        self.helm_command(args).output().with_context(|| format!("running helm {}", args.join(" ")))
    }

    /// Runs helm, which must succeed; returns stdout.
    pub fn helm_ok(&self, args: &[&str]) -> Result<String> {
        let out = self.helm(args)?;
        if !out.status.success() {
            bail!(
                "helm {} failed:\n{}{}",
                args.join(" "),
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(String::from_utf8(out.stdout)?)
    }

    /// `helm template` of the operator chart as release `rel` in namespace `ops` with `--set`s.
    pub fn render_operator(&self, sets: &[&str]) -> Result<Vec<Value>> {
        let chart = self.chart("remotion-operator");
        let mut args = vec!["template", "rel", chart.as_str(), "--namespace", "ops"];
        for set in sets {
            args.extend(["--set", set]);
        }
        yaml_documents(&self.helm_ok(&args)?)
    }
}

fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        // A `charts/` built in the work tree would shadow the one built here.
        if entry.file_type()?.is_dir() {
            if entry.file_name() != "charts" {
                copy_dir(&entry.path(), &target)?;
            }
        } else if entry.file_name() != "Chart.lock" {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}

/// Where two JSON values first differ (a JSON pointer and both sides), numbers compared by
/// value: YAML tools write `10240.0` and `10240` for the same schema bound.
pub fn first_difference(a: &Value, b: &Value) -> Option<String> {
    fn walk(a: &Value, b: &Value, path: &str) -> Option<String> {
        match (a, b) {
            (Value::Number(x), Value::Number(y)) if x.as_f64() == y.as_f64() => None,
            (Value::Object(x), Value::Object(y)) => {
                let keys: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
                keys.into_iter().find_map(|k| {
                    walk(x.get(k).unwrap_or(&Value::Null), y.get(k).unwrap_or(&Value::Null), &format!("{path}/{k}"))
                })
            }
            (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
                x.iter().zip(y).enumerate().find_map(|(i, (p, q))| walk(p, q, &format!("{path}/{i}")))
            }
            _ if a == b => None,
            _ => Some(format!("{path}: {a} vs {b}")),
        }
    }
    walk(a, b, "")
}
