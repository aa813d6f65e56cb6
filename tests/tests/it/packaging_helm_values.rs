//! The operator chart's values beyond the basics (issue #17, chart completeness): names
//! (`nameOverride`, `fullnameOverride`), `commonLabels`, `extraArgs`, `extraVolumes` (the CA
//! bundle example of values.yaml, rendered as written there), the PodDisruptionBudget, topology
//! spread, revision history, the Linux node selector, the metrics and probes ports, the
//! ephemeral-storage request against the scratch volume the site limits derive from, the
//! NetworkPolicy, span export over OTLP (`tracing.*`), and the schema refusing typos in the
//! new values.

use std::collections::BTreeMap;

use crate::packaging_support::{Charts, of_kind, one_of_kind, repo_root, yaml_documents};
use anyhow::{Context, Result};
use serde_json::{Value, json};

/// Every optional object switched on, so that name and label checks see all of them.
const EVERYTHING: &[&str] = &[
    "--set",
    "replicas=2",
    "--set",
    "leaderElection.enabled=true",
    "--set",
    "podDisruptionBudget.enabled=true",
    "--set",
    "metrics.serviceMonitor.enabled=true",
    "--set",
    "networkPolicy.enabled=true",
    "--set",
    "networkPolicy.egress.apiServer.cidrs[0]=10.0.0.1/32",
    "--set",
    "installCrds=false",
];

/// 64Mi: the container's rotated logs (kubelet default 5 × 10Mi) beside the full scratch volume.
const LOG_HEADROOM: u64 = 64 << 20;

/// `helm template rel <chart> --namespace ops` with any helm arguments.
fn render(args: &[&str]) -> Result<Vec<Value>> {
    let charts = Charts::get();
    let chart = charts.chart("remotion-operator");
    let mut all = vec!["template", "rel", chart.as_str(), "--namespace", "ops"];
    all.extend_from_slice(args);
    yaml_documents(&charts.helm_ok(&all)?)
}

/// Asserts that helm refuses `args` with an error naming `message`.
fn assert_refused(args: &[&str], message: &str) -> Result<()> {
    let charts = Charts::get();
    let chart = charts.chart("remotion-operator");
    let mut all = vec!["template", "rel", chart.as_str()];
    all.extend_from_slice(args);
    let out = charts.helm(&all)?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{args:?} was accepted");
    assert!(stderr.contains(message), "{args:?}: the error does not mention {message:?}:\n{stderr}");
    Ok(())
}

