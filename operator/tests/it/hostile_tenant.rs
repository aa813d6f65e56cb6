//! A hostile tenant, on real components (API server stand-in, SeaweedFS, the Lambda emulator):
//! each attack from a namespace the cluster admin has not trusted ends in a clear condition or
//! an admission error, and touches nothing of anyone else's.
//!
//! "Touches nothing" is checked on the wire: the attacker's S3 and Lambda endpoints are
//! recording proxies of the test's own ([`RecordingProxy`]) in front of the stand-ins, and the
//! tests assert that the attacker's operator sent no write, update or delete naming the
//! victim's bucket, folders, renders or function. Each test also shows its proxy recording the
//! attacker's own traffic, so that an empty record means "not sent", not "not seen".
//!
//! The admin's policy here: the operator's own identity serves only a namespace the attacker
//! is not; no role is granted; outputs under `outputs/<namespace>/`; loopback reachable (the
//! stand-ins live there), every other non-public address refused.

use std::time::Duration;

use anyhow::{Context as _, Result};
use aws_sdk_s3::primitives::ByteStream;
use kube::api::{Api, ApiResource, DynamicObject, Patch, PatchParams, PostParams};
use kube::{Client, ResourceExt};
use remotion_crds::common::{INPUT_PROPS_SECRET_LABEL, find_condition};
use remotion_crds::render_job::RenderPhase;
use remotion_crds::{LambdaBucket, RemotionSite, RenderFunction, RenderJob};
use remotion_operator::aws::{ObjectData, StaticSecrets};
use remotion_operator::controllers::render_job::Tuning;
use remotion_operator::controllers::{Context, Settings};
use remotion_operator::reconcile::abandon::CleanupDeadlines;
use remotion_operator::reconcile::guard::DeserializeGuard;
use remotion_operator::reconcile::{apply_status_unchanged, readable::MAX_OBJECT_DEPTH};
use remotion_operator::tenancy::{NetworkPolicy, TenancyPolicy};
use remotion_protocol::keys::{self, RenderId};
use remotion_tests::TestEnv;
use remotion_tests::recording_proxy::{Recorded, RecordingProxy};
use serde_json::{Value, json};

use crate::common::{CREDENTIALS_SECRET, Operator, eventually, test_secrets};
use crate::job_world::{FIXTURES, JobOperator, World, condition, tuning};

const WAIT: Duration = Duration::from_secs(60);

/// The admin's policy of these tests: the operator's identity for `trusted` only.
fn policy(trusted: &str) -> TenancyPolicy {
    TenancyPolicy {
        operator_identity: remotion_operator::tenancy::NamespaceSet(vec![trusted.to_owned()]),
        network: NetworkPolicy::loopback_allowed(),
        ..TenancyPolicy::default_secure()
    }
}

/// `{"a": {"a": … 1}}`, `levels` objects deep.
fn nested(levels: usize) -> Value {
    (0..levels).fold(json!(1), |inner, _| json!({ "a": inner }))
}

async fn ready_reason(api: &Api<LambdaBucket>, name: &str) -> Result<(String, String)> {
    eventually(&format!("{name} has a Ready reason"), WAIT, || async {
        let bucket = api.get(name).await?;
        let ready = bucket.status.as_ref().and_then(|s| find_condition(&s.conditions, "Ready")).cloned();
        Ok(ready.filter(|c| c.status == "False").map(|c| (c.reason, c.message)))
    })
    .await
}

/// One request a line, for failure messages.
fn listed(recorded: &[Recorded]) -> String {
    recorded.iter().map(|r| format!("\n  {r}")).collect()
}

/// Fails, naming them, when `recorded` holds any request.
#[track_caller]
fn assert_none_sent(what: &str, recorded: &[Recorded]) {
    assert!(recorded.is_empty(), "{what}, yet the attacker's operator sent:{}", listed(recorded));
}

/// A LambdaBucket `name` of `spec`.
fn lambda_bucket(name: &str, spec: Value) -> Result<LambdaBucket> {
    Ok(serde_json::from_value(json!({
        "apiVersion": "remotion-operator.io/v1alpha1", "kind": "LambdaBucket",
        "metadata": {"name": name}, "spec": spec}))?)
}

/// Waits until LambdaBucket `name` is Ready=True for its current generation.
async fn wait_bucket_ready(api: &Api<LambdaBucket>, name: &str) -> Result<LambdaBucket> {
    eventually(&format!("{name} Ready"), WAIT, || async {
        let bucket = api.get(name).await?;
        let status = bucket.status.as_ref();
        let ready = status.and_then(|s| find_condition(&s.conditions, "Ready")).is_some_and(|c| c.status == "True");
        let current = status.and_then(|s| s.observed_generation) == bucket.metadata.generation;
        Ok((ready && current).then_some(bucket))
    })
    .await
}

