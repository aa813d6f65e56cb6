//! The Helm charts: `helm lint --strict` and `helm template` with default and non-default
//! values, the rendered objects checked structurally (security, probes, ports, environment,
//! RBAC exactly as the operator's code needs it), `values.schema.json` rejecting bad values,
//! the CRD chart equal to `config/crd/`, and the chart's CRDs applied server-side to the API
//! server stand-in before a sample applies cleanly.

use std::collections::BTreeMap;

use crate::packaging_support::rbac::{assert_grants_exactly, derived};
use crate::packaging_support::{
    Charts, config_crds, first_difference, kubectl, of_kind, one_of_kind, run_ok, yaml_documents,
};
use anyhow::{Context, Result};
use remotion_tests::TestEnv;
use remotion_tests::paths::samples_dir;
use serde_json::{Value, json};

/// Non-default values exercising every switch at once.
const NON_DEFAULT: &[&str] = &[
    "replicas=2",
    "leaderElection.enabled=true",
    "leaderElection.leaseName=renders-leader",
    "watchNamespace=videos",
    "metrics.serviceMonitor.enabled=true",
    "installCrds=false",
    "concurrency=16",
    "logging.format=text",
    "logging.filter=debug",
    "serviceAccount.roleArn=arn:aws:iam::123456789012:role/remotion-operator",
    "image.tag=0.1.0-test",
    "scratch.sizeLimit=3Gi",
    "webhooks.allowPrivateNetworks=true",
];

fn env_of(container: &Value) -> BTreeMap<String, Value> {
    container["env"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| {
            (
                e["name"].as_str().unwrap_or_default().to_owned(),
                e.get("value").cloned().unwrap_or_else(|| e["valueFrom"].clone()),
            )
        })
        .collect()
}

fn operator_container(docs: &[Value]) -> &Value {
    let deployment = one_of_kind(docs, "Deployment");
    let containers = deployment["spec"]["template"]["spec"]["containers"].as_array().expect("containers");
    assert_eq!(containers.len(), 1);
    &containers[0]
}

#[test]
fn both_charts_lint_strict() -> Result<()> {
    let charts = Charts::get();
    charts.helm_ok(&["lint", "--strict", &charts.chart("remotion-operator-crds")])?;
    charts.helm_ok(&["lint", "--strict", &charts.chart("remotion-operator")])?;
    let mut args = vec!["lint".to_owned(), "--strict".to_owned(), charts.chart("remotion-operator")];
    for set in NON_DEFAULT {
        args.extend(["--set".to_owned(), (*set).to_owned()]);
    }
    charts.helm_ok(&args.iter().map(String::as_str).collect::<Vec<_>>())?;
    Ok(())
}

