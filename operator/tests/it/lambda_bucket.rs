//! LambdaBucket controller against the real API server stand-in and SeaweedFS: create, adopt,
//! MultipleBuckets, Delete vs Retain, ownership between namespaces (owner tags: no adopting,
//! reconfiguring or deleting another's bucket; auto-named buckets one per namespace; only
//! created buckets deleted), status discipline (conditions, observedGeneration,
//! finalizer, a second field manager, no churn), and the runtime's /ready and /metrics.

use std::time::Duration;

use crate::common::{CREDENTIALS_SECRET, Operator, eventually, http_get, test_secrets};
use anyhow::Result;
use k8s_openapi::api::events::v1::Event;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::{Client, ResourceExt};
use remotion_crds::common::find_condition;
use remotion_crds::lambda_bucket::{DeletionPolicy, Expiry, bucket_prefix_for_region};
use remotion_crds::{AwsAccess, AwsCredentials, LambdaBucket, LambdaBucketSpec, LocalObjectRef};
use remotion_operator::controllers::lambda_bucket::{CONTROLLER, FIELD_MANAGER};
use remotion_operator::reconcile::FINALIZER;
use remotion_operator::reconcile::kstatus::{self, Standing};
use remotion_tests::TestEnv;
use serde_json::json;

const WAIT: Duration = Duration::from_secs(60);

fn spec(region: &str) -> LambdaBucketSpec {
    LambdaBucketSpec {
        aws: AwsAccess {
            region: region.to_owned(),
            credentials: Some(AwsCredentials {
                secret_ref: Some(LocalObjectRef::new(CREDENTIALS_SECRET)),
                role_arn: None,
                external_id: None,
            }),
            endpoint: Some(TestEnv::get().s3().endpoint.clone()),
        },
        bucket_name: None,
        deletion_policy: DeletionPolicy::Retain,
        expiry: None,
        public_outputs: false,
        tags: Default::default(),
    }
}

async fn setup(prefix: &str) -> Result<(Client, String, Api<LambdaBucket>, Operator)> {
    let env = TestEnv::get();
    let client = env.kube_client().await?;
    let namespace = env.unique_name(prefix);
    let api: Api<LambdaBucket> = Api::namespaced(client.clone(), &namespace);
    let operator = Operator::start(client.clone(), test_secrets(&namespace), &namespace).await?;
    Ok((client, namespace, api, operator))
}

async fn create(api: &Api<LambdaBucket>, name: &str, spec: LambdaBucketSpec) -> Result<LambdaBucket> {
    Ok(api.create(&PostParams::default(), &LambdaBucket::new(name, spec)).await?)
}

/// Waits until `Ready` has `status` and the status describes the current generation.
async fn wait_ready(api: &Api<LambdaBucket>, name: &str, status: &str) -> Result<LambdaBucket> {
    eventually(&format!("{name} Ready={status}"), WAIT, || async {
        let lb = api.get(name).await?;
        let ready = lb.status.as_ref().and_then(|s| find_condition(&s.conditions, "Ready")).map(|c| c.status.clone());
        let observed = lb.status.as_ref().and_then(|s| s.observed_generation);
        Ok((ready.as_deref() == Some(status) && observed == lb.metadata.generation).then_some(lb))
    })
    .await
}

async fn events_for(client: &Client, namespace: &str, name: &str) -> Result<Vec<(String, String, String)>> {
    let events: Api<Event> = Api::namespaced(client.clone(), namespace);
    Ok(events
        .list(&ListParams::default())
        .await?
        .items
        .into_iter()
        .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name))
        .map(|e| (e.type_.unwrap_or_default(), e.reason.unwrap_or_default(), e.note.unwrap_or_default()))
        .collect())
}

async fn bucket_exists(name: &str) -> bool {
    TestEnv::get().s3().client().await.head_bucket().bucket(name).send().await.is_ok()
}