#[tokio::test]
async fn a_tenant_cannot_borrow_the_operators_identity_a_role_or_a_private_endpoint() -> Result<()> {
    let env = TestEnv::get();
    let client = env.kube_client().await?;
    let s3 = env.s3().endpoint.clone();
    let own_keys = json!({"secretRef": {"name": CREDENTIALS_SECRET}});
    // Region of this test's auto-named buckets (no other test lists buckets of this region).
    let region = "xz-test-1";

    // The victim: the one namespace the admin trusts with the operator's identity, with its own
    // keys all the same, a bucket it named and one the operator chose for it, and files in both.
    let victim = env.unique_name("victim");
    let victim_secrets = test_secrets(&victim);
    let victim_operator = Operator::start_with(client.clone(), &victim, |client, metrics| {
        Context::new(client, victim_secrets, metrics, None).with_tenancy(policy(&victim))
    })
    .await?;
    let victims: Api<LambdaBucket> = Api::namespaced(client.clone(), &victim);
    let victim_bucket = env.unique_name("victims-bucket");
    let named = json!({"region": "us-east-1", "endpoint": s3, "credentials": own_keys, "bucketName": victim_bucket,
        "expiry": {"enabled": true}});
    victims.create(&PostParams::default(), &lambda_bucket("bucket", named)?).await?;
    let auto = json!({"region": region, "endpoint": s3, "credentials": own_keys});
    victims.create(&PostParams::default(), &lambda_bucket("auto", auto)?).await?;
    wait_bucket_ready(&victims, "bucket").await?;
    let victim_auto = wait_bucket_ready(&victims, "auto").await?.status.and_then(|s| s.bucket_name).unwrap();
    let store = env.s3().client().await;
    for bucket in [&victim_bucket, &victim_auto] {
        for key in [format!("sites/{victim}/promo/index.html"), "renders/victimrender/out.mp4".to_owned()] {
            store.put_object().bucket(bucket).key(key).body(ByteStream::from_static(b"victim's")).send().await?;
        }
    }

    // The attacker, under the same policy, reaches S3 only through a proxy of its own.
    let attacker = env.unique_name("evil");
    let secrets = test_secrets(&attacker);
    let operator = Operator::start_with(client.clone(), &attacker, |client, metrics| {
        Context::new(client, secrets, metrics, None).with_tenancy(policy(&victim))
    })
    .await?;
    let proxy = RecordingProxy::s3(&s3).await?;
    let api: Api<LambdaBucket> = Api::namespaced(client.clone(), &attacker);
    let through = proxy.endpoint.clone();
    let attacks = [
        // The operator's identity, which the admin gave the victim's namespace only.
        (
            "no-credentials",
            json!({"region": "us-east-1", "endpoint": through}),
            "IdentityNotAllowed",
            "operator's AWS identity",
        ),
        // A role of the victim's, assumed with the operator's identity.
        (
            "victims-role",
            json!({"region": "us-east-1", "endpoint": through,
                "credentials": {"roleArn": "arn:aws:iam::111122223333:role/remotion-victim"}}),
            "IdentityNotAllowed",
            "may not have the operator assume",
        ),
        // The victim's external ID, chosen by the attacker.
        (
            "chosen-external-id",
            json!({"region": "us-east-1", "endpoint": through,
                "credentials": {"roleArn": "arn:aws:iam::111122223333:role/remotion-victim",
                                "externalId": format!("remotion-operator:default:{victim}")}}),
            "IdentityNotAllowed",
            format!("presents remotion-operator:default:{attacker}").leak() as &str,
        ),
        // The instance metadata service as an "S3 endpoint", with the tenant's own keys.
        (
            "metadata-endpoint",
            json!({"region": "us-east-1", "endpoint": "http://169.254.169.254", "credentials": own_keys}),
            "EndpointNotAllowed",
            "169.254.169.254",
        ),
        // A cluster-internal address.
        (
            "internal-endpoint",
            json!({"region": "us-east-1", "endpoint": "http://10.96.0.1:443", "credentials": own_keys}),
            "EndpointNotAllowed",
            "non-public address",
        ),
    ];
    // Every one of them aims at the victim's bucket, with settings of the attacker's.
    for (name, aws, _, _) in &attacks {
        let mut spec = aws.clone();
        spec["bucketName"] = json!(victim_bucket);
        spec["deletionPolicy"] = json!("Delete");
        spec["expiry"] = json!({"enabled": false});
        api.create(&PostParams::default(), &lambda_bucket(name, spec)?).await?;
    }
    for (name, _, reason, says) in &attacks {
        let (found, message) = ready_reason(&api, name).await?;
        assert_eq!((name, found.as_str()), (name, *reason), "{message}");
        assert!(message.contains(says), "{name}: {message}");
    }
    // Refused before any AWS call: the proxy, which the three identity attacks name as their
    // endpoint, saw nothing at all.
    assert_none_sent("identities and endpoints were refused", &proxy.recorded());

    // The tenant's own keys naming the victim's bucket: owned by another, refused before any
    // setting is written; deleting it (deletionPolicy Delete) keeps the bucket and its files.
    let mut theirs = json!({"region": "us-east-1", "endpoint": through, "credentials": own_keys,
        "bucketName": victim_bucket, "deletionPolicy": "Delete", "expiry": {"enabled": false}, "publicOutputs": true});
    api.create(&PostParams::default(), &lambda_bucket("victims-bucket", theirs.clone())?).await?;
    let (reason, message) = ready_reason(&api, "victims-bucket").await?;
    assert_eq!(reason, "OwnedByAnother", "{message}");
    assert!(message.contains(&format!("default/{victim}/bucket")), "{message}");
    // Positive control: the attacker's operator did reach the store through the proxy (to read
    // the bucket's owner), so the empty record of writes below is one of requests sent.
    assert!(!proxy.requests_to(&victim_bucket).is_empty(), "the proxy saw no request:{}", listed(&proxy.recorded()));
    api.delete("victims-bucket", &Default::default()).await?;
    eventually("the attacker's LambdaBucket gone", WAIT, || async {
        Ok(api.get_opt("victims-bucket").await?.is_none().then_some(()))
    })
    .await?;

    // An auto-named bucket in the victim's region: the victim's is passed over, not adopted.
    theirs = json!({"region": region, "endpoint": through, "credentials": own_keys, "deletionPolicy": "Delete"});
    api.create(&PostParams::default(), &lambda_bucket("auto", theirs)?).await?;
    let own_auto = wait_bucket_ready(&api, "auto").await?.status.and_then(|s| s.bucket_name).unwrap();
    assert_ne!(own_auto, victim_auto);

    // The same spec as the identity attacks with the tenant's own keys works: the refusals
    // were the policy's.
    let own_bucket = env.unique_name("x-own");
    let own = json!({"region": "us-east-1", "endpoint": through, "credentials": own_keys, "bucketName": own_bucket});
    api.create(&PostParams::default(), &lambda_bucket("own-keys", own)?).await?;
    wait_bucket_ready(&api, "own-keys").await?;
    // Positive control: the proxy records the attacker's writes (creating and tagging its own).
    for bucket in [&own_bucket, &own_auto] {
        let writes: Vec<String> = proxy.writes_to(bucket, "").into_iter().map(|r| r.operation).collect();
        assert!(writes.iter().any(|op| op == "CreateBucket"), "{bucket}: {writes:?}");
        assert!(writes.iter().any(|op| op == "PutBucketTagging"), "{bucket}: {writes:?}");
    }

    // Over the whole attack, not one write, setting or delete of the victim's buckets went out.
    assert_none_sent("the victim's named bucket is the victim's", &proxy.writes_to(&victim_bucket, ""));
    assert_none_sent("the victim's auto-named bucket is the victim's", &proxy.writes_to(&victim_auto, ""));
    for bucket in [&victim_bucket, &victim_auto] {
        store.head_object().bucket(bucket).key(format!("sites/{victim}/promo/index.html")).send().await?;
        store.head_object().bucket(bucket).key("renders/victimrender/out.mp4").send().await?;
    }
    operator.stop().await?;
    victim_operator.stop().await
}