#[test]
fn default_values_render_a_locked_down_operator() -> Result<()> {
    let docs = Charts::get().render_operator(&[])?;
    let deployment = one_of_kind(&docs, "Deployment");
    assert_eq!(deployment["metadata"]["namespace"], "ops");
    assert_eq!(deployment["spec"]["replicas"], 1);
    assert_eq!(deployment["spec"]["strategy"]["type"], "Recreate", "two operators without a Lease must not overlap");
    let pod = &deployment["spec"]["template"]["spec"];
    assert_eq!(pod["serviceAccountName"], "rel-remotion-operator");
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(pod["securityContext"]["seccompProfile"]["type"], "RuntimeDefault");
    assert!(pod["securityContext"]["runAsUser"].as_i64().is_some_and(|u| u > 0));

    let container = operator_container(&docs);
    assert_eq!(container["image"], "ghcr.io/remotion-operator/remotion-operator:0.1.0");
    let security = &container["securityContext"];
    assert_eq!(security["readOnlyRootFilesystem"], true);
    assert_eq!(security["allowPrivilegeEscalation"], false);
    assert_eq!(security["capabilities"]["drop"], json!(["ALL"]));
    assert!(security["capabilities"].get("add").is_none());
    // /metrics and the probes on two ports (packaging_helm_values.rs checks them in depth).
    assert_eq!(
        container["ports"],
        json!([{"name": "metrics", "containerPort": 8080, "protocol": "TCP"},
               {"name": "probes", "containerPort": 8081, "protocol": "TCP"}])
    );
    assert_eq!(container["livenessProbe"]["httpGet"], json!({"path": "/health", "port": "probes"}));
    assert_eq!(container["readinessProbe"]["httpGet"], json!({"path": "/ready", "port": "probes"}));
    assert_eq!(pod["nodeSelector"], json!({"kubernetes.io/os": "linux"}));
    for kind in ["requests", "limits"] {
        for resource in ["cpu", "memory"] {
            assert!(container["resources"][kind][resource].is_string(), "resources.{kind}.{resource}");
        }
    }
    assert!(container.get("args").is_none(), "no flags without leader election");
    // The only writable place: /tmp, an emptyDir for site archives; the tenancy policy read-only.
    assert_eq!(
        container["volumeMounts"],
        json!([{"name": "tmp", "mountPath": "/tmp"},
               {"name": "tenancy", "mountPath": "/etc/remotion-operator", "readOnly": true}])
    );
    assert_eq!(
        pod["volumes"],
        json!([{"name": "tmp", "emptyDir": {"sizeLimit": "1Gi"}},
               {"name": "tenancy", "configMap": {"name": "rel-remotion-operator-tenancy"}}])
    );
    assert_eq!(env_of(container)["REMOTION_OPERATOR_TENANCY_POLICY"], "/etc/remotion-operator/tenancy.yaml");
    // The default policy trusts no namespace with more than its own credentials (the
    // operator's own default, docs/security.md).
    let policy = one_of_kind(&docs, "ConfigMap");
    assert_eq!(policy["metadata"]["name"], "rel-remotion-operator-tenancy");
    assert_eq!(policy["metadata"]["namespace"], "ops");
    let text = policy["data"]["tenancy.yaml"].as_str().expect("the policy file");
    assert_eq!(
        yaml_documents(text)?,
        vec![json!({"clusterId": "default", "operatorIdentity": [], "roles": [],
            "outputPrefixes": ["outputs/{namespace}/"],
            "network": {"allowedHosts": ["*"], "allowedPrivateNetworks": []}})]
    );
    let annotations = &deployment["spec"]["template"]["metadata"]["annotations"];
    assert!(annotations["checksum/tenancy"].as_str().is_some_and(|c| c.len() == 64), "{annotations}");
    let env = env_of(container);
    assert_eq!(env["REMOTION_OPERATOR_HTTP_ADDR"], "[::]:8081");
    assert_eq!(env["REMOTION_OPERATOR_METRICS_ADDR"], "[::]:8080");
    assert_eq!(env["REMOTION_OPERATOR_LOG_FORMAT"], "json");
    assert_eq!(env["RUST_LOG"], "info");
    assert_eq!(env["REMOTION_OPERATOR_CONCURRENCY"], "4");
    assert_eq!(env["REMOTION_OPERATOR_PROGRESS_WRITES_PER_SECOND"], "25");
    assert_eq!(env["REMOTION_OPERATOR_LAUNCH_CONCURRENCY"], "16");
    assert_eq!(env["REMOTION_OPERATOR_FINISHED_JOB_TTL_SECONDS"], "604800");
    assert_eq!(env["REMOTION_OPERATOR_LEADER_ELECTION"], "false");
    assert_eq!(env["REMOTION_OPERATOR_WEBHOOK_ALLOW_PRIVATE_NETWORKS"], "false", "webhooks: public addresses only");
    assert!(!env.contains_key("REMOTION_OPERATOR_NAMESPACE"), "all namespaces by default");
    assert_eq!(env["POD_NAMESPACE"], json!({"fieldRef": {"fieldPath": "metadata.namespace"}}));
    assert_eq!(env["POD_NAME"], json!({"fieldRef": {"fieldPath": "metadata.name"}}));

    let account = one_of_kind(&docs, "ServiceAccount");
    assert_eq!(account["metadata"]["name"], "rel-remotion-operator");
    assert!(account["metadata"].get("annotations").is_none(), "no IRSA role by default");

    let role = one_of_kind(&docs, "ClusterRole");
    assert_grants_exactly(&role["rules"], &derived().main, "the chart's ClusterRole");
    let binding = one_of_kind(&docs, "ClusterRoleBinding");
    assert_eq!(
        binding["roleRef"],
        json!({"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "rel-remotion-operator"})
    );
    assert_eq!(
        binding["subjects"],
        json!([{"kind": "ServiceAccount", "name": "rel-remotion-operator", "namespace": "ops"}])
    );
    assert!(
        of_kind(&docs, "Role").is_empty() && of_kind(&docs, "RoleBinding").is_empty(),
        "no Lease rights without leader election"
    );

    let service = one_of_kind(&docs, "Service");
    assert_eq!(
        service["spec"]["ports"],
        json!([{"name": "metrics", "port": 8080, "targetPort": "metrics", "protocol": "TCP"}])
    );
    assert_eq!(service["spec"]["selector"], deployment["spec"]["selector"]["matchLabels"]);
    assert_eq!(
        deployment["spec"]["selector"]["matchLabels"],
        json!({"app.kubernetes.io/name": "remotion-operator", "app.kubernetes.io/instance": "rel"})
    );
    assert!(of_kind(&docs, "ServiceMonitor").is_empty());
    assert_eq!(of_kind(&docs, "CustomResourceDefinition").len(), 4, "installCrds is on by default");
    Ok(())
}

#[test]
fn non_default_values_render_leader_election_one_namespace_and_monitoring() -> Result<()> {
    let docs = Charts::get().render_operator(NON_DEFAULT)?;
    let deployment = one_of_kind(&docs, "Deployment");
    assert_eq!(deployment["spec"]["replicas"], 2);
    assert!(deployment["spec"].get("strategy").is_none(), "rolling updates are safe with a Lease");
    let container = operator_container(&docs);
    assert_eq!(container["image"], "ghcr.io/remotion-operator/remotion-operator:0.1.0-test");
    assert_eq!(container["args"], json!(["--lease-name=renders-leader"]));
    let volumes = &deployment["spec"]["template"]["spec"]["volumes"];
    assert_eq!(volumes[0], json!({"name": "tmp", "emptyDir": {"sizeLimit": "3Gi"}}));
    let env = env_of(container);
    assert_eq!(env["REMOTION_OPERATOR_LEADER_ELECTION"], "true");
    assert_eq!(env["REMOTION_OPERATOR_WEBHOOK_ALLOW_PRIVATE_NETWORKS"], "true");
    assert_eq!(env["REMOTION_OPERATOR_NAMESPACE"], "videos");
    assert_eq!(env["REMOTION_OPERATOR_CONCURRENCY"], "16");
    assert_eq!(env["REMOTION_OPERATOR_LOG_FORMAT"], "text");
    assert_eq!(env["RUST_LOG"], "debug");

    let account = one_of_kind(&docs, "ServiceAccount");
    assert_eq!(
        account["metadata"]["annotations"]["eks.amazonaws.com/role-arn"],
        "arn:aws:iam::123456789012:role/remotion-operator"
    );

    assert!(
        of_kind(&docs, "ClusterRole").is_empty() && of_kind(&docs, "ClusterRoleBinding").is_empty(),
        "one namespace needs no cluster rights"
    );
    let roles = of_kind(&docs, "Role");
    let watch_role =
        roles.iter().find(|r| r["metadata"]["namespace"] == "videos").context("no Role in the watched namespace")?;
    assert_grants_exactly(&watch_role["rules"], &derived().main, "the chart's Role of the watched namespace");
    let lease_role = roles.iter().find(|r| r["metadata"]["namespace"] == "ops").context("no leader-election Role")?;
    assert_grants_exactly(&lease_role["rules"], &derived().lease, "the chart's leader-election Role");
    assert_eq!(roles.len(), 2);
    let bindings = of_kind(&docs, "RoleBinding");
    assert_eq!(bindings.len(), 2);
    for binding in bindings {
        assert_eq!(binding["roleRef"]["kind"], "Role");
        assert_eq!(
            binding["subjects"],
            json!([{"kind": "ServiceAccount", "name": "rel-remotion-operator", "namespace": "ops"}])
        );
        let role = roles
            .iter()
            .find(|r| r["metadata"]["name"] == binding["roleRef"]["name"])
            .context("binding to a missing Role")?;
        assert_eq!(role["metadata"]["namespace"], binding["metadata"]["namespace"]);
    }

    let monitor = one_of_kind(&docs, "ServiceMonitor");
    assert_eq!(monitor["apiVersion"], "monitoring.coreos.com/v1");
    assert_eq!(monitor["spec"]["endpoints"][0]["port"], "metrics");
    assert_eq!(monitor["spec"]["endpoints"][0]["path"], "/metrics");
    assert_eq!(monitor["spec"]["selector"]["matchLabels"], one_of_kind(&docs, "Service")["spec"]["selector"]);
    assert!(of_kind(&docs, "CustomResourceDefinition").is_empty(), "installCrds=false");
    Ok(())
}

#[test]
fn schema_rejects_bad_values_with_a_clear_message() -> Result<()> {
    let charts = Charts::get();
    let chart = charts.chart("remotion-operator");
    let cases: &[(&[&str], &str)] = &[
        (&["replicas=2"], "/leaderElection/enabled"),
        (&["replicas=0"], "/replicas"),
        (&["logging.format=xml"], "/logging/format"),
        (&["concurrency=0"], "/concurrency"),
        (&["image.pullPolicy=Sometimes"], "/image/pullPolicy"),
        (&["replicaCount=2"], "additional properties 'replicaCount' not allowed"),
        (&["serviceAccount.roleArn=my-role"], "/serviceAccount/roleArn"),
        (&["watchNamespace=Not_A_Namespace"], "/watchNamespace"),
        (&["resources.limits.memory=lots"], "/resources/limits/memory"),
        (&["scratch.sizeLimit=huge"], "/scratch/sizeLimit"),
        (&["metrics.service.port=70000"], "/metrics/service/port"),
        (&["metrics.service.enabled=false", "metrics.serviceMonitor.enabled=true"], "needs metrics.service.enabled"),
    ];
    for (sets, message) in cases {
        let mut args = vec!["template", "rel", chart.as_str()];
        for set in *sets {
            args.extend(["--set", set]);
        }
        let out = charts.helm(&args)?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{sets:?} was accepted");
        assert!(stderr.contains(message), "{sets:?}: the error does not mention {message:?}:\n{stderr}");
    }
    Ok(())
}

/// The CRD chart's templates are `config/crd/` plus the keep annotation, nothing else.
#[test]
fn crd_chart_renders_the_generated_crds() -> Result<()> {
    let charts = Charts::get();
    let rendered = yaml_documents(&charts.helm_ok(&["template", "crds", &charts.chart("remotion-operator-crds")])?)?;
    let mut expected = config_crds()?;
    assert_eq!(rendered.len(), expected.len());
    for mut crd in rendered {
        let name = crd["metadata"]["name"].as_str().context("a CRD without a name")?.to_owned();
        let annotations = crd["metadata"]["annotations"].as_object_mut().context("no annotations")?;
        assert_eq!(annotations.remove("helm.sh/resource-policy"), Some(json!("keep")), "{name}");
        if annotations.is_empty() {
            crd["metadata"].as_object_mut().expect("metadata").remove("annotations");
        }
        let want = expected.remove(&name).with_context(|| format!("{name} is not in config/crd"))?;
        assert_eq!(first_difference(&crd, &want), None, "{name} differs from config/crd");
    }
    Ok(())
}

/// The chart's CRDs (as `installCrds` renders them) applied server-side, then a sample of each
/// kind accepted by a server-side dry run.
#[tokio::test]
async fn chart_crds_apply_and_samples_validate_against_them() -> Result<()> {
    let env = TestEnv::get();
    let kubeconfig = env.kube().kubeconfig.to_string_lossy().into_owned();
    let crds: Vec<Value> =
        Charts::get().render_operator(&[])?.into_iter().filter(|d| d["kind"] == "CustomResourceDefinition").collect();
    assert_eq!(crds.len(), 4);
    let file = env.run_dir().join("chart-crds.yaml");
    std::fs::write(
        &file,
        crds.iter().map(|c| format!("---\n{}\n", serde_json::to_string(c).expect("json"))).collect::<String>(),
    )?;
    let kubectl = kubectl();
    let file = file.to_string_lossy().into_owned();
    let base = ["--kubeconfig", kubeconfig.as_str()];
    let applied = run_ok(
        &kubectl,
        &[
            &base[..],
            &["apply", "--server-side", "--field-manager=remotion-operator-chart", "--force-conflicts", "-f", &file],
        ]
        .concat(),
    )?;
    assert_eq!(applied.lines().filter(|l| l.contains("serverside-applied")).count(), 4, "{applied}");
    run_ok(&kubectl, &[&base[..], &["wait", "--for=condition=Established", "--timeout=30s", "-f", &file]].concat())?;

    let namespace = env.unique_name("chart-samples");
    for sample in
        ["lambdabucket-adopt.yaml", "renderfunction-managed.yaml", "remotionsite-url.yaml", "renderjob-video.yaml"]
    {
        let path = samples_dir().join(sample).to_string_lossy().into_owned();
        let out =
            run_ok(&kubectl, &[&base[..], &["apply", "--dry-run=server", "-n", &namespace, "-f", &path]].concat())?;
        assert!(out.contains("(server dry run)"), "{sample}: {out}");
    }
    Ok(())
}

/// NOTES.txt (printed by `helm install`) names the four kinds to apply next and their samples,
/// and says what to do about CRDs and AWS identity when they are left to the user. `helm
/// install --dry-run` needs core types the API server stand-in lacks, so a copy of the chart
/// renders the notes into a ConfigMap through `tpl`.
#[test]
fn notes_tell_what_to_apply_next() -> Result<()> {
    let scratch = tempfile::tempdir()?;
    let charts = Charts::prepare_in(scratch.path().to_path_buf())?;
    let chart = charts.chart("remotion-operator");
    let chart_dir = std::path::Path::new(&chart);
    std::fs::copy(chart_dir.join("templates").join("NOTES.txt"), chart_dir.join("notes-source.txt"))?;
    std::fs::write(
        chart_dir.join("templates").join("notes-rendered.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: notes\ndata:\n  notes: {{ tpl (.Files.Get \"notes-source.txt\") . | quote }}\n",
    )?;
    let notes = |sets: &[&str]| -> Result<String> {
        let mut args =
            vec!["template", "rel", chart.as_str(), "-n", "ops", "--show-only", "templates/notes-rendered.yaml"];
        for set in sets {
            args.extend(["--set", set]);
        }
        let docs = yaml_documents(&charts.helm_ok(&args)?)?;
        Ok(docs[0]["data"]["notes"].as_str().context("no notes")?.to_owned())
    };
    let text = notes(&[])?;
    for sample in
        ["lambdabucket-adopt.yaml", "renderfunction-managed.yaml", "remotionsite-url.yaml", "renderjob-video.yaml"]
    {
        assert!(text.contains(&format!("config/samples/{sample}")), "NOTES do not point to {sample}:\n{text}");
        assert!(samples_dir().join(sample).is_file(), "NOTES point to a missing sample {sample}");
    }
    assert!(text.contains("watching all namespaces") && text.contains("EKS Pod Identity"), "{text}");
    assert!(text.contains("rollout status deploy/rel-remotion-operator"), "{text}");
    assert!(!text.contains("installCrds=false"), "{text}");

    let text = notes(&[
        "installCrds=false",
        "watchNamespace=videos",
        "serviceAccount.roleArn=arn:aws:iam::123456789012:role/ops",
    ])?;
    assert!(text.contains("installCrds=false: apply the CRDs yourself"), "{text}");
    assert!(text.contains("watching namespace videos only"), "{text}");
    assert!(text.contains("IRSA role arn:aws:iam::123456789012:role/ops"), "{text}");
    Ok(())
}
