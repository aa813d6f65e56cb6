//! One object the operator cannot read does not stall its watch: the CRD of this test binary's
//! own API server is widened with a codec this operator does not know (as when CRDs are
//! upgraded before the operator); a RenderJob using it is reported with an `InvalidObject`
//! condition and Event, once, while a valid RenderJob beside it is still reconciled.

use std::time::Duration;

use crate::common::{Operator, eventually, test_secrets};
use anyhow::{Context as _, Result};
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Client;
use kube::api::{Api, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::discovery::ApiResource;
use remotion_operator::reconcile::guard::INVALID_OBJECT;
use remotion_tests::TestEnv;
use serde_json::{Value, json};

const CRD: &str = "renderjobs.remotion-operator.io";
const CODEC_ENUM: &str = "/spec/versions/0/schema/openAPIV3Schema/properties/spec/properties/codec/enum";

fn render_jobs(client: &Client, namespace: &str) -> Api<DynamicObject> {
    let resource = ApiResource {
        group: "remotion-operator.io".into(),
        version: "v1alpha1".into(),
        api_version: "remotion-operator.io/v1alpha1".into(),
        kind: "RenderJob".into(),
        plural: "renderjobs".into(),
    };
    Api::namespaced_with(client.clone(), namespace, &resource)
}

fn job(name: &str, codec: &str) -> Result<DynamicObject> {
    Ok(serde_json::from_value(json!({
        "apiVersion": "remotion-operator.io/v1alpha1", "kind": "RenderJob",
        "metadata": {"name": name},
        "spec": {"siteRef": {"name": "nowhere"}, "functionRef": {"name": "nobody"},
                 "composition": "Intro", "codec": codec},
    }))?)
}

fn ready(object: &DynamicObject) -> Option<(String, String, String)> {
    let conditions = object.data.get("status")?.get("conditions")?.as_array()?;
    let ready = conditions.iter().find(|c| c["type"] == "Ready")?;
    let text = |k: &str| ready[k].as_str().unwrap_or_default().to_owned();
    Some((text("status"), text("reason"), text("message")))
}

#[tokio::test]
async fn an_unreadable_render_job_is_reported_and_does_not_stall_the_others() -> Result<()> {
    let env = TestEnv::get();
    let client = env.kube_client().await?;
    let namespace = env.unique_name("invalid");
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());

    // A newer CRD than this operator: one more codec.
    let widen = json!([{"op": "add", "path": format!("{CODEC_ENUM}/-"), "value": "av1"}]);
    crds.patch(CRD, &PatchParams::default(), &Patch::Json::<()>(serde_json::from_value(widen)?)).await?;
    let jobs = render_jobs(&client, &namespace);
    // The API server takes a moment to validate with the new schema.
    eventually("the widened CRD accepts codec av1", Duration::from_secs(30), || async {
        Ok(jobs.create(&PostParams::default(), &job("from-the-future", "av1")?).await.ok().map(|_| ()))
    })
    .await?;
    jobs.create(&PostParams::default(), &job("ordinary", "h264")?).await?;

    let operator = Operator::start(client.clone(), test_secrets(&namespace), &namespace).await?;

    // The valid job is reconciled: it waits for its site.
    let ordinary = eventually("the valid job is reconciled", Duration::from_secs(30), || async {
        let object = jobs.get("ordinary").await?;
        Ok(ready(&object).filter(|r| r.1 != INVALID_OBJECT.as_str()).map(|_| object))
    })
    .await?;
    let (_, reason, message) = ready(&ordinary).context("Ready")?;
    assert!(message.contains("nowhere"), "waits for RemotionSite nowhere: {reason}: {message}");

    // The unreadable one says why, names the value and what to do.
    let invalid = eventually("the unreadable job has an InvalidObject condition", Duration::from_secs(30), || async {
        let object = jobs.get("from-the-future").await?;
        Ok(ready(&object).filter(|r| r.1 == INVALID_OBJECT.as_str()).map(|_| object))
    })
    .await?;
    let (status, _, message) = ready(&invalid).context("Ready")?;
    assert_eq!(status, "False");
    assert!(message.contains("av1") && message.contains("upgrade the operator"), "{message}");
    let events: Api<Event> = Api::namespaced(client.clone(), &namespace);
    let reported = eventually("an InvalidObject Warning Event", Duration::from_secs(10), || async {
        let list = events.list(&ListParams::default()).await?;
        Ok(list
            .items
            .into_iter()
            .find(|e| {
                e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some("from-the-future")
                    && e.reason.as_deref() == Some(INVALID_OBJECT.as_str())
            })
            .map(|e| e.type_.unwrap_or_default()))
    })
    .await?;
    assert_eq!(reported, "Warning");

    // Reported once: the condition write does not set off another.
    let version = invalid.metadata.resource_version.clone();
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(jobs.get("from-the-future").await?.metadata.resource_version, version, "no status churn");

    operator.stop().await?;
    // Leave the CRD as other tests of a shared API server expect it.
    let crd = crds.get(CRD).await?;
    let codecs: Vec<Value> =
        serde_json::to_value(&crd)?.pointer(CODEC_ENUM).and_then(Value::as_array).cloned().unwrap_or_default();
    let index = codecs.iter().position(|c| c == "av1").context("av1 in the codec enum")?;
    jobs.delete("from-the-future", &Default::default()).await?;
    let narrow = json!([{"op": "remove", "path": format!("{CODEC_ENUM}/{index}")}]);
    crds.patch(CRD, &PatchParams::default(), &Patch::Json::<()>(serde_json::from_value(narrow)?)).await?;
    Ok(())
}