/// The stand-in render function built from `tests/doubles/fake-render-function.rs` (cargo
/// builds examples for `cargo test`).
fn fake_render_function() -> std::path::PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    // target/<profile>/deps/<test> → target/<profile>/examples/fake-render-function
    let profile_dir = exe.parent().and_then(|deps| deps.parent()).expect("target profile folder");
    profile_dir.join("examples").join("fake-render-function")
}

/// Waits until RenderFunction `name` is Ready=True for its current generation.
async fn wait_function_ready(api: &Api<RenderFunction>, name: &str) -> Result<RenderFunction> {
    eventually(&format!("{name} Ready"), WAIT, || async {
        let function = api.get(name).await?;
        let status = function.status.as_ref();
        let ready = status.and_then(|s| find_condition(&s.conditions, "Ready")).is_some_and(|c| c.status == "True");
        let current = status.and_then(|s| s.observed_generation) == function.metadata.generation;
        Ok((ready && current).then_some(function))
    })
    .await
}

#[tokio::test]
async fn a_tenant_naming_anothers_function_only_invokes_it() -> Result<()> {
    let env = TestEnv::get();
    let client = env.kube_client().await?;
    let function = "test-fn-63";
    let _process = env.spawn_function(&fake_render_function(), function, 2048, &[])?;
    let own_keys = json!({"secretRef": {"name": CREDENTIALS_SECRET}});
    let render_function = |spec: Value| -> Result<RenderFunction> {
        Ok(serde_json::from_value(json!({
            "apiVersion": "remotion-operator.io/v1alpha1", "kind": "RenderFunction",
            "metadata": {"name": "renderer"}, "spec": spec}))?)
    };

    // The victim's function, which its namespace uses (management: Existing, as on the emulator).
    let victim = env.unique_name("victim-fn");
    let victim_secrets = test_secrets(&victim);
    let victim_operator = Operator::start_with(client.clone(), &victim, |client, metrics| {
        Context::new(client, victim_secrets, metrics, None).with_tenancy(policy(&victim))
    })
    .await?;
    let victims: Api<RenderFunction> = Api::namespaced(client.clone(), &victim);
    let spec = json!({"region": "us-east-1", "endpoint": env.lambda().endpoint, "credentials": own_keys,
        "management": "Existing", "functionName": function});
    victims.create(&PostParams::default(), &render_function(spec)?).await?;
    wait_function_ready(&victims, "renderer").await?;

    // The attacker names it too, with settings of its own (memory, environment, a concurrency
    // cap): several namespaces may share an Existing function, which is only ever invoked.
    let attacker = env.unique_name("evil-fn");
    let secrets = test_secrets(&attacker);
    let operator = Operator::start_with(client.clone(), &attacker, |client, metrics| {
        Context::new(client, secrets, metrics, None).with_tenancy(policy(&victim))
    })
    .await?;
    let proxy = RecordingProxy::lambda(&env.lambda().endpoint).await?;
    let api: Api<RenderFunction> = Api::namespaced(client.clone(), &attacker);
    let spec = json!({"region": "us-east-1", "endpoint": proxy.endpoint, "credentials": own_keys,
        "management": "Existing", "functionName": function, "memorySizeMb": 10240, "timeoutSeconds": 60,
        "maxConcurrentInvocations": 1, "env": {"REMOTION_SECRET": "the attacker's"}});
    api.create(&PostParams::default(), &render_function(spec)?).await?;
    wait_function_ready(&api, "renderer").await?;
    // A spec change reconciles it again.
    let patch = json!({"spec": {"memorySizeMb": 3008}});
    api.patch("renderer", &PatchParams::default(), &Patch::Merge(&patch)).await?;
    wait_function_ready(&api, "renderer").await?;

    // On the wire: of everything that can change or run the function, only `info` invocations
    // went out (positive control: they did go out, through the proxy). No update of its code or
    // configuration, no concurrency, tags or deletion.
    let sent = proxy.lambda_mutations(function);
    assert!(!sent.is_empty(), "no info invocation recorded:{}", listed(&proxy.recorded()));
    let other: Vec<Recorded> = sent
        .into_iter()
        .filter(|r| {
            let payload: Option<Value> = r.payload.as_ref().and_then(|p| serde_json::from_slice(p).ok());
            r.operation != "Invoke" || payload != Some(json!({"type": "info"}))
        })
        .collect();
    assert_none_sent("the function is only invoked for info", &other);
    operator.stop().await?;
    victim_operator.stop().await
}

