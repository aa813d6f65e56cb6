//! The generated CRDs on the real API server stand-in: Established, discoverable, every sample
//! accepted, every rule enforced server-side with its message.

use anyhow::{Context, Result, bail};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams};
use kube::discovery::Discovery;
use kube::{Client, Error};
use remotion_crds::common::{GROUP, VERSION, is_condition_true};
use remotion_tests::TestEnv;
use remotion_tests::cases::{self, Phase, server_side_matches};
use remotion_tests::merge::merged;
use remotion_tests::samples::{all_samples, sample};
use serde_json::{Value, json};

fn api_for(client: &Client, namespace: &str, kind: &str) -> Api<DynamicObject> {
    let plural = format!("{}s", kind.to_lowercase());
    let ar = ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(GROUP, VERSION, kind), &plural);
    Api::namespaced_with(client.clone(), namespace, &ar)
}

fn with_name(mut object: Value, name: &str) -> Value {
    object["metadata"] = json!({ "name": name });
    object
}

async fn create(client: &Client, namespace: &str, object: &Value) -> Result<DynamicObject, Error> {
    let kind = object["kind"].as_str().unwrap_or_default();
    let obj: DynamicObject = serde_json::from_value(object.clone()).expect("a Kubernetes object");
    api_for(client, namespace, kind).create(&PostParams::default(), &obj).await
}

fn rejection(result: Result<DynamicObject, Error>) -> Option<String> {
    match result {
        Err(Error::Api(status)) if status.code == 422 => Some(status.message.clone()),
        _ => None,
    }
}

#[tokio::test]
async fn crds_are_established_and_discoverable() -> Result<()> {
    let client = TestEnv::get().kube_client().await?;
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    for name in ["lambdabuckets", "renderfunctions", "remotionsites", "renderjobs"] {
        let crd = crds.get(&format!("{name}.{GROUP}")).await?;
        let conditions = crd.status.and_then(|s| s.conditions).unwrap_or_default();
        assert!(
            conditions.iter().any(|c| c.type_ == "Established" && c.status == "True"),
            "{name} not Established: {conditions:?}"
        );
    }
    let discovery = Discovery::new(client).filter(&[GROUP]).run().await?;
    let group = discovery.get(GROUP).context("group not discovered")?;
    let mut kinds: Vec<String> = group.recommended_resources().into_iter().map(|(ar, _)| ar.kind).collect();
    kinds.sort();
    assert_eq!(kinds, ["LambdaBucket", "RemotionSite", "RenderFunction", "RenderJob"]);
    // Keep the helper honest: the conditions helper reads metav1 conditions as the server writes them.
    assert!(!is_condition_true(&[], "Ready"));
    Ok(())
}

#[tokio::test]
async fn every_sample_is_accepted() -> Result<()> {
    let env = TestEnv::get();
    let client = env.kube_client().await?;
    let ns = env.unique_name("samples");
    for s in all_samples()? {
        let name = s.object["metadata"]["name"].as_str().unwrap_or_default().to_owned();
        let created = create(&client, &ns, &s.object).await.with_context(|| format!("{} was rejected", s.file))?;
        assert_eq!(created.metadata.name.as_deref(), Some(name.as_str()));
        // Defaults are applied by the server (e.g. maxRetries, deletionPolicy).
        let spec = &created.data["spec"];
        match s.kind() {
            "RenderJob" => assert!(spec["maxRetries"].is_i64() && spec["cancel"].is_boolean(), "{}", s.file),
            "LambdaBucket" => assert!(spec["deletionPolicy"].is_string(), "{}", s.file),
            "RenderFunction" => assert!(spec["memorySizeMb"].is_i64(), "{}", s.file),
            _ => {}
        }
    }
    Ok(())
}

#[tokio::test]
async fn every_rule_is_enforced_server_side() -> Result<()> {
    let env = TestEnv::get();
    let client = env.kube_client().await?;
    let ns = env.unique_name("rules");
    let mut failures = Vec::new();
    for case in cases::all() {
        let base = sample(case.sample)?;
        let kind = base["kind"].as_str().unwrap_or_default().to_owned();
        let api = api_for(&client, &ns, &kind);
        match case.phase {
            Phase::Create => {
                let valid = with_name(merged(&base, &case.valid), &format!("{}-ok", case.name));
                if let Err(e) = create(&client, &ns, &valid).await {
                    failures.push(format!("{}: the valid variant was rejected: {e}", case.name));
                }
                let invalid = with_name(merged(&base, &case.invalid), &format!("{}-bad", case.name));
                match rejection(create(&client, &ns, &invalid).await) {
                    None => failures.push(format!("{}: the invalid variant was not rejected with 422", case.name)),
                    Some(m) if !server_side_matches(case.expect, &m) => {
                        failures.push(format!("{}: rejected, but not with {:?}: {m}", case.name, case.expect))
                    }
                    Some(_) => {}
                }
            }
            Phase::Update => {
                let name = format!("{}-upd", case.name);
                create(&client, &ns, &with_name(base.clone(), &name))
                    .await
                    .with_context(|| format!("{}: creating", case.name))?;
                if let Err(e) = api.patch(&name, &PatchParams::default(), &Patch::Merge(&case.valid)).await {
                    failures.push(format!("{}: the valid update was rejected: {e}", case.name));
                }
                match rejection(api.patch(&name, &PatchParams::default(), &Patch::Merge(&case.invalid)).await) {
                    None => failures.push(format!("{}: the invalid update was not rejected with 422", case.name)),
                    Some(m) if !server_side_matches(case.expect, &m) => {
                        failures.push(format!("{}: rejected, but not with {:?}: {m}", case.name, case.expect))
                    }
                    Some(_) => {}
                }
            }
        }
    }
    if !failures.is_empty() {
        bail!("{} of {} cases failed server-side:\n{}", failures.len(), cases::all().len(), failures.join("\n"));
    }
    Ok(())
}

#[tokio::test]
async fn status_is_a_subresource_with_map_keyed_conditions() -> Result<()> {
    let env = TestEnv::get();
    let client = env.kube_client().await?;
    let ns = env.unique_name("status");
    let job = with_name(sample("renderjob-video.yaml")?, "status-check");
    create(&client, &ns, &job).await?;
    let api = api_for(&client, &ns, "RenderJob");
    // Two field managers own one condition each; server-side apply merges them by type.
    for (manager, type_) in [("remotion-operator/renderjob", "Ready"), ("someone-else", "Audited")] {
        let patch = json!({
            "apiVersion": format!("{GROUP}/{VERSION}"), "kind": "RenderJob",
            "status": {"conditions": [{"type": type_, "status": "Unknown", "reason": "Testing", "message": "", "lastTransitionTime": "2026-11-23T00:00:00Z"}]}
        });
        api.patch_status("status-check", &PatchParams::apply(manager).force(), &Patch::Apply(&patch)).await?;
    }
    let got = api.get_status("status-check").await?;
    let types: Vec<&str> =
        got.data["status"]["conditions"].as_array().unwrap().iter().filter_map(|c| c["type"].as_str()).collect();
    assert_eq!(types.len(), 2, "{types:?}");
    // A spec write through the main resource cannot touch the status.
    let spec_only = api
        .patch("status-check", &PatchParams::default(), &Patch::Merge(json!({"status": {"phase": "Succeeded"}})))
        .await?;
    assert!(spec_only.data["status"].get("phase").is_none());
    Ok(())
}