fn sets(values: &[&'static str]) -> Vec<&'static str> {
    values.iter().flat_map(|v| ["--set", *v]).collect()
}

fn pod_spec(docs: &[Value]) -> &Value {
    &one_of_kind(docs, "Deployment")["spec"]["template"]["spec"]
}

fn container(docs: &[Value]) -> &Value {
    &pod_spec(docs)["containers"][0]
}

fn env(docs: &[Value]) -> BTreeMap<String, Value> {
    container(docs)["env"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| (e["name"].as_str().unwrap_or_default().to_owned(), e.get("value").cloned().unwrap_or(Value::Null)))
        .collect()
}

/// A Kubernetes quantity in bytes (the forms the schema admits: `1Gi`, `1.5G`, `2500M`, `42`).
fn bytes(quantity: &str) -> f64 {
    let units =
        [("Ki", 1u64 << 10), ("Mi", 1 << 20), ("Gi", 1 << 30), ("k", 1_000), ("M", 1_000_000), ("G", 1_000_000_000)];
    let (number, unit) =
        units.iter().find_map(|(s, u)| quantity.strip_suffix(s).map(|n| (n, *u))).unwrap_or((quantity, 1));
    number.parse::<f64>().unwrap_or_else(|_| panic!("{quantity:?} is not a quantity")) * unit as f64
}

/// The objects the operator chart itself makes (the CRD chart's are named by their kinds).
fn own_objects(docs: &[Value]) -> Vec<&Value> {
    docs.iter().filter(|d| d["kind"] != "CustomResourceDefinition").collect()
}

#[test]
fn name_overrides_name_every_object() -> Result<()> {
    for (overrides, prefix, name_label) in [
        (&["--set", "nameOverride=vid"][..], "rel-vid", "vid"),
        (&["--set", "fullnameOverride=videos"][..], "videos", "remotion-operator"),
        (&["--set", "nameOverride=rel"][..], "rel", "rel"),
    ] {
        let docs = render(&[EVERYTHING, overrides].concat())?;
        let kinds: Vec<&str> = own_objects(&docs).iter().filter_map(|d| d["kind"].as_str()).collect();
        for kind in ["Deployment", "ServiceAccount", "ConfigMap", "Service", "ServiceMonitor", "PodDisruptionBudget"] {
            assert!(kinds.contains(&kind), "{overrides:?}: no {kind} in {kinds:?}");
        }
        assert!(kinds.contains(&"NetworkPolicy") && kinds.contains(&"ClusterRole") && kinds.contains(&"Role"));
        for doc in own_objects(&docs) {
            let name = doc["metadata"]["name"].as_str().context("an object without a name")?;
            assert!(
                name == prefix || name.starts_with(&format!("{prefix}-")),
                "{overrides:?}: {} {name} is not named after {prefix}",
                doc["kind"]
            );
            assert_eq!(doc["metadata"]["labels"]["app.kubernetes.io/name"], name_label, "{overrides:?}: {name}");
        }
        // What the objects point at follows the names.
        let pod = pod_spec(&docs);
        assert_eq!(pod["serviceAccountName"], prefix);
        assert_eq!(pod["volumes"][1]["configMap"]["name"], format!("{prefix}-tenancy"));
        let selector = &one_of_kind(&docs, "Deployment")["spec"]["selector"]["matchLabels"];
        assert_eq!(*selector, json!({"app.kubernetes.io/name": name_label, "app.kubernetes.io/instance": "rel"}));
        for kind in ["ClusterRoleBinding", "RoleBinding"] {
            let binding = one_of_kind(&docs, kind);
            assert_eq!(binding["subjects"][0]["name"], prefix, "{kind}");
            let role = own_objects(&docs).into_iter().find(|d| {
                d["kind"] == binding["roleRef"]["kind"] && d["metadata"]["name"] == binding["roleRef"]["name"]
            });
            assert!(role.is_some(), "{overrides:?}: {kind} binds a missing role");
        }
        for kind in ["Service", "ServiceMonitor", "PodDisruptionBudget", "NetworkPolicy"] {
            let object = &one_of_kind(&docs, kind)["spec"];
            let matched = object["selector"].get("matchLabels").or(object["podSelector"].get("matchLabels"));
            let matched = matched.unwrap_or(&object["selector"]);
            assert_eq!(matched, selector, "{overrides:?}: the {kind} selects other pods");
        }
    }
    Ok(())
}

#[test]
fn common_labels_reach_every_object_and_the_pod() -> Result<()> {
    let args = [EVERYTHING, &["--set-string", "commonLabels.team=video,commonLabels.cost-centre=42"]].concat();
    let docs = render(&args)?;
    let common = [("team", "video"), ("cost-centre", "42")];
    for doc in own_objects(&docs) {
        for (key, value) in common {
            assert_eq!(doc["metadata"]["labels"][key], value, "{} {}", doc["kind"], doc["metadata"]["name"]);
        }
        assert_eq!(doc["metadata"]["labels"]["app.kubernetes.io/instance"], "rel");
    }
    let deployment = one_of_kind(&docs, "Deployment");
    let pod_labels = &deployment["spec"]["template"]["metadata"]["labels"];
    for (key, value) in common {
        assert_eq!(pod_labels[key], value, "pod template");
    }
    // The selector is unchanged (a Deployment's selector is immutable), and still selects the pod.
    let selector = deployment["spec"]["selector"]["matchLabels"].as_object().context("selector")?;
    assert_eq!(selector.len(), 2);
    for (key, value) in selector {
        assert_eq!(&pod_labels[key], value);
    }
    // podLabels win over commonLabels on the pod, the chart's own labels over both.
    let docs = render(&["--set", "commonLabels.team=video,podLabels.team=audio"])?;
    assert_eq!(one_of_kind(&docs, "Deployment")["spec"]["template"]["metadata"]["labels"]["team"], "audio");
    assert_eq!(one_of_kind(&docs, "Deployment")["metadata"]["labels"]["team"], "video");
    let docs = render(&["--set", "podLabels.app\\.kubernetes\\.io/instance=other"])?;
    assert_eq!(
        one_of_kind(&docs, "Deployment")["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/instance"],
        "rel"
    );
    Ok(())
}

#[test]
fn extra_args_follow_the_charts_own_flags() -> Result<()> {
    let docs = render(&sets(&["extraArgs[0]=--concurrency=8", "extraArgs[1]=--log-format=text"]))?;
    assert_eq!(container(&docs)["args"], json!(["--concurrency=8", "--log-format=text"]));
    let docs = render(&sets(&["replicas=2", "leaderElection.enabled=true", "extraArgs[0]=--concurrency=8"]))?;
    assert_eq!(container(&docs)["args"], json!(["--lease-name=remotion-operator", "--concurrency=8"]));
    Ok(())
}

/// The corporate CA bundle example in values.yaml's comments, uncommented and rendered: the
/// bundle is mounted beside the chart's own volumes and SSL_CERT_DIR keeps the image's roots.
#[test]
fn values_comment_ca_bundle_example_renders() -> Result<()> {
    let values = std::fs::read_to_string(repo_root().join("charts/remotion-operator/values.yaml"))?;
    let lines: Vec<&str> = values.lines().collect();
    let start =
        lines.iter().position(|l| *l == "#   extraVolumes:").context("no extraVolumes example in values.yaml")?;
    let example: String = lines[start..]
        .iter()
        .take_while(|l| l.starts_with("#   "))
        .map(|l| format!("{}\n", &l["#   ".len()..]))
        .collect();
    let scratch = tempfile::tempdir()?;
    let file = scratch.path().join("ca.yaml");
    std::fs::write(&file, &example)?;
    let docs = render(&["-f", &file.to_string_lossy()])?;

    let pod = pod_spec(&docs);
    let volumes = pod["volumes"].as_array().context("volumes")?;
    assert_eq!(
        volumes.iter().map(|v| v["name"].as_str().unwrap_or_default()).collect::<Vec<_>>(),
        ["tmp", "tenancy", "corporate-ca"]
    );
    assert_eq!(volumes[2]["configMap"]["name"], "corporate-ca");
    let mounts = container(&docs)["volumeMounts"].as_array().context("mounts")?;
    assert_eq!(mounts.len(), 3);
    assert_eq!(mounts[2], json!({"name": "corporate-ca", "mountPath": "/etc/ssl/corporate", "readOnly": true}));
    let cert_dirs = env(&docs)["SSL_CERT_DIR"].as_str().context("no SSL_CERT_DIR")?.to_owned();
    let dirs: Vec<&str> = cert_dirs.split(':').collect();
    assert!(dirs.contains(&"/etc/ssl/certs"), "the image's own roots are dropped: {cert_dirs}");
    assert!(dirs.contains(&"/etc/ssl/corporate"), "the bundle is not read: {cert_dirs}");
    Ok(())
}

#[test]
fn pod_disruption_budget_needs_several_replicas() -> Result<()> {
    assert!(of_kind(&render(&[])?, "PodDisruptionBudget").is_empty(), "off by default");
    let ha = ["replicas=2", "leaderElection.enabled=true", "podDisruptionBudget.enabled=true"];
    let docs = render(&sets(&ha))?;
    let budget = one_of_kind(&docs, "PodDisruptionBudget");
    assert_eq!(budget["apiVersion"], "policy/v1");
    assert_eq!(budget["metadata"]["namespace"], "ops");
    assert_eq!(
        budget["spec"]["selector"]["matchLabels"],
        one_of_kind(&docs, "Deployment")["spec"]["selector"]["matchLabels"]
    );
    assert_eq!(budget["spec"]["maxUnavailable"], 1, "one at a time by default");
    assert!(budget["spec"].get("minAvailable").is_none());

    let docs = render(&sets(&[ha[0], ha[1], ha[2], "podDisruptionBudget.minAvailable=50%"]))?;
    let spec = &one_of_kind(&docs, "PodDisruptionBudget")["spec"];
    assert_eq!(spec["minAvailable"], "50%");
    assert!(spec.get("maxUnavailable").is_none());
    let docs = render(&sets(&["replicas=3", ha[1], ha[2], "podDisruptionBudget.maxUnavailable=2"]))?;
    assert_eq!(one_of_kind(&docs, "PodDisruptionBudget")["spec"]["maxUnavailable"], 2);

    // One replica: every drain would block.
    assert_refused(&sets(&["podDisruptionBudget.enabled=true"]), "/replicas")?;
    assert_refused(
        &sets(&[ha[0], ha[1], ha[2], "podDisruptionBudget.minAvailable=1", "podDisruptionBudget.maxUnavailable=1"]),
        "set minAvailable or maxUnavailable, not both",
    )?;
    assert_refused(
        &sets(&[ha[0], ha[1], ha[2], "podDisruptionBudget.minAvailable=half"]),
        "/podDisruptionBudget/minAvailable",
    )?;
    Ok(())
}

#[test]
fn topology_spread_revision_history_and_node_selector() -> Result<()> {
    let docs = render(&[])?;
    let deployment = one_of_kind(&docs, "Deployment");
    assert_eq!(deployment["spec"]["revisionHistoryLimit"], 10);
    assert_eq!(pod_spec(&docs)["nodeSelector"], json!({"kubernetes.io/os": "linux"}), "the image is Linux only");
    assert!(pod_spec(&docs).get("topologySpreadConstraints").is_none());

    let zone =
        json!({"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone", "whenUnsatisfiable": "ScheduleAnyway"});
    let own = json!({"maxSkew": 2, "topologyKey": "kubernetes.io/hostname", "whenUnsatisfiable": "DoNotSchedule",
        "labelSelector": {"matchExpressions": [{"key": "app", "operator": "Exists"}]}});
    let constraints = format!("topologySpreadConstraints={}", json!([zone, own]));
    let docs =
        render(&["--set", "revisionHistoryLimit=3", "--set", "nodeSelector.pool=renders", "--set-json", &constraints])?;
    assert_eq!(one_of_kind(&docs, "Deployment")["spec"]["revisionHistoryLimit"], 3);
    assert_eq!(pod_spec(&docs)["nodeSelector"], json!({"kubernetes.io/os": "linux", "pool": "renders"}));
    let spread = pod_spec(&docs)["topologySpreadConstraints"].as_array().context("no constraints")?;
    assert_eq!(spread.len(), 2);
    // Without a labelSelector a constraint would count no pods: it gets this release's.
    let mut expected = zone.clone();
    expected["labelSelector"] =
        json!({"matchLabels": one_of_kind(&docs, "Deployment")["spec"]["selector"]["matchLabels"]});
    assert_eq!(spread[0], expected);
    assert_eq!(spread[1], own, "a constraint's own labelSelector is kept as it is");
    Ok(())
}

/// /metrics and the probes on two ports: the Service and the ServiceMonitor reach the metrics
/// only, the kubelet the probes only; the operator is told both addresses, dual-stack.
#[test]
fn metrics_and_probes_ports_are_apart_and_configurable() -> Result<()> {
    for (values, metrics, probes) in [
        (&[][..], 8080, 8081),
        (&["ports.metrics=9100", "ports.probes=9101", "metrics.service.port=9200"][..], 9100, 9101),
    ] {
        let args = [&sets(values)[..], &sets(&["metrics.serviceMonitor.enabled=true"])].concat();
        let docs = render(&args)?;
        let container = container(&docs);
        assert_eq!(
            container["ports"],
            json!([{"name": "metrics", "containerPort": metrics, "protocol": "TCP"},
                   {"name": "probes", "containerPort": probes, "protocol": "TCP"}])
        );
        assert_eq!(container["livenessProbe"]["httpGet"], json!({"path": "/health", "port": "probes"}));
        assert_eq!(container["readinessProbe"]["httpGet"], json!({"path": "/ready", "port": "probes"}));
        let env = env(&docs);
        assert_eq!(env["REMOTION_OPERATOR_HTTP_ADDR"], format!("[::]:{probes}"));
        assert_eq!(env["REMOTION_OPERATOR_METRICS_ADDR"], format!("[::]:{metrics}"));
        let service_port = if values.is_empty() { 8080 } else { 9200 };
        assert_eq!(
            one_of_kind(&docs, "Service")["spec"]["ports"],
            json!([{"name": "metrics", "port": service_port, "targetPort": "metrics", "protocol": "TCP"}])
        );
        assert_eq!(one_of_kind(&docs, "ServiceMonitor")["spec"]["endpoints"][0]["port"], "metrics");
    }
    assert_refused(&sets(&["ports.probes=8080"]), "ports.metrics and ports.probes must differ")?;
    assert_refused(&sets(&["ports.metrics=0"]), "/ports/metrics")?;
    Ok(())
}

/// The pod asks the scheduler for the scratch volume full plus the container's logs, so the
/// site limits the operator derives from the same `scratch.sizeLimit` can be reached without an
/// eviction; a smaller request or limit is refused.
#[test]
fn ephemeral_storage_covers_the_scratch_volume() -> Result<()> {
    for size in ["1Gi", "3Gi", "1.5G", "750Mi", "2500M"] {
        let set = format!("scratch.sizeLimit={size}");
        let docs = render(&["--set", &set])?;
        let volume = &pod_spec(&docs)["volumes"][0];
        assert_eq!(volume["name"], "tmp");
        assert_eq!(volume["emptyDir"]["sizeLimit"], size);
        assert_eq!(env(&docs)["REMOTION_OPERATOR_SITE_SCRATCH_SIZE"], size, "the site limits derive from the volume");
        let request = container(&docs)["resources"]["requests"]["ephemeral-storage"]
            .as_str()
            .with_context(|| format!("{size}: no ephemeral-storage request"))?
            .to_owned();
        let floor = bytes(size) + LOG_HEADROOM as f64;
        assert!(bytes(&request) >= floor, "{size}: request {request} is below the scratch volume and the logs");
        assert!(
            bytes(&request) < floor + f64::from(1 << 20),
            "{size}: request {request} is more than the rounding above"
        );
        assert!(container(&docs)["resources"]["limits"].get("ephemeral-storage").is_none(), "no limit by default");
    }
    // The default is what the kustomize base carries.
    let docs = render(&[])?;
    assert_eq!(container(&docs)["resources"]["requests"]["ephemeral-storage"], "1088Mi");
    assert_eq!(container(&docs)["resources"]["requests"]["memory"], "64Mi", "the other requests stay");

    // Given values at or above the floor are kept as given.
    let docs =
        render(&sets(&["resources.requests.ephemeral-storage=2Gi", "resources.limits.ephemeral-storage=1088Mi"]))?;
    let resources = &container(&docs)["resources"];
    assert_eq!(resources["requests"]["ephemeral-storage"], "2Gi");
    assert_eq!(resources["limits"]["ephemeral-storage"], "1088Mi");
    assert_refused(
        &sets(&["resources.requests.ephemeral-storage=1Gi"]),
        "resources.requests.ephemeral-storage 1Gi is below",
    )?;
    assert_refused(
        &sets(&["scratch.sizeLimit=4Gi", "resources.limits.ephemeral-storage=4Gi"]),
        "resources.limits.ephemeral-storage 4Gi is below scratch.sizeLimit 4Gi + 64Mi",
    )?;
    Ok(())
}

fn rule_ports(rule: &Value) -> Vec<(Value, String)> {
    rule["ports"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| (p["port"].clone(), p["protocol"].as_str().unwrap_or_default().to_owned()))
        .collect()
}

fn ip_blocks(rule: &Value) -> Vec<&str> {
    rule["to"].as_array().into_iter().flatten().filter_map(|p| p["ipBlock"]["cidr"].as_str()).collect()
}

#[test]
fn network_policy_opens_only_the_ports_and_peers_the_operator_needs() -> Result<()> {
    assert!(of_kind(&render(&[])?, "NetworkPolicy").is_empty(), "off by default");
    let docs =
        render(&sets(&["networkPolicy.enabled=true", "networkPolicy.egress.apiServer.cidrs[0]=172.20.0.10/32"]))?;
    let policy = one_of_kind(&docs, "NetworkPolicy");
    assert_eq!(policy["metadata"]["namespace"], "ops");
    assert_eq!(
        policy["spec"]["podSelector"]["matchLabels"],
        one_of_kind(&docs, "Deployment")["spec"]["selector"]["matchLabels"]
    );
    assert_eq!(policy["spec"]["policyTypes"], json!(["Ingress", "Egress"]));

    // Ingress: the two named ports of the container, nothing else; from anyone by default.
    let ingress = policy["spec"]["ingress"].as_array().context("no ingress")?;
    assert_eq!(ingress.len(), 2);
    assert_eq!(rule_ports(&ingress[0]), [(json!("metrics"), "TCP".to_owned())]);
    assert_eq!(rule_ports(&ingress[1]), [(json!("probes"), "TCP".to_owned())]);
    let container_ports: Vec<&Value> =
        container(&docs)["ports"].as_array().context("ports")?.iter().map(|p| &p["name"]).collect();
    for rule in ingress {
        assert!(rule.get("from").is_none(), "{rule}");
        assert!(container_ports.contains(&&rule["ports"][0]["port"]), "{rule} names no container port");
    }

    let egress = policy["spec"]["egress"].as_array().context("no egress")?;
    assert_eq!(egress.len(), 4, "DNS, API server, AWS, Pod Identity agent: {egress:?}");
    let dns = &egress[0];
    assert_eq!(dns["to"][0]["podSelector"]["matchLabels"], json!({"k8s-app": "kube-dns"}));
    assert_eq!(dns["to"][0]["namespaceSelector"]["matchLabels"], json!({"kubernetes.io/metadata.name": "kube-system"}));
    assert_eq!(rule_ports(dns), [(json!(53), "UDP".to_owned()), (json!(53), "TCP".to_owned())]);
    assert_eq!(ip_blocks(&egress[1]), ["172.20.0.10/32"]);
    assert_eq!(rule_ports(&egress[1]), [(json!(443), "TCP".to_owned()), (json!(6443), "TCP".to_owned())]);
    assert_eq!(ip_blocks(&egress[2]), ["0.0.0.0/0", "::/0"], "AWS over both address families");
    assert_eq!(rule_ports(&egress[2]), [(json!(443), "TCP".to_owned())]);
    assert_eq!(ip_blocks(&egress[3]), ["169.254.170.23/32", "fd00:ec2::23/128"]);
    assert_eq!(rule_ports(&egress[3]), [(json!(80), "TCP".to_owned())]);

    // Narrowed: scrapers from one namespace, AWS through VPC endpoints, no Pod Identity, an
    // in-cluster S3 store.
    let monitoring = json!([{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}]);
    let store = json!([{"to": [{"podSelector": {"matchLabels": {"app": "minio"}}}], "ports": [{"port": 9000, "protocol": "TCP"}]}]);
    let metrics_from = format!("networkPolicy.ingress.metricsFrom={monitoring}");
    let extra = format!("networkPolicy.egress.extra={store}");
    let docs = render(
        &[
            &sets(&[
                "networkPolicy.enabled=true",
                "networkPolicy.egress.apiServer.cidrs={10.0.0.5/32,fd00::5/128}",
                "networkPolicy.egress.apiServer.ports={6443}",
                "networkPolicy.egress.aws.cidrs={10.1.0.0/16}",
                "networkPolicy.egress.podIdentityAgent=false",
                "ports.metrics=9100",
            ])[..],
            &["--set-json", &metrics_from, "--set-json", &extra],
        ]
        .concat(),
    )?;
    let spec = &one_of_kind(&docs, "NetworkPolicy")["spec"];
    assert_eq!(spec["ingress"][0]["from"], monitoring);
    assert!(spec["ingress"][1].get("from").is_none(), "the probes stay open to the kubelet");
    let egress = spec["egress"].as_array().context("no egress")?;
    assert_eq!(egress.len(), 4, "DNS, API server, AWS, the store: {egress:?}");
    assert_eq!(ip_blocks(&egress[1]), ["10.0.0.5/32", "fd00::5/128"]);
    assert_eq!(rule_ports(&egress[1]), [(json!(6443), "TCP".to_owned())]);
    assert_eq!(ip_blocks(&egress[2]), ["10.1.0.0/16"]);
    assert_eq!(egress[3], store[0]);

    // The API server's address is the cluster's own: no default stands in for it.
    assert_refused(&sets(&["networkPolicy.enabled=true"]), "networkPolicy.egress.apiServer.cidrs is required")?;
    Ok(())
}

/// Every new value is in the schema: a typo at any depth fails the install with its path.
#[test]
fn schema_rejects_typos_in_the_new_values() -> Result<()> {
    let cases: &[(&[&str], &str)] = &[
        (&["networkPolicy.egress.apiServer.cidr[0]=10.0.0.1/32"], "additional properties 'cidr' not allowed"),
        (&["networkPolicy.ingress.metricFrom[0].podSelector.x=y"], "additional properties 'metricFrom' not allowed"),
        (&["networkPolicy.egress.aws.cidrs[0]=anywhere"], "/networkPolicy/egress/aws/cidrs/0"),
        (&["networkPolicy.egress.dns.ports[0]=70000"], "/networkPolicy/egress/dns/ports/0"),
        (&["networkPolicy.egress.extra[0].too[0].ipBlock.cidr=1.2.3.4/32"], "additional properties 'too' not allowed"),
        (
            &["networkPolicy.ingress.probesFrom[0].ipblock.cidr=10.0.0.0/8"],
            "additional properties 'ipblock' not allowed",
        ),
        (&["podDisruptionBudget.minAvaliable=1"], "additional properties 'minAvaliable' not allowed"),
        (&["ports.metric=9100"], "additional properties 'metric' not allowed"),
        (&["revisionHistoryLimit=-1"], "/revisionHistoryLimit"),
        (&["nameOverride=Not_A_Name"], "/nameOverride"),
        (&["fullnameOverride=x."], "/fullnameOverride"),
        (&["commonLabels.team.name=x"], "/commonLabels/team"),
        (&["commonLabels.app\\.kubernetes\\.io/name=other"], "app.kubernetes.io/name"),
        (&["extraArgs[0]=concurrency=8"], "/extraArgs/0"),
        (&["extraVolumeMounts[0].name=ca"], "/extraVolumeMounts/0"),
        (&["topologySpreadConstraints[0].maxSkew=1"], "/topologySpreadConstraints/0"),
    ];
    for (values, message) in cases {
        assert_refused(&sets(values), message)?;
    }
    Ok(())
}

/// `helm lint --strict` with every new switch on.
#[test]
fn chart_lints_strict_with_every_new_value() -> Result<()> {
    let charts = Charts::get();
    let chart = charts.chart("remotion-operator");
    let mut args = vec!["lint", "--strict", chart.as_str()];
    args.extend_from_slice(EVERYTHING);
    args.extend([
        "--set",
        "nameOverride=vid,commonLabels.team=video,extraArgs[0]=--concurrency=8,revisionHistoryLimit=2",
        "--set",
        "extraVolumes[0].name=ca,extraVolumes[0].configMap.name=ca,extraVolumeMounts[0].name=ca,extraVolumeMounts[0].mountPath=/etc/ssl/ca",
        "--set",
        "topologySpreadConstraints[0].maxSkew=1,topologySpreadConstraints[0].topologyKey=kubernetes.io/hostname,topologySpreadConstraints[0].whenUnsatisfiable=ScheduleAnyway",
        "--set",
        "tracing.otlpEndpoint=http://otel-collector.observability:4318,tracing.samplingRatio=0.5",
    ]);
    charts.helm_ok(&args)?;
    Ok(())
}

/// `renderJobs.ttlSecondsAfterFinished`: the operator's default TTL of finished RenderJobs, a
/// week unless set; `null` keeps them (no flag at all), `0` deletes them at once.
#[test]
fn finished_render_jobs_have_a_default_ttl() -> Result<()> {
    const TTL: &str = "REMOTION_OPERATOR_FINISHED_JOB_TTL_SECONDS";
    assert_eq!(env(&render(&[])?)[TTL], "604800");
    assert_eq!(env(&render(&sets(&["renderJobs.ttlSecondsAfterFinished=0"]))?)[TTL], "0");
    assert_eq!(env(&render(&sets(&["renderJobs.ttlSecondsAfterFinished=86400"]))?)[TTL], "86400");
    assert!(!env(&render(&sets(&["renderJobs.ttlSecondsAfterFinished=null"]))?).contains_key(TTL));
    assert_refused(&sets(&["renderJobs.ttlSecondsAfterFinished=-1"]), "/renderJobs/ttlSecondsAfterFinished")?;
    assert_refused(&sets(&["renderJobs.ttlSecondAfterFinished=60"]), "additional properties 'ttlSecondAfterFinished'")?;
    Ok(())
}

/// `tracing.*`: no OpenTelemetry variable unless an endpoint is set (the operator then exports
/// nothing); with one, the endpoint, service name and sampling as the variables every
/// OpenTelemetry SDK reads, and the pod's name as a resource attribute.
#[test]
fn spans_are_exported_only_with_an_endpoint() -> Result<()> {
    let defaults = env(&render(&[])?);
    assert!(defaults.keys().all(|name| !name.starts_with("OTEL_")), "{defaults:?}");

    let docs = render(&sets(&[
        "tracing.otlpEndpoint=http://otel-collector.observability:4318",
        "tracing.serviceName=renders-eu",
        "tracing.samplingRatio=0.25",
    ]))?;
    let on = env(&docs);
    assert_eq!(on["OTEL_EXPORTER_OTLP_ENDPOINT"], "http://otel-collector.observability:4318");
    assert_eq!(on["OTEL_SERVICE_NAME"], "renders-eu");
    assert_eq!(on["OTEL_TRACES_SAMPLER"], "parentbased_traceidratio");
    assert_eq!(on["OTEL_TRACES_SAMPLER_ARG"], "0.25");
    assert_eq!(on["OTEL_RESOURCE_ATTRIBUTES"], "k8s.pod.name=$(POD_NAME)");
    // $(POD_NAME) expands only when POD_NAME comes first.
    let order: Vec<&str> =
        container(&docs)["env"].as_array().into_iter().flatten().filter_map(|e| e["name"].as_str()).collect();
    let at = |name: &str| order.iter().position(|n| *n == name).context(format!("{name} is not set"));
    assert!(at("POD_NAME")? < at("OTEL_RESOURCE_ATTRIBUTES")?, "{order:?}");
    let default_sampling = env(&render(&sets(&["tracing.otlpEndpoint=https://otlp.example.com/"]))?);
    assert_eq!(default_sampling["OTEL_TRACES_SAMPLER_ARG"], "1");
    assert_eq!(default_sampling["OTEL_SERVICE_NAME"], "remotion-operator");

    assert_refused(&sets(&["tracing.otlpEnpoint=http://c:4318"]), "additional properties 'otlpEnpoint' not allowed")?;
    assert_refused(&sets(&["tracing.otlpEndpoint=otel-collector:4318"]), "/tracing/otlpEndpoint")?;
    // `--set` passes a decimal as a string: both forms are checked.
    assert_refused(&sets(&["tracing.samplingRatio=2"]), "/tracing/samplingRatio")?;
    assert_refused(&sets(&["tracing.samplingRatio=1.5"]), "/tracing/samplingRatio")?;
    assert_refused(&sets(&["tracing.serviceName=two words"]), "/tracing/serviceName")?;
    Ok(())
}