#[tokio::test]
async fn a_site_cannot_make_the_operator_fetch_from_private_addresses() -> Result<()> {
    let env = TestEnv::get();
    let client = env.kube_client().await?;
    let attacker = env.unique_name("evil-site");
    let secrets = test_secrets(&attacker);
    let operator = Operator::start_with(client.clone(), &attacker, |client, metrics| {
        Context::new(client, secrets, metrics, None).with_tenancy(policy("victim"))
    })
    .await?;
    let bucket_name = env.s3().create_test_bucket("evil-site").await?;
    // A bucket the attacker shares with another namespace, which has a site of the same name.
    let victims = format!("sites/{}/metadata/", env.unique_name("victim"));
    let store = env.s3().client().await;
    store
        .put_object()
        .bucket(&bucket_name)
        .key(format!("{victims}index.html"))
        .body(b"v".to_vec().into())
        .send()
        .await?;
    let proxy = RecordingProxy::s3(&env.s3().endpoint).await?;
    let bucket: LambdaBucket = serde_json::from_value(json!({
        "apiVersion": "remotion-operator.io/v1alpha1", "kind": "LambdaBucket", "metadata": {"name": "bucket"},
        "spec": {"region": "us-east-1", "endpoint": proxy.endpoint, "bucketName": bucket_name,
                 "credentials": {"secretRef": {"name": CREDENTIALS_SECRET}}}}))?;
    Api::<LambdaBucket>::namespaced(client.clone(), &attacker).create(&PostParams::default(), &bucket).await?;
    let sites: Api<RemotionSite> = Api::namespaced(client.clone(), &attacker);
    for (name, url) in [
        ("metadata", "http://169.254.169.254/latest/meta-data/iam/security-credentials/"),
        ("cluster-dns", "http://10.96.0.10:53/"),
        ("file", "file:///var/run/secrets/kubernetes.io/serviceaccount/token"),
    ] {
        let site: RemotionSite = serde_json::from_value(json!({
            "apiVersion": "remotion-operator.io/v1alpha1", "kind": "RemotionSite", "metadata": {"name": name},
            "spec": {"bucketRef": {"name": "bucket"}, "source": {"url": url, "sha256": "0".repeat(64)}}}))?;
        match sites.create(&PostParams::default(), &site).await {
            Ok(_) => {
                let (reason, message) = eventually(&format!("{name} refused"), WAIT, || async {
                    let site = sites.get(name).await?;
                    let ready = site.status.as_ref().and_then(|s| find_condition(&s.conditions, "Ready")).cloned();
                    // Past waiting for the bucket, which may still be on its way to Ready.
                    Ok(ready
                        .filter(|c| c.status == "False" && c.reason != "BucketNotReady")
                        .map(|c| (c.reason, c.message)))
                })
                .await?;
                assert_eq!(reason, "EndpointNotAllowed", "{name}: {message}");
            }
            // The CRD takes http(s) URLs only: refused at admission, which is as good.
            Err(kube::Error::Api(status)) if status.code == 422 => assert_eq!(name, "file", "{status:?}"),
            Err(other) => return Err(other.into()),
        }
    }
    // Nothing was uploaded on the attacker's behalf: of the objects, each site claimed its
    // folder (the owner marker, written before any fetch) and nothing else was written. The
    // LambdaBucket's own settings (tags, expiry rules) name no object.
    let objects: Vec<Recorded> =
        proxy.writes_to(&bucket_name, "").into_iter().filter(|r| !r.keys().is_empty()).collect();
    let markers: Vec<String> =
        ["metadata", "cluster-dns"].map(|name| format!("sites/{attacker}/{name}/.remotion-operator-owner.json")).into();
    let stray: Vec<Recorded> = objects
        .iter()
        .filter(|r| r.operation != "PutObject" || !r.keys().iter().all(|k| markers.iter().any(|m| m == k)))
        .cloned()
        .collect();
    assert_none_sent("only owner markers were to be written", &stray);
    // Positive control: the markers were sent through the proxy.
    for marker in &markers {
        assert!(objects.iter().any(|r| r.key.as_deref() == Some(marker)), "{marker} not recorded:{}", listed(&objects));
    }
    assert_none_sent("the other namespace's folder is its own", &proxy.writes_to(&bucket_name, &victims));
    let listed_keys = store.list_objects_v2().bucket(&bucket_name).send().await?;
    let keys: Vec<&str> = listed_keys.contents().iter().filter_map(|o| o.key()).collect();
    assert!(keys.iter().all(|k| k.ends_with("/.remotion-operator-owner.json") || k.starts_with(&victims)), "{keys:?}");
    operator.stop().await
}

