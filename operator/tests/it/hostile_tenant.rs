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
use kube::api::{Api, Patch, PatchParams, PostParams};
use remotion_crds::common::find_condition;
use remotion_crds::{LambdaBucket, RemotionSite, RenderFunction};
use remotion_operator::aws::StaticSecrets;
use remotion_operator::controllers::Context;
use remotion_operator::reconcile::abandon::CleanupDeadlines;
use remotion_operator::tenancy::{NetworkPolicy, TenancyPolicy};
use remotion_tests::TestEnv;
use remotion_tests::recording_proxy::{Recorded, RecordingProxy};
use serde_json::{Value, json};

use crate::common::{CREDENTIALS_SECRET, Operator, eventually, test_secrets};

pub(crate) const WAIT: Duration = Duration::from_secs(60);

/// The admin's policy of these tests: the operator's identity for `trusted` only.
pub(crate) fn policy(trusted: &str) -> TenancyPolicy {
    TenancyPolicy {
        operator_identity: remotion_operator::tenancy::NamespaceSet(vec![trusted.to_owned()]),
        network: NetworkPolicy::loopback_allowed(),
        ..TenancyPolicy::default_secure()
    }
}

/// `{"a": {"a": … 1}}`, `levels` objects deep.
pub(crate) fn nested(levels: usize) -> Value {
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
pub(crate) fn listed(recorded: &[Recorded]) -> String {
    recorded.iter().map(|r| format!("\n  {r}")).collect()
}

/// Fails, naming them, when `recorded` holds any request.
#[track_caller]
pub(crate) fn assert_none_sent(what: &str, recorded: &[Recorded]) {
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
