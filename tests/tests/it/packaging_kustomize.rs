//! The kustomize base for users without Helm: `config/default` renders with the generated
//! CRDs, RBAC equal to the chart's default rules (exactly what the operator's code needs) and a
//! Deployment equal to the chart's default one; `config/crd` still applies with
//! `kubectl apply -f`; `config/samples` applies cleanly.

use crate::packaging_support::rbac::{assert_grants_exactly, derived};
use crate::packaging_support::{
    Charts, config_crds, first_difference, kubectl, of_kind, one_of_kind, repo_root, run_ok, yaml_documents,
};
use anyhow::{Context, Result};
use remotion_tests::TestEnv;
use serde_json::{Value, json};

const NAMESPACE: &str = "remotion-operator-system";

fn kustomize(folder: &str) -> Result<Vec<Value>> {
    let path = repo_root().join("config").join(folder).to_string_lossy().into_owned();
    yaml_documents(&run_ok(&kubectl(), &["kustomize", &path])?)
}

#[test]
fn default_base_renders_crds_rbac_and_manager() -> Result<()> {
    let docs = kustomize("default")?;

    let mut expected_crds = config_crds()?;
    for crd in of_kind(&docs, "CustomResourceDefinition") {
        let name = crd["metadata"]["name"].as_str().unwrap_or_default();
        let expected = expected_crds.remove(name).with_context(|| format!("{name} is not in config/crd"))?;
        assert_eq!(first_difference(crd, &expected), None, "{name} differs from config/crd");
    }
    assert!(expected_crds.is_empty(), "CRDs missing from config/default: {:?}", expected_crds.keys());

    assert_eq!(one_of_kind(&docs, "Namespace")["metadata"]["name"], NAMESPACE);
    for kind in ["ServiceAccount", "Deployment", "Service"] {
        assert_eq!(one_of_kind(&docs, kind)["metadata"]["namespace"], NAMESPACE, "{kind}");
    }
    let role = one_of_kind(&docs, "ClusterRole");
    assert_grants_exactly(&role["rules"], &derived().main, "config/rbac's ClusterRole");
    let binding = one_of_kind(&docs, "ClusterRoleBinding");
    assert_eq!(binding["roleRef"]["name"], role["metadata"]["name"]);
    assert_eq!(
        binding["subjects"],
        json!([{"kind": "ServiceAccount", "name": "remotion-operator", "namespace": NAMESPACE}])
    );
    let deployment = one_of_kind(&docs, "Deployment");
    assert_eq!(deployment["spec"]["template"]["spec"]["serviceAccountName"], "remotion-operator");
    let service = one_of_kind(&docs, "Service");
    assert_eq!(service["spec"]["selector"], deployment["spec"]["selector"]["matchLabels"]);
    assert_eq!(deployment["spec"]["selector"]["matchLabels"], deployment["spec"]["template"]["metadata"]["labels"]);
    Ok(())
}

/// Helm and kustomize users get the same operator: same rules, same container, same pod
/// security, same rollout strategy.
#[test]
fn default_base_equals_the_charts_defaults() -> Result<()> {
    let docs = kustomize("default")?;
    let chart = Charts::get().render_operator(&[])?;
    assert_eq!(one_of_kind(&docs, "ClusterRole")["rules"], one_of_kind(&chart, "ClusterRole")["rules"]);
    let ours = &one_of_kind(&docs, "Deployment")["spec"];
    let helms = &one_of_kind(&chart, "Deployment")["spec"];
    assert_eq!(ours["template"]["spec"]["containers"], helms["template"]["spec"]["containers"]);
    assert_eq!(ours["template"]["spec"]["securityContext"], helms["template"]["spec"]["securityContext"]);
    // The same volumes; the chart's names carry the release's prefix.
    let chart_volumes =
        helms["template"]["spec"]["volumes"].to_string().replace("rel-remotion-operator", "remotion-operator");
    assert_eq!(ours["template"]["spec"]["volumes"].to_string(), chart_volumes);
    // The same default policy.
    let policy = |docs: &[Value]| {
        yaml_documents(one_of_kind(docs, "ConfigMap")["data"]["tenancy.yaml"].as_str().unwrap_or_default())
    };
    assert_eq!(policy(&docs)?, policy(&chart)?);
    assert_eq!(ours["strategy"], helms["strategy"]);
    assert_eq!(ours["replicas"], helms["replicas"]);
    assert_eq!(one_of_kind(&docs, "Service")["spec"]["ports"], one_of_kind(&chart, "Service")["spec"]["ports"]);
    Ok(())
}

/// `config/crd` is both a kustomize base and a folder `kubectl apply -f` reads (its
/// `Kustomization` file has no .yaml suffix, so it is skipped); the samples' kustomization
/// holds one resource of each kind, and the server accepts them.
#[test]
fn crd_folder_and_samples_apply_to_the_api_server() -> Result<()> {
    let env = TestEnv::get();
    let kubeconfig = env.kube().kubeconfig.to_string_lossy().into_owned();
    let kubectl = kubectl();
    let base = ["--kubeconfig", kubeconfig.as_str()];
    let crd_dir = repo_root().join("config").join("crd").to_string_lossy().into_owned();
    let out = run_ok(&kubectl, &[&base[..], &["apply", "--dry-run=server", "-f", &crd_dir]].concat())?;
    assert_eq!(out.lines().count(), 4, "{out}");
    let out = run_ok(&kubectl, &[&base[..], &["apply", "--dry-run=server", "-k", &crd_dir]].concat())?;
    assert_eq!(out.lines().count(), 4, "{out}");

    let samples = kustomize("samples")?;
    let mut kinds: Vec<&str> = samples.iter().filter_map(|d| d["kind"].as_str()).collect();
    kinds.sort();
    assert_eq!(kinds, ["LambdaBucket", "RemotionSite", "RenderFunction", "RenderJob"]);
    let namespace = env.unique_name("kustomize-samples");
    let samples_dir = repo_root().join("config").join("samples").to_string_lossy().into_owned();
    let out = run_ok(&kubectl, &[&base[..], &["apply", "-n", &namespace, "-k", &samples_dir]].concat())?;
    assert_eq!(out.lines().filter(|l| l.ends_with(" created")).count(), 4, "{out}");
    Ok(())
}