#[tokio::test]
async fn a_deletion_whose_credentials_went_first_completes_and_names_what_is_left() -> Result<()> {
    let env = TestEnv::get();
    let client = env.kube_client().await?;
    let namespace = env.unique_name("leaving");
    let secrets = test_secrets(&namespace);
    let start = |secrets: std::sync::Arc<StaticSecrets>| {
        Operator::start_with(client.clone(), &namespace, move |client, metrics| {
            let mut ctx = Context::new(client, secrets, metrics, None).with_tenancy(policy("victim"));
            ctx.cleanup_deadlines =
                CleanupDeadlines { hopeless: Duration::from_secs(3), retried: Duration::from_secs(600) };
            ctx
        })
    };
    let operator = start(secrets.clone()).await?;
    let bucket_name = env.s3().create_test_bucket("leaving").await?;
    let proxy = RecordingProxy::s3(&env.s3().endpoint).await?;
    let api: Api<LambdaBucket> = Api::namespaced(client.clone(), &namespace);
    let bucket: LambdaBucket = serde_json::from_value(json!({
        "apiVersion": "remotion-operator.io/v1alpha1", "kind": "LambdaBucket", "metadata": {"name": "bucket"},
        "spec": {"region": "us-east-1", "endpoint": proxy.endpoint, "bucketName": bucket_name,
                 "deletionPolicy": "Delete", "credentials": {"secretRef": {"name": CREDENTIALS_SECRET}}}}))?;
    api.create(&PostParams::default(), &bucket).await?;
    eventually("bucket Ready", WAIT, || async {
        let bucket = api.get("bucket").await?;
        Ok(bucket
            .status
            .as_ref()
            .and_then(|s| find_condition(&s.conditions, "Ready"))
            .filter(|c| c.status == "True")
            .cloned())
    })
    .await?;
    operator.stop().await?;
    // Positive control: with its keys, the operator adopted the bucket through the proxy.
    let adopted: Vec<String> = proxy.writes_to(&bucket_name, "").into_iter().map(|r| r.operation).collect();
    assert!(adopted.iter().any(|op| op == "PutBucketTagging"), "{adopted:?}");
    let mark = proxy.len();

    // The namespace goes: its Secret first, then (a new operator process, which never saw
    // the keys) the LambdaBucket.
    secrets.remove_secret(&namespace, CREDENTIALS_SECRET);
    let operator = start(secrets.clone()).await?;
    api.delete("bucket", &Default::default()).await?;
    eventually("the LambdaBucket gone", WAIT, || async { Ok(api.get_opt("bucket").await?.is_none().then_some(())) })
        .await?;
    let events: Api<k8s_openapi::api::events::v1::Event> = Api::namespaced(client.clone(), &namespace);
    let abandoned = events
        .list(&Default::default())
        .await?
        .items
        .into_iter()
        .find(|e| e.reason.as_deref() == Some("CleanupAbandoned"))
        .context("a CleanupAbandoned Event")?;
    let note = abandoned.note.unwrap_or_default();
    assert_eq!(abandoned.type_.as_deref(), Some("Warning"));
    assert!(note.contains(&format!("S3 bucket {bucket_name}")) && note.contains("does not exist"), "{note}");
    // Nothing was deleted without credentials: not a request went out, and the bucket is still
    // there, as the Event says.
    assert_none_sent("the namespace's keys were gone", &proxy.since(mark));
    assert!(env.s3().client().await.head_bucket().bucket(&bucket_name).send().await.is_ok());
    operator.stop().await
}

