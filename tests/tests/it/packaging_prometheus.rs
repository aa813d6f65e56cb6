//! The chart's monitoring: the PrometheusRule's alerts checked and unit-tested with `promtool`
//! (series in, alerts out: each alert both firing and not firing), and the Grafana dashboard's
//! JSON; every series the alerts and the dashboard select, and every label they match or group
//! by, must be one the operator exports, as registered in `operator/src/metrics.rs` and
//! `operator/src/aws_metrics.rs`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::packaging_support::{Charts, of_kind, one_of_kind, repo_root, run};
use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

/// promtool from Debian's prometheus package (`scripts/install-deps.sh`), or
/// `REMOTION_PROMTOOL`.
fn promtool() -> PathBuf {
    std::env::var_os("REMOTION_PROMTOOL").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("promtool"))
}

/// Runs promtool; fails with its whole output.
fn promtool_ok(args: &[&str]) -> Result<String> {
    let out = run(&promtool(), args).context("promtool not found: bash scripts/install-deps.sh installs it")?;
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    if !out.status.success() {
        bail!("promtool {} failed ({}):\n{text}", args.join(" "), out.status);
    }
    Ok(text)
}

// --- What the operator exports -------------------------------------------------------------

/// One exported metric family: its series names and labels.
#[derive(Debug)]
struct Family {
    /// The names as scraped (`_total` of counters; `_bucket`, `_sum`, `_count` of histograms).
    series: Vec<String>,
    labels: BTreeSet<String>,
}

