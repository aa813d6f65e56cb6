//! The Kubernetes client and namespace, chosen like kubectl: `--kubeconfig`, else
//! `$KUBECONFIG`, else `~/.kube/config`, else the in-cluster service account; `--context`, else
//! the current context; `-n`, else the context's namespace, else `default`.

use anyhow::{Context as _, Result};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client, Config};
use remotion_crds::{RemotionSite, RenderFunction, RenderJob};

use crate::args::KubeArgs;

/// A client and the namespace the command works in.
#[derive(Clone)]
pub struct Cluster {
    pub client: Client,
    pub namespace: String,
}

impl Cluster {
    pub fn jobs(&self) -> Api<RenderJob> {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    pub fn sites(&self) -> Api<RemotionSite> {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    pub fn functions(&self) -> Api<RenderFunction> {
        Api::namespaced(self.client.clone(), &self.namespace)
    }
}

/// Connects as kubectl would with the same flags.
pub async fn connect(args: &KubeArgs) -> Result<Cluster> {
    let options = KubeConfigOptions { context: args.context.clone(), ..KubeConfigOptions::default() };
    let config = match (&args.kubeconfig, &args.context) {
        (Some(path), _) => {
            let kubeconfig = Kubeconfig::read_from(path).with_context(|| format!("reading {}", path.display()))?;
            Config::from_custom_kubeconfig(kubeconfig, &options)
                .await
                .with_context(|| format!("loading {}", path.display()))?
        }
        (None, Some(context)) => {
            Config::from_kubeconfig(&options).await.with_context(|| format!("loading context {context}"))?
        }
        (None, None) => Config::infer().await.context("no kubeconfig found (set KUBECONFIG or --kubeconfig)")?,
    };
    let namespace = args.namespace.clone().unwrap_or_else(|| config.default_namespace.clone());
    let client = Client::try_from(config).context("building the Kubernetes client")?;
    Ok(Cluster { client, namespace })
}