/// Points `world`'s LambdaBucket and RenderFunction at this test's proxies, and keeps them
/// Ready for their new generation (the fixtures' manager applies their status again, as it
/// was, with the generation the references' check compares).
async fn route_through(world: &World, s3: &RecordingProxy, lambda: &RecordingProxy) -> Result<()> {
    let kinds = [
        (ApiResource::erase::<LambdaBucket>(&()), "bucket", &s3.endpoint),
        (ApiResource::erase::<RenderFunction>(&()), "renderer", &lambda.endpoint),
    ];
    for (kind, name, endpoint) in kinds {
        let api: Api<DynamicObject> = Api::namespaced_with(world.client.clone(), &world.namespace, &kind);
        let patch = json!({"spec": {"endpoint": endpoint}});
        let patched = api.patch(name, &PatchParams::default(), &Patch::Merge(&patch)).await?;
        let generation = json!(patched.metadata.generation.context("a generation")?);
        let mut status = patched.data.get("status").cloned().context("the fixture's status")?;
        status["observedGeneration"] = generation.clone();
        for condition in status["conditions"].as_array_mut().into_iter().flatten() {
            condition["observedGeneration"] = generation.clone();
        }
        let applied = json!({"apiVersion": kind.api_version, "kind": kind.kind, "status": status});
        api.patch_status(name, &PatchParams::apply(FIXTURES).force(), &Patch::Apply(&applied)).await?;
    }
    Ok(())
}

/// The proxies of a job test: S3 and Lambda as the attacker's operator reaches them.
async fn job_proxies(world: &World) -> Result<(RecordingProxy, RecordingProxy)> {
    let env = TestEnv::get();
    let s3 = RecordingProxy::s3(&env.s3().endpoint).await?;
    let lambda = RecordingProxy::lambda(&env.lambda().endpoint).await?;
    route_through(world, &s3, &lambda).await?;
    Ok((s3, lambda))
}

/// The render id of job `name`.
async fn render_id(world: &World, name: &str) -> Result<RenderId> {
    Ok(RenderId::from_uid(&world.jobs.get(name).await?.uid().context("a uid")?)?)
}

/// The invocations whose payload names render `id`.
fn invocations_of(lambda: &RecordingProxy, id: &RenderId) -> Vec<Recorded> {
    lambda.invocations().into_iter().filter(|r| r.payload_text().contains(id.as_str())).collect()
}

/// A job controller under the policy of these tests.
async fn job_operator(world: &World, secrets: std::sync::Arc<StaticSecrets>, tuning: Tuning) -> JobOperator {
    let settings = Settings::new(Some(world.namespace.clone()), 4);
    JobOperator::start_with_policy(&world.client, settings, tuning, secrets, policy("victim")).await
}