#[tokio::test]
async fn creates_a_bucket_keeps_its_status_still_and_deletes_it_with_policy_delete() -> Result<()> {
    let (client, namespace, api, operator) = setup("lb-create").await?;
    let mut wanted = spec("xa-test-1");
    wanted.deletion_policy = DeletionPolicy::Delete;
    wanted.expiry = Some(Expiry { enabled: true });
    create(&api, "main", wanted).await?;

    let lb = wait_ready(&api, "main", "True").await?;
    let status = lb.status.clone().unwrap();
    let bucket = status.bucket_name.clone().unwrap();
    assert!(bucket.starts_with(&bucket_prefix_for_region("xa-test-1")), "{bucket}");
    assert_eq!(bucket.len(), "remotionlambda-xatest1-".len() + 10);
    assert_eq!(status.region.as_deref(), Some("xa-test-1"));
    assert_eq!(status.url, Some(format!("{}/{bucket}", TestEnv::get().s3().endpoint)));
    assert!(lb.finalizers().contains(&FINALIZER.to_owned()));
    let ready = find_condition(&status.conditions, "Ready").unwrap();
    assert_eq!(ready.reason, "Available");
    // SeaweedFS has no PublicAccessBlock API: recorded, not fatal (AWS would be an error).
    assert_eq!(
        ready.message,
        format!(
            "Bucket {bucket} is ready; the S3-compatible store does not support PublicAccessBlock (access is whatever the store enforces)"
        )
    );
    assert_eq!(ready.observed_generation, lb.metadata.generation);
    assert!(bucket_exists(&bucket).await);
    // expiry.enabled: one rule per deleteAfter value on the renders/ prefix, by tag.
    let s3 = TestEnv::get().s3().client().await;
    let lifecycle = s3.get_bucket_lifecycle_configuration().bucket(&bucket).send().await?;
    let mut rules: Vec<(String, Option<i32>)> = lifecycle
        .rules()
        .iter()
        .map(|r| (r.id().unwrap_or_default().to_owned(), r.expiration().and_then(|e| e.days())))
        .collect();
    rules.sort();
    assert_eq!(
        rules,
        [("1-day", 1), ("3-days", 3), ("30-days", 30), ("7-days", 7)]
            .map(|(id, days)| (format!("remotion-delete-after-{id}"), Some(days)))
            .to_vec()
    );
    let events = events_for(&client, &namespace, "main").await?;
    assert!(events.iter().any(|(t, r, n)| t == "Normal" && r == "Created" && n.contains(&bucket)), "{events:?}");

    // The status is written by our field manager through the status subresource.
    assert!(
        lb.managed_fields()
            .iter()
            .any(|f| f.manager.as_deref() == Some(FIELD_MANAGER) && f.subresource.as_deref() == Some("status"))
    );

    // A second field manager adds a condition of its own; our next reconcile (triggered by
    // that very change) must neither remove it nor write anything.
    let other = json!({
        "apiVersion": "remotion-operator.io/v1alpha1", "kind": "LambdaBucket",
        "status": {"conditions": [{"type": "Audited", "status": "True", "reason": "Checked", "message": "by someone else",
            "lastTransitionTime": "2026-01-01T00:00:00Z"}]}
    });
    let before = operator.reconciles(CONTROLLER);
    let written = api.patch_status("main", &PatchParams::apply("someone-else").force(), &Patch::Apply(&other)).await?;
    let version = written.resource_version();
    eventually("a reconcile after the foreign write", WAIT, || async {
        Ok((operator.reconciles(CONTROLLER) > before).then_some(()))
    })
    .await?;
    // Let a write, if one were coming, land.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = api.get("main").await?;
    assert_eq!(after.resource_version(), version, "the idle reconcile wrote the status");
    let conditions = &after.status.as_ref().unwrap().conditions;
    assert!(find_condition(conditions, "Audited").is_some(), "{conditions:?}");
    assert_eq!(find_condition(conditions, "Ready").unwrap().status, "True");

    // A restarted operator reconciles everything again, and still writes nothing.
    operator.stop().await?;
    let operator = Operator::start(client.clone(), test_secrets(&namespace), &namespace).await?;
    eventually("a reconcile by the new operator", WAIT, || async {
        Ok((operator.reconciles(CONTROLLER) > 0).then_some(()))
    })
    .await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(api.get("main").await?.resource_version(), version, "the resync wrote the status");

    // /metrics exposes the runtime's series.
    let (code, metrics) = http_get(operator.http, "/metrics").await?;
    assert_eq!(code, 200);
    for series in [
        "remotion_operator_reconciles_total{controller=\"lambdabucket\"}",
        "remotion_operator_reconcile_duration_seconds_bucket{",
        "remotion_operator_renders{phase=\"Rendering\"} 0",
        "remotion_operator_render_cost_usd_total ",
    ] {
        assert!(metrics.contains(series), "{series} missing from:\n{metrics}");
    }

    // deletionPolicy Delete: the bucket is emptied and removed, then the finalizer goes —
    // old versions, delete markers and unfinished multipart uploads included, which a plain
    // listing does not show and which keep a bucket from being deleted.
    s3.put_bucket_versioning()
        .bucket(&bucket)
        .versioning_configuration(
            aws_sdk_s3::types::VersioningConfiguration::builder()
                .status(aws_sdk_s3::types::BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await?;
    for body in [&b"first take"[..], b"second take"] {
        s3.put_object().bucket(&bucket).key("renders/x/out.mp4").body(body.to_vec().into()).send().await?;
    }
    s3.put_object().bucket(&bucket).key("renders/x/progress.json").body(b"{}".to_vec().into()).send().await?;
    s3.delete_object().bucket(&bucket).key("renders/x/progress.json").send().await?;
    let versions = s3.list_object_versions().bucket(&bucket).send().await?;
    assert_eq!(versions.versions().len(), 3, "{versions:?}");
    assert_eq!(versions.delete_markers().len(), 1, "{versions:?}");
    let upload = s3.create_multipart_upload().bucket(&bucket).key("renders/y/out.mp4").send().await?;
    s3.upload_part()
        .bucket(&bucket)
        .key("renders/y/out.mp4")
        .upload_id(upload.upload_id().unwrap())
        .part_number(1)
        .body(vec![7u8; 1024].into())
        .send()
        .await?;
    api.delete("main", &DeleteParams::default()).await?;
    eventually("the LambdaBucket is gone", WAIT, || async { Ok(api.get_opt("main").await?.is_none().then_some(())) })
        .await?;
    assert!(!bucket_exists(&bucket).await, "bucket {bucket} still exists");
    operator.stop().await
}

/// A namespace's deletion removes its credentials Secret before the resources that use it:
/// the operator still deletes the bucket, with the credentials it last read.
#[tokio::test]
async fn a_bucket_is_deleted_even_when_its_credentials_secret_went_first() -> Result<()> {
    let env = TestEnv::get();
    let client = env.kube_client().await?;
    let namespace = env.unique_name("lb-keys-gone");
    let secrets = test_secrets(&namespace);
    let api: Api<LambdaBucket> = Api::namespaced(client.clone(), &namespace);
    let operator = Operator::start(client.clone(), secrets.clone(), &namespace).await?;
    let mut wanted = spec("us-east-1");
    wanted.deletion_policy = DeletionPolicy::Delete;
    create(&api, "main", wanted).await?;
    let lb = wait_ready(&api, "main", "True").await?;
    let bucket = lb.status.and_then(|s| s.bucket_name).expect("a bucket name");
    assert!(bucket_exists(&bucket).await);

    secrets.remove_secret(&namespace, CREDENTIALS_SECRET);
    api.delete("main", &DeleteParams::default()).await?;
    eventually("the LambdaBucket is gone", WAIT, || async { Ok(api.get_opt("main").await?.is_none().then_some(())) })
        .await?;
    assert!(!bucket_exists(&bucket).await, "bucket {bucket} still exists");
    let events = events_for(&client, &namespace, "main").await?;
    assert!(events.iter().any(|(_, r, n)| r == "Deleted" && n.contains(&bucket)), "{events:?}");
    assert!(!events.iter().any(|(_, r, _)| r == "CleanupAbandoned"), "{events:?}");
    operator.stop().await
}

#[tokio::test]
async fn adopts_the_single_bucket_of_the_region_and_retains_it() -> Result<()> {
    let (client, namespace, api, operator) = setup("lb-adopt").await?;
    let s3 = TestEnv::get().s3().client().await;
    let existing = format!("{}adopt12345", bucket_prefix_for_region("xb-test-1"));
    s3.create_bucket().bucket(&existing).send().await?;
    s3.put_object().bucket(&existing).key("sites/a/index.html").body(b"<html>".to_vec().into()).send().await?;

    create(&api, "adopted", spec("xb-test-1")).await?;
    let lb = wait_ready(&api, "adopted", "True").await?;
    assert_eq!(lb.status.as_ref().unwrap().bucket_name.as_deref(), Some(existing.as_str()));
    let events = events_for(&client, &namespace, "adopted").await?;
    assert!(events.iter().any(|(_, r, _)| r == "Adopted"), "{events:?}");

    // Retain (the default): the resource goes, the bucket and its objects stay.
    api.delete("adopted", &DeleteParams::default()).await?;
    eventually("the LambdaBucket is gone", WAIT, || async {
        Ok(api.get_opt("adopted").await?.is_none().then_some(()))
    })
    .await?;
    assert!(bucket_exists(&existing).await);
    s3.head_object().bucket(&existing).key("sites/a/index.html").send().await?;
    operator.stop().await
}

#[tokio::test]
async fn two_candidate_buckets_are_a_terminal_multiple_buckets_condition() -> Result<()> {
    let (client, namespace, api, operator) = setup("lb-multiple").await?;
    let s3 = TestEnv::get().s3().client().await;
    let prefix = bucket_prefix_for_region("xc-test-1");
    let (a, b) = (format!("{prefix}aaaaaaaaaa"), format!("{prefix}bbbbbbbbbb"));
    for name in [&a, &b] {
        s3.create_bucket().bucket(name).send().await?;
    }
    create(&api, "ambiguous", spec("xc-test-1")).await?;
    let lb = wait_ready(&api, "ambiguous", "False").await?;
    let status = lb.status.unwrap();
    let ready = find_condition(&status.conditions, "Ready").unwrap();
    assert_eq!(ready.reason, "MultipleBuckets");
    assert!(ready.message.contains(&a) && ready.message.contains(&b), "{}", ready.message);
    assert!(ready.message.contains("spec.bucketName"), "{}", ready.message);
    assert_eq!(status.bucket_name, None);
    // kstatus (Flux, kpt): a terminal condition is Stalled, not "in progress" until a timeout.
    let standing = kstatus::compute(lb.metadata.generation, status.observed_generation, &status.conditions);
    assert_eq!(standing, Standing::Stalled);
    assert_eq!(find_condition(&status.conditions, "Stalled").unwrap().reason, "MultipleBuckets");
    let events = events_for(&client, &namespace, "ambiguous").await?;
    assert!(events.iter().any(|(t, r, _)| t == "Warning" && r == "MultipleBuckets"), "{events:?}");
    let (_, metrics) = http_get(operator.http, "/metrics").await?;
    assert!(metrics.contains(r#"reconcile_failures_total{controller="lambdabucket",reason="MultipleBuckets"}"#));

    // Naming the bucket resolves it.
    let patch = json!({"spec": {"bucketName": b}});
    api.patch("ambiguous", &PatchParams::default(), &Patch::Merge(&patch)).await?;
    let lb = wait_ready(&api, "ambiguous", "True").await?;
    let status = lb.status.unwrap();
    assert_eq!(status.bucket_name.as_deref(), Some(b.as_str()));
    let standing = kstatus::compute(lb.metadata.generation, status.observed_generation, &status.conditions);
    assert_eq!(standing, Standing::Current, "{:?}", status.conditions);
    operator.stop().await
}

#[tokio::test]
async fn ready_is_503_until_the_crds_are_served() -> Result<()> {
    // An API server of its own, without the operator's CRDs.
    let env = TestEnv::get();
    let dir = env.run_dir().join(env.unique_name("bare-kube"));
    let reaper = env.reaper();
    let bare = std::thread::scope(|s| {
        s.spawn(|| remotion_tests::kube_api::KubeApi::start(reaper, &dir)).join().expect("start thread")
    })?;
    let client = bare.client().await?;
    let namespace = env.unique_name("crd-wait");
    let operator = Operator::start(client.clone(), test_secrets(&namespace), &namespace).await?;

    assert_eq!(http_get(operator.http, "/health").await?.0, 200);
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(http_get(operator.http, "/ready").await?.0, 503);

    remotion_tests::kube_api::install_crds(&client, &remotion_tests::env::project_crds()?).await?;
    eventually("/ready 200", WAIT, || async { Ok((http_get(operator.http, "/ready").await?.0 == 200).then_some(())) })
        .await?;
    assert_eq!(http_get(operator.http, "/health").await?.0, 200);
    operator.stop().await
}

/// The tags of `bucket`, as S3 reports them.
async fn bucket_tags(bucket: &str) -> Result<std::collections::BTreeMap<String, String>> {
    let s3 = TestEnv::get().s3().client().await;
    let out = s3.get_bucket_tagging().bucket(bucket).send().await?;
    Ok(out.tag_set().iter().map(|t| (t.key().to_owned(), t.value().to_owned())).collect())
}

/// The reason and message of `Ready`.
fn ready_of(lb: &LambdaBucket) -> (String, String) {
    let ready = lb.status.as_ref().and_then(|s| find_condition(&s.conditions, "Ready")).unwrap();
    (ready.reason.clone(), ready.message.clone())
}

/// Lifecycle rule ids of `bucket`, sorted.
async fn rule_ids(bucket: &str) -> Result<Vec<String>> {
    let s3 = TestEnv::get().s3().client().await;
    let lifecycle = s3.get_bucket_lifecycle_configuration().bucket(bucket).send().await?;
    let mut ids: Vec<String> = lifecycle.rules().iter().filter_map(|r| r.id()).map(str::to_owned).collect();
    ids.sort();
    Ok(ids)
}

#[tokio::test]
async fn another_namespace_can_neither_adopt_nor_reconfigure_nor_delete_a_bucket() -> Result<()> {
    let (_client_a, namespace_a, api_a, operator_a) = setup("lb-owner-a").await?;
    let (client_b, namespace_b, api_b, operator_b) = setup("lb-owner-b").await?;
    let bucket = TestEnv::get().unique_name("owned-by-a");

    // Namespace A creates the bucket, with expiry rules and public access blocked.
    let mut a = spec("xd-test-1");
    a.bucket_name = Some(bucket.clone());
    a.deletion_policy = DeletionPolicy::Delete;
    a.expiry = Some(Expiry { enabled: true });
    create(&api_a, "main", a).await?;
    wait_ready(&api_a, "main", "True").await?;
    let owner_a = format!("default/{namespace_a}/main");
    let tags = bucket_tags(&bucket).await?;
    assert_eq!(tags.get("remotion-operator.io/owner"), Some(&owner_a), "{tags:?}");
    assert_eq!(tags.get("remotion-operator.io/created-by"), Some(&owner_a), "{tags:?}");
    let rules = rule_ids(&bucket).await?;
    assert_eq!(rules.len(), 4, "{rules:?}");
    let s3 = TestEnv::get().s3().client().await;
    s3.put_object().bucket(&bucket).key("sites/a/index.html").body(b"<html>".to_vec().into()).send().await?;

    // Namespace B names it, with other settings and deletionPolicy Delete: refused, naming A.
    let mut b = spec("xd-test-1");
    b.bucket_name = Some(bucket.clone());
    b.deletion_policy = DeletionPolicy::Delete;
    b.expiry = Some(Expiry { enabled: false });
    b.public_outputs = true;
    create(&api_b, "main", b).await?;
    let lb = wait_ready(&api_b, "main", "False").await?;
    let (reason, message) = ready_of(&lb);
    assert_eq!(reason, "OwnedByAnother");
    assert!(message.contains(&owner_a), "{message}");
    assert_eq!(lb.status.as_ref().unwrap().bucket_name, None);
    // A's settings and tags are as A left them.
    assert_eq!(rule_ids(&bucket).await?, rules);
    assert_eq!(bucket_tags(&bucket).await?, tags);

    // Deleting B's LambdaBucket keeps A's bucket and everything in it.
    api_b.delete("main", &DeleteParams::default()).await?;
    eventually("B's LambdaBucket is gone", WAIT, || async { Ok(api_b.get_opt("main").await?.is_none().then_some(())) })
        .await?;
    assert!(bucket_exists(&bucket).await, "B deleted A's bucket");
    s3.head_object().bucket(&bucket).key("sites/a/index.html").send().await?;
    let events = events_for(&client_b, &namespace_b, "main").await?;
    assert!(
        events.iter().any(|(t, r, n)| t == "Warning" && r == "OwnedByAnother" && n.contains("Kept bucket")),
        "{events:?}"
    );
    // A, its owner and creator, still deletes it.
    api_a.delete("main", &DeleteParams::default()).await?;
    eventually("A's bucket is deleted", WAIT, || async { Ok((!bucket_exists(&bucket).await).then_some(())) }).await?;
    operator_b.stop().await?;
    operator_a.stop().await
}

#[tokio::test]
async fn two_namespaces_each_get_an_auto_named_bucket_of_their_own() -> Result<()> {
    let (_client_a, namespace_a, api_a, operator_a) = setup("lb-auto-a").await?;
    let (_client_b, namespace_b, api_b, operator_b) = setup("lb-auto-b").await?;
    create(&api_a, "main", spec("xe-test-1")).await?;
    let bucket_a = wait_ready(&api_a, "main", "True").await?.status.unwrap().bucket_name.unwrap();
    // B finds A's bucket in the region, owned by A: it is passed over, not adopted, and not a
    // second candidate either (no MultipleBuckets).
    create(&api_b, "main", spec("xe-test-1")).await?;
    let bucket_b = wait_ready(&api_b, "main", "True").await?.status.unwrap().bucket_name.unwrap();
    assert_ne!(bucket_a, bucket_b);
    assert!(bucket_b.starts_with(&bucket_prefix_for_region("xe-test-1")), "{bucket_b}");
    let owner_a = bucket_tags(&bucket_a).await?.remove("remotion-operator.io/owner");
    assert_eq!(owner_a, Some(format!("default/{namespace_a}/main")));
    let owner_b = bucket_tags(&bucket_b).await?.remove("remotion-operator.io/owner");
    assert_eq!(owner_b, Some(format!("default/{namespace_b}/main")));
    // A, reconciled again (a spec change), keeps its own bucket although the region has two now.
    let patch = json!({"spec": {"publicOutputs": true}});
    api_a.patch("main", &PatchParams::default(), &Patch::Merge(&patch)).await?;
    let lb = wait_ready(&api_a, "main", "True").await?;
    assert_eq!(lb.status.unwrap().bucket_name, Some(bucket_a));
    operator_b.stop().await?;
    operator_a.stop().await
}

#[tokio::test]
async fn deletion_policy_delete_keeps_a_bucket_that_existed_before() -> Result<()> {
    let (client, namespace, api, operator) = setup("lb-pre-existing").await?;
    let s3 = TestEnv::get().s3().client().await;
    let bucket = TestEnv::get().unique_name("pre-existing");
    s3.create_bucket().bucket(&bucket).send().await?;
    s3.put_object().bucket(&bucket).key("renders/old/out.mp4").body(b"video".to_vec().into()).send().await?;

    let mut wanted = spec("xf-test-1");
    wanted.bucket_name = Some(bucket.clone());
    wanted.deletion_policy = DeletionPolicy::Delete;
    create(&api, "named", wanted).await?;
    wait_ready(&api, "named", "True").await?;
    // Adopted: owned from now on, but not created by the operator.
    let tags = bucket_tags(&bucket).await?;
    assert_eq!(tags.get("remotion-operator.io/owner"), Some(&format!("default/{namespace}/named")), "{tags:?}");
    assert_eq!(tags.get("remotion-operator.io/created-by"), None, "{tags:?}");

    api.delete("named", &DeleteParams::default()).await?;
    eventually("the LambdaBucket is gone", WAIT, || async { Ok(api.get_opt("named").await?.is_none().then_some(())) })
        .await?;
    assert!(bucket_exists(&bucket).await, "a bucket the operator did not create was deleted");
    s3.head_object().bucket(&bucket).key("renders/old/out.mp4").send().await?;
    let events = events_for(&client, &namespace, "named").await?;
    assert!(
        events.iter().any(|(t, r, n)| t == "Warning" && r == "Retained" && n.contains("did not create it")),
        "{events:?}"
    );
    operator.stop().await
}

#[tokio::test]
async fn a_buckets_tags_follow_spec_tags_and_keep_everyone_elses() -> Result<()> {
    let (_client, namespace, api, operator) = setup("lb-tags").await?;
    let bucket = TestEnv::get().unique_name("tagged");
    let mut wanted = spec("xg-test-1");
    wanted.bucket_name = Some(bucket.clone());
    wanted.tags = [("team".to_owned(), "video".to_owned()), ("cost-centre".to_owned(), "41".to_owned())].into();
    create(&api, "main", wanted).await?;
    let lb = wait_ready(&api, "main", "True").await?;
    assert_eq!(lb.status.unwrap().tag_keys, ["cost-centre", "team"]);
    // The owner spelled out key by key (what Cost Explorer groups by), beside the spec's tags.
    let owner = format!("default/{namespace}/main");
    let expected = [
        ("cost-centre", "41"),
        ("remotion-operator.io/cluster", "default"),
        ("remotion-operator.io/created-by", owner.as_str()),
        ("remotion-operator.io/kind", "LambdaBucket"),
        ("remotion-operator.io/name", "main"),
        ("remotion-operator.io/namespace", namespace.as_str()),
        ("remotion-operator.io/owner", owner.as_str()),
        ("team", "video"),
    ];
    let tags = bucket_tags(&bucket).await?;
    assert_eq!(tags, expected.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(), "{tags:?}");

    // Someone tags the bucket by other means; then a key leaves spec.tags and another changes.
    let s3 = TestEnv::get().s3().client().await;
    let mut by_hand = tags.clone();
    by_hand.insert("backup".into(), "daily".into());
    let tag_set = by_hand
        .iter()
        .map(|(k, v)| aws_sdk_s3::types::Tag::builder().key(k).value(v).build())
        .collect::<Result<Vec<_>, _>>()?;
    let tagging = aws_sdk_s3::types::Tagging::builder().set_tag_set(Some(tag_set)).build()?;
    s3.put_bucket_tagging().bucket(&bucket).tagging(tagging).send().await?;
    let patch = json!({"spec": {"tags": {"team": null, "cost-centre": "42"}}});
    api.patch("main", &PatchParams::default(), &Patch::Merge(&patch)).await?;
    let tags = eventually("the bucket's tags follow the spec", WAIT, || async {
        let tags = bucket_tags(&bucket).await?;
        Ok((tags.get("cost-centre").map(String::as_str) == Some("42") && !tags.contains_key("team")).then_some(tags))
    })
    .await?;
    assert_eq!(tags.get("backup").map(String::as_str), Some("daily"), "a tag set by other means was removed: {tags:?}");
    assert_eq!(tags.get("remotion-operator.io/owner"), Some(&owner), "{tags:?}");
    let lb = wait_ready(&api, "main", "True").await?;
    assert_eq!(lb.status.unwrap().tag_keys, ["cost-centre"]);
    operator.stop().await
}

/// A client for moto's S3 (any keys pass).
async fn moto_s3(endpoint: &str) -> aws_sdk_s3::Client {
    let config = aws_sdk_s3::config::Builder::new()
        .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
        .region(aws_sdk_s3::config::Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .force_path_style(true)
        .credentials_provider(aws_sdk_s3::config::Credentials::new("testing", "testing", None, None, "test"))
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

/// The bucket's configuration calls against moto's S3, whose public-access, ownership and
/// lifecycle APIs behave as AWS's (SeaweedFS lacks some), through a role the tenant's keys
/// assume with the external ID its trust policy demands (STS on moto): every call on the
/// bucket is signed with the role's temporary keys, none with the tenant's own.
#[tokio::test]
async fn a_bucket_on_moto_is_configured_through_a_role_assumed_with_its_external_id() -> Result<()> {
    let env = TestEnv::get();
    let moto = env.moto();
    let external_id = "tenant-a-7f3c";
    let role = moto.create_role_requiring_external_id(&env.unique_name("bucket-role"), external_id)?;
    let (_client, namespace, api, operator) = setup("lb-moto").await?;
    let bucket = env.unique_name("moto-bucket");
    let mut wanted = spec("us-east-1");
    wanted.aws.endpoint = Some(moto.endpoint.clone());
    wanted.aws.credentials = Some(AwsCredentials {
        secret_ref: Some(LocalObjectRef::new(CREDENTIALS_SECRET)),
        role_arn: Some(role.clone()),
        external_id: Some(external_id.into()),
    });
    wanted.bucket_name = Some(bucket.clone());
    wanted.public_outputs = true;
    wanted.expiry = Some(Expiry { enabled: true });
    wanted.deletion_policy = DeletionPolicy::Delete;
    wanted.tags = [("team".to_owned(), "video".to_owned())].into();
    moto.start_recording().await?;
    create(&api, "main", wanted).await?;
    wait_ready(&api, "main", "True").await?;

    let s3 = moto_s3(&moto.endpoint).await;
    let block = s3.get_public_access_block().bucket(&bucket).send().await?;
    let block = block.public_access_block_configuration().unwrap();
    // Public outputs: object ACLs may be public, bucket policies may not.
    assert_eq!(
        (
            block.block_public_acls(),
            block.ignore_public_acls(),
            block.block_public_policy(),
            block.restrict_public_buckets()
        ),
        (Some(false), Some(false), Some(true), Some(true)),
        "{block:?}"
    );
    let ownership = s3.get_bucket_ownership_controls().bucket(&bucket).send().await?;
    let rules = ownership.ownership_controls().map(|c| c.rules().to_vec()).unwrap_or_default();
    assert_eq!(
        rules.iter().map(|r| r.object_ownership().as_str()).collect::<Vec<_>>(),
        ["BucketOwnerPreferred"],
        "ACLs enabled for public-read outputs"
    );
    let lifecycle = s3.get_bucket_lifecycle_configuration().bucket(&bucket).send().await?;
    assert!(
        !lifecycle.rules().is_empty()
            && lifecycle.rules().iter().all(|r| r.id().is_some_and(|id| id.starts_with("remotion-delete-after-")))
    );
    let tags = s3.get_bucket_tagging().bucket(&bucket).send().await?;
    let tags: std::collections::BTreeMap<&str, &str> = tags.tag_set().iter().map(|t| (t.key(), t.value())).collect();
    assert_eq!(tags.get("team"), Some(&"video"), "{tags:?}");
    assert_eq!(tags.get("remotion-operator.io/namespace"), Some(&namespace.as_str()), "{tags:?}");

    // The role was assumed with the external ID, and the bucket's calls used the role's keys.
    let recorded = moto.recording().await?;
    let assumed: Vec<_> = recorded
        .iter()
        .filter(|r| r.form().iter().any(|(k, v)| k == "Action" && v == "AssumeRole"))
        .filter(|r| r.form().iter().any(|(k, v)| k == "RoleArn" && *v == role))
        .collect();
    assert!(!assumed.is_empty(), "no AssumeRole of {role} reached moto");
    for call in &assumed {
        let form = call.form();
        assert!(form.iter().any(|(k, v)| k == "ExternalId" && v == external_id), "{form:?}");
        assert_eq!(call.access_key(), Some(remotion_tests::s3::ACCESS_KEY), "signed with the tenant's keys");
    }
    let on_bucket: Vec<_> = recorded.iter().filter(|r| r.url.contains(&format!("/{bucket}"))).collect();
    assert!(!on_bucket.is_empty());
    for call in &on_bucket {
        let key = call.access_key().unwrap_or_default();
        // Our own reads above are signed "testing"; the operator's with the role's ASIA… keys.
        assert!(key == "testing" || key.starts_with("ASIA"), "{} {} signed with {key}", call.method, call.url);
    }
    assert!(on_bucket.iter().any(|r| r.access_key().is_some_and(|k| k.starts_with("ASIA"))));

    // deletionPolicy Delete: the bucket goes with the resource.
    api.delete("main", &DeleteParams::default()).await?;
    eventually("the LambdaBucket and its bucket gone", WAIT, || async {
        let gone = api.get_opt("main").await?.is_none() && s3.head_bucket().bucket(&bucket).send().await.is_err();
        Ok(gone.then_some(()))
    })
    .await?;
    operator.stop().await
}

/// A LambdaBucket asking for public outputs in an account whose own S3 Block Public Access
/// blocks public ACLs fails at once, naming the account and its settings, before the bucket's
/// public access is configured; with the account's setting lifted, the same bucket is Ready.
/// The account is one of the test's own (moto runs the calls signed with a role's keys in the
/// role's account), so the account-wide setting reaches no other test.
#[tokio::test]
async fn public_outputs_blocked_by_the_accounts_block_public_access_fail_before_the_bucket_changes() -> Result<()> {
    use aws_sdk_s3control::types::PublicAccessBlockConfiguration;
    use remotion_operator::aws::AwsFactory;
    use remotion_operator::tenancy::TenancyPolicy;

    let env = TestEnv::get();
    let moto = env.moto();
    let (client, namespace, api, operator) = setup("lb-account-bpa").await?;
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_nanos();
    let account = format!("{:012}", nanos % 1_000_000_000_000);
    let bucket = env.unique_name("bpa-bucket");
    let mut wanted = spec("us-east-1");
    wanted.aws.endpoint = Some(moto.endpoint.clone());
    wanted.aws.credentials = Some(AwsCredentials {
        secret_ref: Some(LocalObjectRef::new(CREDENTIALS_SECRET)),
        role_arn: Some(format!("arn:aws:iam::{account}:role/remotion-operator-bpa")),
        external_id: None,
    });
    wanted.bucket_name = Some(bucket.clone());
    wanted.public_outputs = true;

    // The account's own setting, made with the same clients the operator builds for the spec.
    let factory = AwsFactory::new(test_secrets(&namespace), std::sync::Arc::new(TenancyPolicy::permissive_local()));
    let clients = factory.clients(&namespace, &wanted.aws).await?;
    let identity = clients.sts.get_caller_identity().send().await?;
    assert_eq!(identity.account(), Some(account.as_str()), "the role's keys act in the role's account");
    let blocking = PublicAccessBlockConfiguration::builder()
        .block_public_acls(true)
        .ignore_public_acls(true)
        .block_public_policy(true)
        .restrict_public_buckets(true)
        .build();
    clients
        .s3control
        .put_public_access_block()
        .account_id(&account)
        .public_access_block_configuration(blocking)
        .send()
        .await?;

    create(&api, "public", wanted).await?;
    let lb = wait_ready(&api, "public", "False").await?;
    let ready = find_condition(&lb.status.as_ref().unwrap().conditions, "Ready").unwrap().clone();
    assert_eq!(ready.reason, "PublicOutputsBlocked", "{ready:?}");
    for text in [format!("account {account}"), "BlockPublicAcls and IgnorePublicAcls".into(), "presigned".into()] {
        assert!(ready.message.contains(&text), "{:?} should contain {text:?}", ready.message);
    }
    let warned = events_for(&client, &namespace, "public").await?;
    assert!(warned.iter().any(|(kind, reason, _)| kind == "Warning" && reason == "PublicOutputsBlocked"), "{warned:?}");
    // The bucket's own public access was left as it was (never configured).
    let untouched = clients.s3.get_public_access_block().bucket(&bucket).send().await;
    let code = untouched.as_ref().err().and_then(|e| aws_sdk_s3::error::ProvideErrorMetadata::code(e));
    assert_eq!(code, Some("NoSuchPublicAccessBlockConfiguration"), "{untouched:?}");

    // The account lifts its block: the next change of the spec makes the bucket Ready.
    clients.s3control.delete_public_access_block().account_id(&account).send().await?;
    let patch = json!({"spec": {"tags": {"team": "video"}}});
    api.patch("public", &PatchParams::default(), &Patch::Merge(&patch)).await?;
    wait_ready(&api, "public", "True").await?;
    let block = clients.s3.get_public_access_block().bucket(&bucket).send().await?;
    let block = block.public_access_block_configuration().unwrap();
    assert_eq!((block.block_public_acls(), block.ignore_public_acls()), (Some(false), Some(false)), "{block:?}");
    operator.stop().await
}