/// The fields of every `struct Name { field: Type, … }` of a source file.
fn structs(source: &str) -> BTreeMap<String, Vec<(String, String)>> {
    let mut found = BTreeMap::new();
    for (start, _) in source.match_indices("struct ") {
        let rest = &source[start + "struct ".len()..];
        let Some(open) = rest.find('{') else { continue };
        let name = rest[..open].trim();
        if name.is_empty() || !name.chars().all(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        let Some(close) = rest[open..].find("\n}") else { continue };
        let fields = rest[open + 1..open + close]
            .lines()
            .map(str::trim)
            .filter(|l| !l.starts_with("//") && !l.starts_with('#'))
            .filter_map(|l| l.split_once(':'))
            .map(|(f, t)| (f.trim().trim_start_matches("pub ").to_owned(), t.trim().trim_end_matches(',').to_owned()))
            .collect();
        found.insert(name.to_owned(), fields);
    }
    found
}

/// The families registered in `file` (`registry.register("name", "help", field.clone())`), by
/// the type of the struct field they register (`Family<Labels, Counter>`, `Gauge`, …).
fn registered(file: &Path, prefix: &str) -> Result<BTreeMap<String, Family>> {
    let source = std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let structs = structs(&source);
    let field_type = |field: &str| -> Option<String> {
        structs.values().flatten().find(|(f, _)| f == field).map(|(_, t)| t.clone())
    };
    let mut families = BTreeMap::new();
    for (at, _) in source.match_indices("registry.register(") {
        let call = &source[at + "registry.register(".len()..];
        let call = &call[..call.find(");").context("an unterminated register call")?];
        let name = call.split('"').nth(1).context("a register call without a name")?;
        let field = call
            .rsplit(',')
            .map(str::trim)
            .find(|a| !a.is_empty())
            .context("a register call without a metric")?
            .trim_start_matches("self.")
            .trim_end_matches(".clone()");
        let ty = field_type(field).with_context(|| format!("the type of field {field} ({name})"))?;
        let (labels, kind) = match ty.strip_prefix("Family<").and_then(|t| t.strip_suffix('>')) {
            Some(inner) => {
                let (label_struct, kind) = inner.split_once(',').context("Family<Labels, Metric>")?;
                let fields =
                    structs.get(label_struct.trim()).with_context(|| format!("label struct {label_struct}"))?;
                (fields.iter().map(|(f, _)| f.clone()).collect(), kind.trim().to_owned())
            }
            None => (BTreeSet::new(), ty.clone()),
        };
        let base = format!("{prefix}_{name}");
        let series = if kind.starts_with("Counter") {
            vec![format!("{base}_total")]
        } else if kind.starts_with("Histogram") {
            vec![format!("{base}_bucket"), format!("{base}_sum"), format!("{base}_count")]
        } else if kind.starts_with("Gauge") {
            vec![base.clone()]
        } else {
            bail!("{name}: a metric type this test does not know: {ty}");
        };
        families.insert(base, Family { series, labels });
    }
    Ok(families)
}

/// Every family the operator exports, keyed by base name.
fn exported() -> Result<BTreeMap<String, Family>> {
    let src = repo_root().join("operator/src");
    let metrics = std::fs::read_to_string(src.join("metrics.rs"))?;
    let prefix = metrics
        .split("Registry::with_prefix(\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .context("the registry's prefix in metrics.rs")?;
    let mut families = registered(&src.join("metrics.rs"), prefix)?;
    // The AWS call series, registered into the same registry by `AwsMetrics::register`.
    assert!(metrics.contains("AwsMetrics::global().register(&mut registry)"), "metrics.rs registers the AWS series");
    families.extend(registered(&src.join("aws_metrics.rs"), prefix)?);
    Ok(families)
}

#[test]
fn the_exported_metric_list_is_read_from_the_source() -> Result<()> {
    // The reader itself: a family it failed to see would make the checks below vacuous.
    let families = exported()?;
    let failures = &families["remotion_operator_reconcile_failures"];
    assert_eq!(failures.series, ["remotion_operator_reconcile_failures_total"]);
    assert_eq!(failures.labels, BTreeSet::from(["controller".to_owned(), "reason".to_owned()]));
    assert_eq!(families["remotion_operator_render_duration_seconds"].series.len(), 3);
    assert!(families["remotion_operator_leader"].labels.is_empty());
    assert_eq!(
        families["remotion_operator_aws_call_errors"].labels,
        ["code", "operation", "service", "status"].map(str::to_owned).into()
    );
    assert!(families.len() >= 12, "{families:?}");
    Ok(())
}

// --- What PromQL selects --------------------------------------------------------------------

/// The series an expression selects, each with the label names it matches on.
fn selectors(expr: &str) -> Vec<(String, Vec<String>)> {
    let mut found = Vec::new();
    let bytes = expr.as_bytes();
    let mut i = 0;
    while let Some(offset) = expr[i..].find("remotion_operator_") {
        let start = i + offset;
        let mut end = start;
        while end < bytes.len() && (bytes[end].is_ascii_alphanumeric() || bytes[end] == b'_') {
            end += 1;
        }
        let name = expr[start..end].to_owned();
        let mut labels = Vec::new();
        if bytes.get(end) == Some(&b'{') {
            // Matchers: name op "value", …; values may hold commas and escaped quotes.
            let mut j = end + 1;
            loop {
                while j < bytes.len() && (bytes[j] == b' ' || bytes[j] == b',') {
                    j += 1;
                }
                if j >= bytes.len() || bytes[j] == b'}' {
                    break;
                }
                let label_start = j;
                while j < bytes.len() && (bytes[j].is_ascii_alphanumeric() || bytes[j] == b'_') {
                    j += 1;
                }
                labels.push(expr[label_start..j].to_owned());
                while j < bytes.len() && bytes[j] != b'"' {
                    j += 1;
                }
                j += 1;
                while j < bytes.len() && bytes[j] != b'"' {
                    j += if bytes[j] == b'\\' { 2 } else { 1 };
                }
                j += 1;
            }
            end = j;
        }
        found.push((name, labels));
        i = end.max(start + 1);
    }
    found
}

/// The label names of every `by (…)` of an expression.
fn grouping_labels(expr: &str) -> Vec<String> {
    let mut labels = Vec::new();
    for (at, _) in expr.match_indices("by") {
        let before_ok = at == 0 || !expr.as_bytes()[at - 1].is_ascii_alphanumeric() && expr.as_bytes()[at - 1] != b'_';
        let rest = expr[at + 2..].trim_start();
        if before_ok && let Some(inner) = rest.strip_prefix('(').and_then(|r| r.split(')').next()) {
            labels.extend(inner.split(',').map(|l| l.trim().to_owned()).filter(|l| !l.is_empty()));
        }
    }
    labels
}

/// Checks that `expr` selects only exported series, matches only their labels (`le` of
/// buckets, and `extra` target labels such as the chart's selector), and groups only by
/// labels of what it selects. Returns the families it uses.
fn check_expr(expr: &str, families: &BTreeMap<String, Family>, extra: &[&str]) -> Result<BTreeSet<String>> {
    let mut used = BTreeSet::new();
    let mut available: BTreeSet<String> = extra.iter().map(|l| (*l).to_owned()).collect();
    let selected = selectors(expr);
    if selected.is_empty() {
        bail!("{expr}: selects no operator series");
    }
    for (series, labels) in selected {
        let Some((base, family)) = families.iter().find(|(_, f)| f.series.contains(&series)) else {
            bail!("{expr}: {series} is not a series the operator exports");
        };
        used.insert(base.clone());
        let mut known = family.labels.clone();
        if series.ends_with("_bucket") {
            known.insert("le".to_owned());
        }
        known.extend(extra.iter().map(|l| (*l).to_owned()));
        for label in labels {
            if !known.contains(&label) {
                bail!("{expr}: {series} has no label {label} (it has {known:?})");
            }
        }
        available.extend(known);
    }
    for label in grouping_labels(expr) {
        if !available.contains(&label) {
            bail!("{expr}: groups by {label}, which none of its series has");
        }
    }
    Ok(used)
}

#[test]
fn expressions_are_checked_against_the_exported_series() -> Result<()> {
    // The checker refuses what the chart must never ship: an unknown series, a renamed label.
    let families = exported()?;
    let ok = r#"sum by (controller, reason) (rate(remotion_operator_reconcile_failures_total{reason!~"a,\"b"}[5m]))"#;
    assert_eq!(check_expr(ok, &families, &[])?, BTreeSet::from(["remotion_operator_reconcile_failures".to_owned()]));
    let kind = r#"sum(rate(remotion_operator_reconcile_failures_total{kind="MultipleBuckets"}[5m]))"#;
    assert!(check_expr(kind, &families, &[]).is_err());
    assert!(
        check_expr("sum by (kind) (rate(remotion_operator_reconcile_failures_total[5m]))", &families, &[]).is_err()
    );
    assert!(check_expr("rate(remotion_operator_render_seconds_bucket[5m])", &families, &[]).is_err());
    assert!(check_expr("remotion_operator_leader_total", &families, &[]).is_err());
    assert!(check_expr(r#"remotion_operator_leader{namespace="ops"}"#, &families, &["namespace"]).is_ok());
    Ok(())
}

// --- The PrometheusRule -----------------------------------------------------------------------

/// The chart's PrometheusRule with `sets` (besides `prometheusRule.enabled=true`).
fn prometheus_rule(sets: &[&str]) -> Result<Value> {
    let mut all = vec!["prometheusRule.enabled=true"];
    all.extend_from_slice(sets);
    let docs = Charts::get().render_operator(&all)?;
    Ok(one_of_kind(&docs, "PrometheusRule").clone())
}

/// The rules of a PrometheusRule, by alert name.
fn alerts(rule: &Value) -> BTreeMap<String, Value> {
    rule["spec"]["groups"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|g| g["rules"].as_array().cloned().unwrap_or_default())
        .filter_map(|r| Some((r["alert"].as_str()?.to_owned(), r)))
        .collect()
}

/// An expected alert of `rule` carrying `labels` (its by-labels): the rule's own labels added,
/// its annotations with Prometheus's `{{ $labels.x }}` filled in.
fn expected_alert(rule: &Value, labels: &[(&str, &str)]) -> Value {
    let mut exp_labels: BTreeMap<String, String> = rule["labels"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
        .collect();
    exp_labels.extend(labels.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
    let fill = |text: &str| {
        let mut text = text.to_owned();
        for (k, v) in labels {
            text = text.replace(&format!("{{{{ $labels.{k} }}}}"), v);
        }
        assert!(!text.contains("{{"), "an annotation templates more than the alert's labels: {text}");
        text
    };
    let annotations: BTreeMap<String, String> = rule["annotations"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| (k.clone(), fill(v.as_str().unwrap_or_default())))
        .collect();
    json!({"exp_labels": exp_labels, "exp_annotations": annotations})
}

/// One promtool test group: series (name → values) and, per evaluation, the alerts expected
/// (`[]`: none firing).
fn case(series: &[(&str, &str)], evals: Vec<(&str, &str, Vec<Value>)>) -> Value {
    json!({
        "interval": "1m",
        "input_series": series.iter().map(|(s, v)| json!({"series": s, "values": v})).collect::<Vec<_>>(),
        "alert_rule_test": evals.into_iter().map(|(at, alert, expected)| json!({
            "eval_time": at, "alertname": alert, "exp_alerts": expected,
        })).collect::<Vec<_>>(),
    })
}

/// Series in, alerts out, for every alert with the chart's default thresholds (stuck: 30 min;
/// failing reconciles: 25 % for 15m; throttling: 0.1/s for 10m; cost: 50 USD/h for 5m; no
/// leader: 5m), each firing and not firing.
fn unit_tests(rules: &BTreeMap<String, Value>) -> Vec<Value> {
    let stuck = &rules["RemotionRendersStuck"];
    let failing = &rules["RemotionReconcilesFailing"];
    let throttled = &rules["RemotionAwsThrottled"];
    let cost = &rules["RemotionRenderCostHigh"];
    let leader = &rules["RemotionOperatorNoLeader"];
    let ended = r#"remotion_operator_renders_ended_total{phase="Succeeded",reason="Succeeded"}"#;
    vec![
        // Stuck: jobs wait and render, the ended counter stands still.
        case(
            &[
                (r#"remotion_operator_renders{phase="Queued"}"#, "2x60"),
                (r#"remotion_operator_renders{phase="Rendering"}"#, "1x60"),
                (ended, "5x60"),
            ],
            vec![
                ("3m", "RemotionRendersStuck", vec![]),
                ("45m", "RemotionRendersStuck", vec![expected_alert(stuck, &[])]),
            ],
        ),
        // Stuck: no render has ever ended in this process (no ended series at all).
        case(
            &[(r#"remotion_operator_renders{phase="Queued"}"#, "3x60")],
            vec![("45m", "RemotionRendersStuck", vec![expected_alert(stuck, &[])])],
        ),
        // Not stuck: renders end every minute.
        case(
            &[(r#"remotion_operator_renders{phase="Rendering"}"#, "3x60"), (ended, "0+1x60")],
            vec![("45m", "RemotionRendersStuck", vec![])],
        ),
        // Not stuck: nothing waits.
        case(
            &[
                (r#"remotion_operator_renders{phase="Queued"}"#, "0x60"),
                (r#"remotion_operator_renders{phase="Rendering"}"#, "0x60"),
                (r#"remotion_operator_renders{phase="Succeeded"}"#, "7x60"),
            ],
            vec![("45m", "RemotionRendersStuck", vec![])],
        ),
        // Failing: half the renderjob reconciles fail with InvalidCredentials; a tenth with
        // MultipleBuckets stays under the ratio.
        case(
            &[
                (r#"remotion_operator_reconciles_total{controller="renderjob"}"#, "0+10x60"),
                (
                    r#"remotion_operator_reconcile_failures_total{controller="renderjob",reason="InvalidCredentials"}"#,
                    "0+5x60",
                ),
                (
                    r#"remotion_operator_reconcile_failures_total{controller="renderjob",reason="MultipleBuckets"}"#,
                    "0+1x60",
                ),
            ],
            vec![
                ("10m", "RemotionReconcilesFailing", vec![]),
                (
                    "40m",
                    "RemotionReconcilesFailing",
                    vec![expected_alert(failing, &[("controller", "renderjob"), ("reason", "InvalidCredentials")])],
                ),
            ],
        ),
        // Not failing: a fifth of the reconciles fail.
        case(
            &[
                (r#"remotion_operator_reconciles_total{controller="lambdabucket"}"#, "0+10x60"),
                (
                    r#"remotion_operator_reconcile_failures_total{controller="lambdabucket",reason="InvalidCredentials"}"#,
                    "0+2x60",
                ),
            ],
            vec![("40m", "RemotionReconcilesFailing", vec![])],
        ),
        // Throttled: 0.2 Lambda Invoke throttles a second; S3 at 0.05/s stays under.
        case(
            &[
                (r#"remotion_operator_aws_throttles_total{service="Lambda",operation="Invoke"}"#, "0+12x60"),
                (r#"remotion_operator_aws_throttles_total{service="S3",operation="PutObject"}"#, "0+3x60"),
            ],
            vec![
                ("5m", "RemotionAwsThrottled", vec![]),
                (
                    "30m",
                    "RemotionAwsThrottled",
                    vec![expected_alert(throttled, &[("service", "Lambda"), ("operation", "Invoke")])],
                ),
            ],
        ),
        // Not throttled: 0.05 a second.
        case(
            &[(r#"remotion_operator_aws_throttles_total{service="Lambda",operation="Invoke"}"#, "0+3x60")],
            vec![("30m", "RemotionAwsThrottled", vec![])],
        ),
        // Cost: 1 USD a minute is 60 USD an hour.
        case(
            &[("remotion_operator_render_cost_usd_total", "0+1x120")],
            vec![("90m", "RemotionRenderCostHigh", vec![expected_alert(cost, &[])])],
        ),
        // Not costly: 30 USD an hour.
        case(
            &[("remotion_operator_render_cost_usd_total", "0+0.5x120")],
            vec![("90m", "RemotionRenderCostHigh", vec![])],
        ),
        // No leader: two standbys.
        case(
            &[(r#"remotion_operator_leader{pod="a"}"#, "0x30"), (r#"remotion_operator_leader{pod="b"}"#, "0x30")],
            vec![
                ("2m", "RemotionOperatorNoLeader", vec![]),
                ("10m", "RemotionOperatorNoLeader", vec![expected_alert(leader, &[])]),
            ],
        ),
        // No leader: no operator scraped at all.
        case(
            &[("remotion_operator_render_cost_usd_total", "0x30")],
            vec![("10m", "RemotionOperatorNoLeader", vec![expected_alert(leader, &[])])],
        ),
        // A leader and a standby.
        case(
            &[(r#"remotion_operator_leader{pod="a"}"#, "1x30"), (r#"remotion_operator_leader{pod="b"}"#, "0x30")],
            vec![("10m", "RemotionOperatorNoLeader", vec![])],
        ),
    ]
}

/// Writes the rule groups and the unit tests into `dir`; runs `promtool check rules` and
/// `promtool test rules`.
fn promtool_test(dir: &Path, rule: &Value, tests: Vec<Value>) -> Result<()> {
    let rules_file = dir.join("rules.yaml");
    // JSON is YAML: promtool reads it as is.
    std::fs::write(&rules_file, serde_json::to_string_pretty(&json!({"groups": rule["spec"]["groups"]}))?)?;
    let tests_file = dir.join("tests.yaml");
    std::fs::write(
        &tests_file,
        serde_json::to_string_pretty(&json!({
            "rule_files": ["rules.yaml"],
            "evaluation_interval": "1m",
            "tests": tests,
        }))?,
    )?;
    promtool_ok(&["check", "rules", &rules_file.to_string_lossy()])?;
    promtool_ok(&["test", "rules", &tests_file.to_string_lossy()])?;
    Ok(())
}

#[test]
fn alerts_fire_when_they_should_and_only_then() -> Result<()> {
    let rule = prometheus_rule(&[])?;
    assert_eq!(rule["metadata"]["namespace"], "ops");
    let rules = alerts(&rule);
    assert_eq!(
        rules.keys().map(String::as_str).collect::<Vec<_>>(),
        [
            "RemotionAwsThrottled",
            "RemotionOperatorNoLeader",
            "RemotionReconcilesFailing",
            "RemotionRenderCostHigh",
            "RemotionRendersStuck"
        ]
    );
    for (name, r) in &rules {
        for annotation in ["summary", "description", "runbook_url"] {
            assert!(r["annotations"][annotation].as_str().is_some_and(|a| !a.is_empty()), "{name}: {annotation}");
        }
        let url = r["annotations"]["runbook_url"].as_str().unwrap_or_default();
        let anchor = url.rsplit('#').next().unwrap_or_default();
        assert_eq!(anchor, name.to_lowercase(), "{name}: the runbook section");
        let runbook = std::fs::read_to_string(repo_root().join("docs/monitoring.md"))?;
        assert!(runbook.contains(&format!("### {name}")), "docs/monitoring.md has no runbook section for {name}");
    }
    let dir = tempfile::tempdir()?;
    promtool_test(dir.path(), &rule, unit_tests(&rules))
}

#[test]
fn alert_rules_select_only_exported_series() -> Result<()> {
    let families = exported()?;
    // With a selector: it reaches every series selector, and the rules still load.
    let rule = prometheus_rule(&[r#"prometheusRule.selector=namespace="videos""#])?;
    let mut used = BTreeSet::new();
    for (name, r) in alerts(&rule) {
        let expr = r["expr"].as_str().context("expr")?;
        used.extend(check_expr(expr, &families, &["namespace"]).with_context(|| name.clone())?);
        for (series, labels) in selectors(expr) {
            assert!(labels.contains(&"namespace".to_owned()), "{name}: {series} misses the selector");
        }
    }
    assert!(used.len() >= 6, "{used:?}");
    let dir = tempfile::tempdir()?;
    std::fs::write(dir.path().join("rules.yaml"), serde_json::to_string(&json!({"groups": rule["spec"]["groups"]}))?)?;
    promtool_ok(&["check", "rules", &dir.path().join("rules.yaml").to_string_lossy()])?;
    Ok(())
}

#[test]
fn thresholds_and_switches_come_from_the_values() -> Result<()> {
    let rule = prometheus_rule(&[
        "prometheusRule.stuckRenders.minutes=45",
        "prometheusRule.failingReconciles.ratio=0.5",
        "prometheusRule.awsThrottling.perSecond=2",
        "prometheusRule.cost.usdPerHour=12.5",
        "prometheusRule.noLeader.enabled=false",
        "prometheusRule.noLeader.severity=info",
        "prometheusRule.cost.severity=critical",
        "prometheusRule.additionalAlertLabels.team=video",
        "prometheusRule.labels.release=monitoring",
    ])?;
    assert_eq!(rule["metadata"]["labels"]["release"], "monitoring");
    let rules = alerts(&rule);
    assert!(!rules.contains_key("RemotionOperatorNoLeader"));
    let expr = |name: &str| rules[name]["expr"].as_str().unwrap_or_default().to_owned();
    assert!(expr("RemotionRendersStuck").contains("[45m]"), "{}", expr("RemotionRendersStuck"));
    assert!(expr("RemotionReconcilesFailing").ends_with("> 0.5"), "{}", expr("RemotionReconcilesFailing"));
    assert!(expr("RemotionAwsThrottled").ends_with("> 2"), "{}", expr("RemotionAwsThrottled"));
    assert!(expr("RemotionRenderCostHigh").ends_with("> 12.5"), "{}", expr("RemotionRenderCostHigh"));
    assert_eq!(rules["RemotionRenderCostHigh"]["labels"], json!({"severity": "critical", "team": "video"}));
    assert!(Charts::get().render_operator(&[])?.iter().all(|d| d["kind"] != "PrometheusRule"), "off by default");
    Charts::get().helm_ok(&[
        "lint",
        "--strict",
        &Charts::get().chart("remotion-operator"),
        "--set",
        "prometheusRule.enabled=true,grafanaDashboard.enabled=true,prometheusRule.selector=job=\"x\"",
    ])?;
    // The schema refuses a typo and a selector that is not label matchers.
    let chart = Charts::get().chart("remotion-operator");
    for bad in [
        "prometheusRule.stuckRenders.minute=5",
        "prometheusRule.selector=namespace=ops",
        "prometheusRule.cost.usdPerHour=0",
        "prometheusRule.failingReconciles.ratio=1.5",
        "grafanaDashboard.lable=x",
    ] {
        let out = Charts::get().helm(&["template", "rel", &chart, "--set", bad])?;
        assert!(!out.status.success(), "{bad} was accepted");
    }
    Ok(())
}

// --- The Grafana dashboard ------------------------------------------------------------------

fn dashboard() -> Result<Value> {
    let path = repo_root().join("charts/remotion-operator/dashboards/remotion-operator.json");
    serde_json::from_str(&std::fs::read_to_string(&path)?).with_context(|| format!("parsing {}", path.display()))
}

/// Every `expr` of the dashboard's panels.
fn dashboard_exprs(dashboard: &Value) -> Vec<String> {
    fn walk(value: &Value, out: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                for (key, v) in map {
                    match (key.as_str(), v) {
                        ("expr", Value::String(expr)) => out.push(expr.clone()),
                        _ => walk(v, out),
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(dashboard, &mut out);
    out
}

#[test]
fn the_dashboard_shows_every_exported_metric() -> Result<()> {
    let dashboard = dashboard()?;
    assert_eq!(dashboard["uid"], "remotion-operator");
    let panels = dashboard["panels"].as_array().context("panels")?;
    let exprs = dashboard_exprs(&dashboard);
    assert!(exprs.len() >= panels.len(), "every panel queries something");
    let families = exported()?;
    let mut used = BTreeSet::new();
    for expr in &exprs {
        used.extend(check_expr(expr, &families, &[])?);
    }
    let unshown: Vec<&String> = families.keys().filter(|f| !used.contains(*f)).collect();
    assert!(unshown.is_empty(), "exported but on no panel: {unshown:?}");
    for panel in panels {
        assert_eq!(panel["datasource"]["uid"], "${datasource}", "{}: the data source variable", panel["title"]);
    }

    // The PromQL parses: promtool checks each one as a recording rule, Grafana's interval
    // variables replaced by durations.
    let rules: Vec<Value> = exprs
        .iter()
        .enumerate()
        .map(|(i, e)| json!({"record": format!("dashboard:panel_{i}"), "expr": e.replace("$__rate_interval", "5m")}))
        .collect();
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("dashboard-rules.yaml");
    std::fs::write(&file, serde_json::to_string(&json!({"groups": [{"name": "dashboard", "rules": rules}]}))?)?;
    promtool_ok(&["check", "rules", &file.to_string_lossy()])?;

    // Shipped as is in a ConfigMap Grafana's sidecar finds, only when enabled.
    let docs = Charts::get().render_operator(&["grafanaDashboard.enabled=true"])?;
    let maps = of_kind(&docs, "ConfigMap");
    let map =
        maps.iter().find(|m| m["metadata"]["name"] == "rel-remotion-operator-dashboard").context("the ConfigMap")?;
    assert_eq!(map["metadata"]["labels"]["grafana_dashboard"], "1");
    let shipped: Value = serde_json::from_str(map["data"]["remotion-operator.json"].as_str().context("the JSON")?)?;
    assert_eq!(shipped, dashboard);
    let default = Charts::get().render_operator(&[])?;
    assert!(default.iter().all(|d| d["metadata"]["name"] != "rel-remotion-operator-dashboard"), "off by default");
    Ok(())
}