#[tokio::test]
async fn props_nested_too_deep_fail_their_job_only() -> Result<()> {
    let world = World::new("evil-props", "test-fn-60", &["succeed"], 60).await?;
    let (s3, lambda) = job_proxies(&world).await?;
    let operator = job_operator(&world, test_secrets(&world.namespace), tuning()).await;

    // Deeper than serde_json reads: the API server takes it; the operator's watch must not
    // break. Sent as bytes (a typed client could not read the answer).
    let guarded: Api<DeserializeGuard<RenderJob>> = Api::namespaced(world.client.clone(), &world.namespace);
    let deep = json!({"apiVersion": "remotion-operator.io/v1alpha1", "kind": "RenderJob", "metadata": {"name": "abyss"},
        "spec": {"siteRef": {"name": "site"}, "functionRef": {"name": "renderer"}, "composition": "succeed",
                 "inputProps": nested(200)}});
    let path = format!("/apis/remotion-operator.io/v1alpha1/namespaces/{}/renderjobs", world.namespace);
    let request = kube::core::Request::new(path).create(&PostParams::default(), serde_json::to_vec(&deep)?)?;
    world.client.request_text(request).await?;
    // Deeper than the props limit, within what the operator reads.
    world.create_job("deep", "succeed", nested(70)).await?;
    world.create_job("fine", "succeed", json!({"steps": 2, "intervalMs": 100})).await?;

    world.wait_phase("fine", RenderPhase::Succeeded).await?;
    let deep = world.wait_phase("deep", RenderPhase::Failed).await?;
    let (_, reason, message) = condition(&deep, "Ready");
    assert_eq!(reason, "InvalidInputProps", "{message}");
    assert!(message.contains("nest 70 levels deep; at most 64"), "{message}");

    // Reported on the job itself: a Warning Event (its Ready condition is written too, but
    // the object is too deep for a test client to read it back).
    eventually("the abyss reported", WAIT, || async {
        let events = world.events("abyss").await?;
        Ok(events.iter().any(|(kind, reason)| kind == "Warning" && reason == "InvalidObject").then_some(()))
    })
    .await?;
    let object = guarded.get("abyss").await?;
    let invalid = object.0.as_ref().expect_err("too deep to read");
    assert!(invalid.error.contains(&format!("more than the {MAX_OBJECT_DEPTH}")), "{}", invalid.error);
    // Never launched, and nothing written for either: not an invocation naming their renders,
    // not a write into their folders.
    let id = RenderId::from_uid(&object.uid().unwrap())?;
    let progress = env_head(&world.bucket, &keys::progress(&id)).await;
    assert!(!progress, "the abyss was launched");
    for id in [id, render_id(&world, "deep").await?] {
        assert_none_sent(&format!("render {id} was refused"), &invocations_of(&lambda, &id));
        assert_none_sent(&format!("render {id} was refused"), &s3.writes_to(&world.bucket, &keys::render_prefix(&id)));
    }
    // Positive control: the neighbour's launch went through the proxy, as did the reads of its
    // progress; and nothing else was invoked.
    let fine = render_id(&world, "fine").await?;
    assert!(!invocations_of(&lambda, &fine).is_empty(), "fine's launch not recorded:{}", listed(&lambda.recorded()));
    assert_eq!(lambda.invocations().len(), invocations_of(&lambda, &fine).len(), "{}", listed(&lambda.recorded()));
    assert!(s3.requests_to(&world.bucket).iter().any(|r| r.key.as_deref() == Some(keys::progress(&fine).as_str())));
    operator.stop().await
}

async fn env_head(bucket: &str, key: &str) -> bool {
    TestEnv::get().s3().client().await.head_object().bucket(bucket).key(key).send().await.is_ok()
}

#[tokio::test]
async fn a_job_reads_only_secrets_labelled_for_props() -> Result<()> {
    let world = World::new("evil-secret", "test-fn-61", &["succeed"], 60).await?;
    let secrets = test_secrets(&world.namespace);
    let props = br#"{"steps": 1, "intervalMs": 100}"#.to_vec();
    let data = || [("props.json".to_owned(), props.clone())].into();
    secrets.put_secret(
        &world.namespace,
        "db-password",
        ObjectData { resource_version: "1".into(), data: data(), ..Default::default() },
    );
    let quick = Tuning { waiting_recheck: Duration::from_secs(1), ..tuning() };
    let (_s3, lambda) = job_proxies(&world).await?;
    let operator = job_operator(&world, secrets.clone(), quick).await;

    let from_secret =
        json!({"inputProps": null, "inputPropsFrom": {"secretKeyRef": {"name": "db-password", "key": "props.json"}}});
    world.create_job_with("leak", "succeed", Value::Null, from_secret, json!({})).await?;
    let waiting = eventually("leak waits for a label", WAIT, || async {
        let job = world.jobs.get("leak").await?;
        let ready = job.status.as_ref().and_then(|s| find_condition(&s.conditions, "Ready")).cloned();
        Ok(ready.filter(|c| c.reason == "InputPropsNotAllowed"))
    })
    .await?;
    assert!(
        waiting.message.contains(&format!("kubectl label secret db-password {INPUT_PROPS_SECRET_LABEL}=true")),
        "{}",
        waiting.message
    );
    assert_eq!(world.jobs.get("leak").await?.status.and_then(|s| s.phase), Some(RenderPhase::Pending));
    // The Secret's content went nowhere: nothing was invoked.
    assert_none_sent("the Secret is not labelled", &lambda.invocations());

    // The namespace's admin labels it: now it may be read.
    let labels = [(INPUT_PROPS_SECRET_LABEL.to_owned(), "true".to_owned())].into();
    secrets.put_secret(
        &world.namespace,
        "db-password",
        ObjectData { resource_version: "2".into(), data: data(), labels },
    );
    world.wait_phase("leak", RenderPhase::Succeeded).await?;
    // Positive control: once allowed, the launch went out through the proxy.
    let id = render_id(&world, "leak").await?;
    assert!(!invocations_of(&lambda, &id).is_empty(), "leak's launch not recorded:{}", listed(&lambda.recorded()));
    operator.stop().await
}

