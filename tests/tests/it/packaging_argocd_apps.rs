//! The Argo CD Applications of `config/argocd/`: an app of apps (`app-of-apps.yaml`) whose
//! source folder `applications/` holds one Application per chart, the CRD chart in an
//! earlier sync wave than the operator chart. Checked as Argo CD would read them (kinds,
//! repository, paths, waves, sync policy), the charts rendered by helm with each
//! Application's values, and `docs/argocd.md` showing the files as they are.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::packaging_support::{Charts, of_kind, repo_root, yaml_documents, yaml_file};
use anyhow::{Context, Result, ensure};
use serde_json::Value;

const WAVE: &str = "argocd.argoproj.io/sync-wave";
const CRDS_APP: &str = "remotion-operator-crds";
const OPERATOR_APP: &str = "remotion-operator";

fn argocd_dir() -> PathBuf {
    repo_root().join("config").join("argocd")
}

/// The repository the workspace's `Cargo.toml` names: the Applications must sync from it.
fn repository() -> Result<String> {
    let manifest = std::fs::read_to_string(repo_root().join("Cargo.toml"))?;
    let line =
        manifest.lines().find(|l| l.trim_start().starts_with("repository")).context("no repository in Cargo.toml")?;
    let url = line.split('"').nth(1).context("repository is not a quoted string")?;
    Ok(url.to_owned())
}

/// The relative path of `path` under the repository root.
fn relative(path: &Path) -> String {
    path.strip_prefix(repo_root()).unwrap_or(path).to_string_lossy().into_owned()
}

/// The one Application of a file, checked for what every Application here needs.
fn application(path: &Path) -> Result<Value> {
    let docs = yaml_documents(&std::fs::read_to_string(path)?)?;
    ensure!(docs.len() == 1, "{}: {} documents, want one Application", relative(path), docs.len());
    let app = docs.into_iter().next().context("no document")?;
    let at = relative(path);
    ensure!(app["apiVersion"] == "argoproj.io/v1alpha1" && app["kind"] == "Application", "{at}: not an Application");
    ensure!(app["metadata"]["namespace"] == "argocd", "{at}: Applications live in the argocd namespace");
    ensure!(app["spec"]["project"] == "default", "{at}: project");
    ensure!(
        app["spec"]["source"]["repoURL"] == repository()?.as_str(),
        "{at}: repoURL is not the project's repository"
    );
    ensure!(app["spec"]["source"]["targetRevision"] == "main", "{at}: targetRevision");
    ensure!(app["spec"]["destination"]["server"] == "https://kubernetes.default.svc", "{at}: destination.server");
    let source_path = app["spec"]["source"]["path"].as_str().with_context(|| format!("{at}: no source.path"))?;
    ensure!(
        repo_root().join(source_path).is_dir(),
        "{at}: source.path {source_path} is not a folder of the repository"
    );
    Ok(app)
}

fn wave(app: &Value) -> Result<i64> {
    let text = app["metadata"]["annotations"][WAVE].as_str().context("no sync-wave annotation (a string)")?;
    text.parse().with_context(|| format!("sync wave {text:?} is not a number"))
}

/// The children the parent syncs, by name: every file of its source folder.
fn children() -> Result<BTreeMap<String, Value>> {
    let dir = argocd_dir().join("applications");
    let mut apps = BTreeMap::new();
    for entry in std::fs::read_dir(&dir)? {
        let path = entry?.path();
        // Argo CD applies every manifest of the folder: only Applications may be there.
        ensure!(path.extension().is_some_and(|e| e == "yaml"), "{}: not a manifest", relative(&path));
        let app = application(&path)?;
        let name = app["metadata"]["name"].as_str().context("no name")?.to_owned();
        ensure!(
            path.file_stem().is_some_and(|s| s == name.as_str()),
            "{}: file not named after {name}",
            relative(&path)
        );
        apps.insert(name, app);
    }
    Ok(apps)
}

#[test]
fn parent_syncs_the_applications_folder() -> Result<()> {
    let parent = application(&argocd_dir().join("app-of-apps.yaml"))?;
    assert_eq!(parent["spec"]["source"]["path"], "config/argocd/applications");
    assert_eq!(parent["spec"]["destination"]["namespace"], "argocd", "child Applications go to argocd");
    assert_eq!(
        parent["spec"]["syncPolicy"]["automated"]["prune"], false,
        "pruning a removed child would delete the CRDs and every resource"
    );
    assert!(parent["metadata"]["annotations"][WAVE].is_null(), "the parent is applied by hand, not in a wave");
    Ok(())
}

