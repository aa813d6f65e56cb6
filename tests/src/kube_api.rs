//! The Kubernetes API server stand-in (real apiextensions-apiserver + etcd), started with the
//! shared scripts in `../shared/standins/kubernetes`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, Patch, PatchParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::runtime::wait::{await_condition, conditions};
use kube::{Client, Config};

use crate::paths::kubernetes_standin_dir;
use crate::process::{Reaper, shell_quote};
use crate::samples::read_yaml_documents;

/// A running API server.
#[derive(Clone, Debug)]
pub struct KubeApi {
    /// Its kubeconfig (admin client certificate).
    pub kubeconfig: PathBuf,
    /// Its run folder (certificates, etcd data, logs).
    pub run_dir: PathBuf,
}

impl KubeApi {
    /// Starts etcd and the API server on free ports; both are stopped when the binary exits.
    pub fn start(reaper: &Reaper, run_dir: &Path) -> Result<Self> {
        let scripts = kubernetes_standin_dir();
        let tools = Command::new("bash").arg(scripts.join("k8s-tools.sh")).output().context("running k8s-tools.sh")?;
        if !tools.status.success() {
            bail!("k8s-tools.sh failed:\n{}", String::from_utf8_lossy(&tools.stderr));
        }
        std::fs::create_dir_all(run_dir)?;
        // Registered before starting, so a half-started server is still stopped.
        reaper.on_exit(format!(
            "bash {} {}",
            shell_quote(&scripts.join("k8s-down.sh").to_string_lossy()),
            shell_quote(&run_dir.to_string_lossy())
        ))?;
        let up = Command::new("bash")
            .arg(scripts.join("k8s-up.sh"))
            .env("K8S_RUN", run_dir)
            .output()
            .context("running k8s-up.sh")?;
        if !up.status.success() {
            bail!("k8s-up.sh failed:\n{}{}", String::from_utf8_lossy(&up.stdout), String::from_utf8_lossy(&up.stderr));
        }
        let stdout = String::from_utf8_lossy(&up.stdout);
        let kubeconfig = stdout
            .split_whitespace()
            .find_map(|w| w.strip_prefix("KUBECONFIG="))
            .map(PathBuf::from)
            .with_context(|| format!("k8s-up.sh printed no KUBECONFIG: {stdout}"))?;
        Ok(Self { kubeconfig, run_dir: run_dir.to_path_buf() })
    }

    /// Uses an API server someone else started (`REMOTION_TEST_KUBECONFIG`).
    pub fn existing(kubeconfig: PathBuf) -> Self {
        let run_dir = kubeconfig.parent().map(Path::to_path_buf).unwrap_or_default();
        Self { kubeconfig, run_dir }
    }

    /// A client for the current async runtime (clients must not cross runtimes).
    pub async fn client(&self) -> Result<Client> {
        let kubeconfig = Kubeconfig::read_from(&self.kubeconfig)?;
        let config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default()).await?;
        Ok(Client::try_from(config)?)
    }
}

/// The shared stand-in CRDs for `Lease` and `events.k8s.io` `Event` (the server has no core types).
pub fn standin_crds() -> Result<Vec<CustomResourceDefinition>> {
    read_yaml_documents(&kubernetes_standin_dir().join("standin-crds.yaml"))?
        .into_iter()
        .map(|doc| serde_json::from_value(doc).context("a stand-in CRD"))
        .collect()
}

/// Applies CRDs by server-side apply and waits until each is Established.
pub async fn install_crds(client: &Client, crds: &[CustomResourceDefinition]) -> Result<()> {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let params = PatchParams::apply("remotion-tests").force();
    for crd in crds {
        let name = crd.metadata.name.clone().context("CRD without a name")?;
        api.patch(&name, &params, &Patch::Apply(crd)).await.with_context(|| format!("applying CRD {name}"))?;
    }
    for crd in crds {
        let name = crd.metadata.name.clone().unwrap_or_default();
        tokio::time::timeout(
            Duration::from_secs(30),
            await_condition(api.clone(), &name, conditions::is_crd_established()),
        )
        .await
        .with_context(|| format!("CRD {name} not Established within 30 s"))??;
    }
    Ok(())
}