#[tokio::test]
async fn output_keys_stay_in_the_jobs_folders() -> Result<()> {
    let world = World::new("evil-out", "test-fn-62", &["succeed"], 60).await?;
    let (s3, lambda) = job_proxies(&world).await?;
    let operator = job_operator(&world, test_secrets(&world.namespace), tuning()).await;
    let env = TestEnv::get();
    // A victim's render whose cancel signal and output the attacker targets.
    let victim = "renders/victimrender/";
    env.s3()
        .client()
        .await
        .put_object()
        .bucket(&world.bucket)
        .key(format!("{victim}out.mp4"))
        .body(ByteStream::from_static(b"victim's video"))
        .send()
        .await?;
    let output = |key: &str| json!({"output": {"key": key, "privacy": "private"}});
    let props = json!({"steps": 1, "intervalMs": 100});
    let refused = [
        ("other-ns", "outputs/some-other-team/stolen.mp4".to_owned()),
        ("victims-output", format!("{victim}out.mp4")),
        ("victims-cancel", format!("{victim}cancel")),
        ("bucket-root", "final.mp4".to_owned()),
    ];
    for (name, key) in &refused {
        world.create_job_with(name, "succeed", props.clone(), output(key), json!({})).await?;
    }
    let mine = format!("outputs/{}/videos/mine.mp4", world.namespace);
    world.create_job_with("mine", "succeed", props.clone(), output(&mine), json!({})).await?;

    for (name, key) in &refused {
        let job = world.wait_phase(name, RenderPhase::Failed).await?;
        let (_, reason, message) = condition(&job, "Ready");
        assert_eq!(reason, "OutputKeyNotAllowed", "{name}: {message}");
        assert!(message.contains(&format!("\"outputs/{}/\"", world.namespace)), "{message}");
        assert_eq!(world.launches(&job).await?, 0, "{name} launched");
        if key.starts_with("outputs/") || key == "final.mp4" {
            assert!(!env_head(&world.bucket, key).await, "{name} wrote {key}");
        }
    }
    let body =
        env.s3().client().await.get_object().bucket(&world.bucket).key(format!("{victim}out.mp4")).send().await?;
    assert_eq!(body.body.collect().await?.into_bytes().as_ref(), b"victim's video");
    assert!(!env_head(&world.bucket, &format!("{victim}cancel")).await);

    let job = world.wait_phase("mine", RenderPhase::Succeeded).await?;
    assert_eq!(job.status.and_then(|s| s.output).map(|o| o.s3_uri), Some(format!("s3://{}/{mine}", world.bucket)));

    // On the wire: no write into the victim's render (output, cancel signal, anything), the
    // other team's outputs or the bucket's root, and no launch of a refused job.
    for prefix in [victim, "outputs/some-other-team/", "final.mp4"] {
        assert_none_sent(&format!("{prefix} is not the attacker's"), &s3.writes_to(&world.bucket, prefix));
    }
    for (name, _) in &refused {
        let id = render_id(&world, name).await?;
        assert_none_sent(&format!("{name} was refused"), &invocations_of(&lambda, &id));
        assert_none_sent(&format!("{name} was refused"), &s3.writes_to(&world.bucket, &keys::render_prefix(&id)));
    }
    // Positive control: the one allowed job's launch and progress reads went through the proxies.
    let id = render_id(&world, "mine").await?;
    assert!(!invocations_of(&lambda, &id).is_empty(), "mine's launch not recorded:{}", listed(&lambda.recorded()));
    assert_eq!(lambda.invocations().len(), invocations_of(&lambda, &id).len(), "{}", listed(&lambda.recorded()));
    assert!(s3.requests_to(&world.bucket).iter().any(|r| r.key.as_deref() == Some(keys::progress(&id).as_str())));
    operator.stop().await
}

#[tokio::test]
async fn a_launch_record_written_from_a_stale_read_is_refused() -> Result<()> {
    let env = TestEnv::get();
    let client: Client = env.kube_client().await?;
    let namespace = env.unique_name("stale");
    let jobs: Api<RenderJob> = Api::namespaced(client.clone(), &namespace);
    let job: RenderJob = serde_json::from_value(json!({
        "apiVersion": "remotion-operator.io/v1alpha1", "kind": "RenderJob", "metadata": {"name": "twice"},
        "spec": {"siteRef": {"name": "s"}, "functionRef": {"name": "f"}, "composition": "Intro"}}))?;
    let read = jobs.create(&PostParams::default(), &job).await?;
    // Another writer (a previous leader recording the launch) changes the job after this read.
    let other = json!({"apiVersion": "remotion-operator.io/v1alpha1", "kind": "RenderJob",
        "status": {"renderId": "first", "phase": "Rendering"}});
    jobs.patch_status("twice", &PatchParams::apply("previous-leader").force(), &Patch::Apply(&other)).await?;

    let second = json!({"renderId": "second", "phase": "Rendering"});
    let refused = apply_status_unchanged(&jobs, &read, "remotion-operator/renderjob", &second).await;
    assert!(matches!(&refused, Err(kube::Error::Api(status)) if status.code == 409), "{refused:?}");
    assert_eq!(jobs.get("twice").await?.status.and_then(|s| s.render_id).as_deref(), Some("first"));
    // From a fresh read, the write goes through.
    let fresh = jobs.get("twice").await?;
    apply_status_unchanged(&jobs, &fresh, "remotion-operator/renderjob", &second).await?;
    Ok(())
}