/// One Application per chart, the CRDs in an earlier wave, and neither one able to delete
/// the CRDs by pruning or by a deletion cascading from the Application.
#[test]
fn one_application_per_chart_crds_first() -> Result<()> {
    let apps = children()?;
    assert_eq!(apps.keys().map(String::as_str).collect::<Vec<_>>(), [OPERATOR_APP, CRDS_APP]);
    let crds = &apps[CRDS_APP];
    let operator = &apps[OPERATOR_APP];
    assert!(wave(crds)? < wave(operator)?, "the CRDs must sync in an earlier wave than the operator");

    for (app, chart) in [(crds, "remotion-operator-crds"), (operator, "remotion-operator")] {
        assert_eq!(app["spec"]["source"]["path"], format!("charts/{chart}"));
        let chart_yaml = yaml_file(&repo_root().join("charts").join(chart).join("Chart.yaml"))?;
        assert_eq!(chart_yaml["name"], chart);
        let finalizers = app["metadata"]["finalizers"].as_array().cloned().unwrap_or_default();
        assert!(finalizers.is_empty(), "{chart}: a resources finalizer would delete what the chart installed");
    }

    assert_eq!(crds["spec"]["syncPolicy"]["automated"]["prune"], false, "never prune CRDs");
    let crd_options: Vec<&str> =
        crds["spec"]["syncPolicy"]["syncOptions"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
    assert!(crd_options.contains(&"ServerSideApply=true"), "{crd_options:?}");

    let values = &operator["spec"]["source"]["helm"]["valuesObject"];
    assert_eq!(values["installCrds"], false, "the operator Application must leave the CRDs to the earlier wave");
    assert_eq!(operator["spec"]["destination"]["namespace"], "remotion-operator-system");
    let options: Vec<&str> = operator["spec"]["syncPolicy"]["syncOptions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    assert!(options.contains(&"CreateNamespace=true"), "{options:?}");
    Ok(())
}

/// What Argo CD would render from each Application: the CRD chart gives the four CRDs, the
/// operator chart with the Application's values gives the operator and no CRD.
#[test]
fn charts_render_with_the_applications_values() -> Result<()> {
    let apps = children()?;
    let scratch = tempfile::tempdir()?;
    let charts = Charts::prepare_in(scratch.path().join("charts-copy"))?;

    let crds = yaml_documents(&charts.helm_ok(&["template", CRDS_APP, &charts.chart("remotion-operator-crds")])?)?;
    let kinds: Vec<&str> =
        of_kind(&crds, "CustomResourceDefinition").iter().filter_map(|c| c["spec"]["names"]["kind"].as_str()).collect();
    assert_eq!(kinds.len(), 4, "{kinds:?}");
    assert_eq!(crds.len(), 4, "the CRD chart holds only the CRDs");

    let operator = &apps[OPERATOR_APP];
    let values = scratch.path().join("values.yaml");
    std::fs::write(&values, serde_json::to_string(&operator["spec"]["source"]["helm"]["valuesObject"])?)?;
    let namespace = operator["spec"]["destination"]["namespace"].as_str().context("no namespace")?;
    let rendered = yaml_documents(&charts.helm_ok(&[
        "template",
        OPERATOR_APP,
        &charts.chart("remotion-operator"),
        "--namespace",
        namespace,
        "--values",
        &values.to_string_lossy(),
    ])?)?;
    assert!(of_kind(&rendered, "CustomResourceDefinition").is_empty(), "CRDs in the operator's wave");
    assert_eq!(of_kind(&rendered, "Deployment").len(), 1);
    Ok(())
}

/// `docs/argocd.md` shows every Application file and snippet as it is in `config/argocd/`.
#[test]
fn docs_show_the_files_as_they_are() -> Result<()> {
    let docs = std::fs::read_to_string(repo_root().join("docs").join("argocd.md"))?;
    let files = ["app-of-apps.yaml", "applications/remotion-operator-crds.yaml", "applications/remotion-operator.yaml"];
    for file in files {
        let text = std::fs::read_to_string(argocd_dir().join(file))?;
        // The manifest without its leading comment, as a YAML block of the page.
        let manifest: String =
            text.lines().skip_while(|l| l.starts_with('#')).map(|l| format!("{l}\n")).collect::<String>();
        assert!(docs.contains(&format!("```yaml\n{manifest}```")), "docs/argocd.md does not show {file} as it is");
        assert!(docs.contains(&format!("config/argocd/{file}")), "docs/argocd.md does not name {file}");
    }
    for snippet in ["argocd-cm.yaml", "argocd-cm-application-health.yaml"] {
        assert!(docs.contains(&format!("config/argocd/{snippet}")), "docs/argocd.md does not name {snippet}");
    }
    Ok(())
}
