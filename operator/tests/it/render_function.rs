//! RenderFunction controller: `Managed` against a scripted Lambda control plane behind the
//! `FunctionApi` trait (state transitions, updates, async retries off, owner tags: another
//! namespace's or an untagged function never updated, default names per namespace), `Existing` against
//! cargo-lambda running a stand-in render function process (info recorded, ProtocolMismatch,
//! not a render function).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::common::{CREDENTIALS_SECRET, Operator, eventually, test_secrets};
use anyhow::Result;
use futures::future::BoxFuture;
use kube::Client;
use kube::api::{Api, Patch, PatchParams, PostParams};
use remotion_crds::common::find_condition;
use remotion_crds::render_function::{Architecture, CapacitySource, FunctionManagement, OWNER_DIGEST_CHARS};
use remotion_crds::{AwsAccess, AwsCredentials, LocalObjectRef, Reason, RenderFunction, RenderFunctionSpec};
use remotion_operator::aws::AwsFactory;
use remotion_operator::controllers::Context;
use remotion_operator::controllers::aws_tags::TagChanges;
use remotion_operator::controllers::lambda_bucket::owner::{OWNER_TAG, Owner};
use remotion_operator::controllers::render_function::lambda::{
    DeployedFunction, FunctionApi, FunctionApiFactory, FunctionCapacity, InfoOutcome, Lifecycle, WantedFunction,
};
use remotion_operator::reconcile::Error;
use remotion_operator::tenancy::{ClusterId, TenancyPolicy};
use remotion_protocol::payload::{InfoResponse, PROTOCOL_VERSION};
use remotion_tests::TestEnv;
use serde_json::json;

const WAIT: Duration = Duration::from_secs(60);
const ROLE: &str = "arn:aws:iam::123456789012:role/remotion-render";

fn spec(management: FunctionManagement, endpoint: &str) -> RenderFunctionSpec {
    RenderFunctionSpec {
        aws: AwsAccess {
            region: "us-east-1".into(),
            credentials: Some(AwsCredentials {
                secret_ref: Some(LocalObjectRef::new(CREDENTIALS_SECRET)),
                role_arn: None,
                external_id: None,
            }),
            endpoint: Some(endpoint.to_owned()),
        },
        management,
        function_name: None,
        image: None,
        role_arn: None,
        memory_size_mb: 2048,
        disk_size_mb: 10240,
        timeout_seconds: 900,
        architecture: Architecture::X86_64,
        env: BTreeMap::new(),
        tags: BTreeMap::new(),
        max_concurrent_invocations: None,
        max_renders_per_namespace: None,
    }
}

async fn wait_ready(api: &Api<RenderFunction>, name: &str, status: &str, reason: &str) -> Result<RenderFunction> {
    let reached = eventually(&format!("{name} Ready={status}/{reason}"), WAIT, || async {
        let rf = api.get(name).await?;
        let ok = rf.status.as_ref().is_some_and(|s| {
            s.observed_generation == rf.metadata.generation
                && find_condition(&s.conditions, "Ready").is_some_and(|c| c.status == status && c.reason == reason)
        });
        Ok(ok.then_some(rf))
    })
    .await;
    match reached {
        Ok(rf) => Ok(rf),
        Err(e) => {
            let last = api.get(name).await.ok().and_then(|rf| rf.status);
            Err(e.context(format!("last status: {last:?}")))
        }
    }
}

/// A Lambda control plane (one account) following Lambda's state machine: a created or
/// updated function is Pending for `pending_polls` GetFunction calls, then Active.
#[derive(Default)]
struct ScriptedLambda {
    state: Mutex<Scripted>,
}

#[derive(Default)]
struct Scripted {
    functions: BTreeMap<String, DeployedFunction>,
    pending_polls: BTreeMap<String, u32>,
    calls: Vec<String>,
    /// The functions each write (create, update, async configuration) went to.
    written: Vec<String>,
    retries_disabled: bool,
    /// What `capacity` answers (`None`: access denied).
    capacity: Option<FunctionCapacity>,
    info: Option<InfoResponse>,
}

impl ScriptedLambda {
    fn calls(&self) -> Vec<String> {
        self.state.lock().unwrap().calls.clone()
    }

    fn written(&self) -> Vec<String> {
        self.state.lock().unwrap().written.clone()
    }

    fn function(&self, name: &str) -> Option<DeployedFunction> {
        self.state.lock().unwrap().functions.get(name).cloned()
    }

    fn deploy(state: &mut Scripted, wanted: &WantedFunction, tags: BTreeMap<String, String>) {
        let function = DeployedFunction {
            name: wanted.name.clone(),
            arn: Some(format!("arn:aws:lambda:us-east-1:123456789012:function:{}", wanted.name)),
            lifecycle: Lifecycle::Pending,
            failure: None,
            image: Some(wanted.image.clone()),
            role: Some(wanted.role.clone()),
            memory_mb: Some(wanted.memory_mb),
            disk_mb: Some(wanted.disk_mb),
            timeout_seconds: Some(wanted.timeout_seconds),
            architecture: Some(wanted.architecture),
            env: wanted.env.clone(),
            owner: tags.get(OWNER_TAG).cloned(),
            tags,
        };
        state.written.push(wanted.name.clone());
        state.functions.insert(wanted.name.clone(), function);
        state.pending_polls.insert(wanted.name.clone(), 2);
    }

    /// Updates keep the function's tags, as Lambda does.
    fn update(state: &mut Scripted, wanted: &WantedFunction) {
        let current = state.functions.get(&wanted.name);
        assert_ne!(current.map(|f| f.lifecycle), Some(Lifecycle::Pending), "update while Pending");
        let tags = current.map(|f| f.tags.clone()).unwrap_or_default();
        Self::deploy(state, wanted, tags);
    }
}

impl FunctionApi for ScriptedLambda {
    fn get(&self, name: &str) -> BoxFuture<'_, Result<Option<DeployedFunction>, Error>> {
        let mut guard = self.state.lock().unwrap();
        let state = &mut *guard;
        state.calls.push("get".into());
        if let Some(function) = state.functions.get_mut(name).filter(|f| f.lifecycle == Lifecycle::Pending) {
            let polls = state.pending_polls.entry(name.to_owned()).or_default();
            if *polls == 0 {
                function.lifecycle = Lifecycle::Active;
            } else {
                *polls -= 1;
            }
        }
        let found = state.functions.get(name).cloned();
        Box::pin(async move { Ok(found) })
    }

    fn create(&self, wanted: &WantedFunction) -> BoxFuture<'_, Result<(), Error>> {
        let mut state = self.state.lock().unwrap();
        state.calls.push("create".into());
        assert!(!state.functions.contains_key(&wanted.name), "create of an existing function");
        let mut tags = wanted.tags.clone();
        tags.insert(OWNER_TAG.to_owned(), wanted.owner.clone());
        Self::deploy(&mut state, wanted, tags);
        Box::pin(async { Ok(()) })
    }

    fn update_code(&self, wanted: &WantedFunction) -> BoxFuture<'_, Result<(), Error>> {
        let mut state = self.state.lock().unwrap();
        state.calls.push("update_code".into());
        Self::update(&mut state, wanted);
        Box::pin(async { Ok(()) })
    }

    fn update_configuration(&self, wanted: &WantedFunction) -> BoxFuture<'_, Result<(), Error>> {
        let mut state = self.state.lock().unwrap();
        state.calls.push("update_configuration".into());
        Self::update(&mut state, wanted);
        Box::pin(async { Ok(()) })
    }

    fn configure_async_invocations(&self, name: &str) -> BoxFuture<'_, Result<(), Error>> {
        let mut state = self.state.lock().unwrap();
        state.calls.push("configure_async_invocations".into());
        state.written.push(name.to_owned());
        state.retries_disabled = true;
        Box::pin(async { Ok(()) })
    }

    /// Tags change without a deployment, as with Lambda (the function stays Active).
    fn update_tags(&self, arn: &str, changes: &TagChanges) -> BoxFuture<'_, Result<(), Error>> {
        let mut state = self.state.lock().unwrap();
        state.calls.push("update_tags".into());
        let function =
            state.functions.values_mut().find(|f| f.arn.as_deref() == Some(arn)).expect("tagging a function");
        function.tags = changes.applied_to(&function.tags);
        function.owner = function.tags.get(OWNER_TAG).cloned();
        let name = function.name.clone();
        state.written.push(name);
        Box::pin(async { Ok(()) })
    }

    fn capacity(&self, _name: &str) -> BoxFuture<'_, Result<FunctionCapacity, Error>> {
        let mut state = self.state.lock().unwrap();
        state.calls.push("capacity".into());
        let capacity = state.capacity;
        Box::pin(async move {
            capacity.ok_or_else(|| Error::new(Reason::LambdaError, "AccessDeniedException (HTTP 403): scripted"))
        })
    }

    fn info(&self, name: &str) -> BoxFuture<'_, Result<InfoOutcome, Error>> {
        let mut state = self.state.lock().unwrap();
        state.calls.push("info".into());
        let active = state.functions.get(name).is_some_and(|f| f.lifecycle == Lifecycle::Active);
        assert!(active, "info invoked before {name} is Active");
        let info = state.info.clone().expect("scripted info");
        Box::pin(async move { Ok(InfoOutcome::Info(info)) })
    }
}

struct ScriptedFactory(Arc<ScriptedLambda>);

impl FunctionApiFactory for ScriptedFactory {
    fn for_access<'a>(
        &'a self,
        _aws: &'a AwsFactory,
        _namespace: &'a str,
        _access: &'a AwsAccess,
    ) -> BoxFuture<'a, Result<Arc<dyn FunctionApi>, Error>> {
        let api: Arc<dyn FunctionApi> = self.0.clone();
        Box::pin(async move { Ok(api) })
    }
}

#[tokio::test]
async fn managed_function_is_created_waited_for_updated_and_verified() -> Result<()> {
    let env = TestEnv::get();
    let client = env.kube_client().await?;
    let namespace = env.unique_name("rf-managed");
    let lambda = Arc::new(ScriptedLambda::default());
    lambda.state.lock().unwrap().info = Some(InfoResponse {
        function_version: "0.1.0".into(),
        protocol_version: PROTOCOL_VERSION,
        chromium_version: "Chromium 156".into(),
        ffmpeg_version: "5.1.9".into(),
        memory_size_mb: Some(3008),
        architecture: Some(Architecture::Arm64),
    });
    lambda.state.lock().unwrap().capacity =
        Some(FunctionCapacity { invocations: 7, source: CapacitySource::ReservedConcurrency });
    let secrets = test_secrets(&namespace);
    let factory = Arc::new(ScriptedFactory(lambda.clone()));
    let operator = Operator::start_with(client.clone(), &namespace, |client, metrics| {
        let mut ctx = Context::new(client, secrets, metrics, None).with_tenancy(TenancyPolicy::permissive_local());
        ctx.functions = factory;
        ctx
    })
    .await?;
    let api: Api<RenderFunction> = Api::namespaced(client.clone(), &namespace);

    let mut wanted = spec(FunctionManagement::Managed, "http://127.0.0.1:9");
    wanted.image = Some("123456789012.dkr.ecr.us-east-1.amazonaws.com/remotion-function:0.1.0".into());
    wanted.role_arn = Some(ROLE.into());
    wanted.memory_size_mb = 3008;
    wanted.architecture = Architecture::Arm64;
    wanted.env = [("RUST_LOG".to_owned(), "debug".to_owned())].into();
    wanted.tags = [("team".to_owned(), "video".to_owned()), ("cost-centre".to_owned(), "41".to_owned())].into();
    api.create(&PostParams::default(), &RenderFunction::new("renderer", wanted)).await?;

    let rf = wait_ready(&api, "renderer", "True", "Available").await?;
    let status = rf.status.unwrap();
    let digest = Owner::new(&ClusterId::default(), &namespace, "renderer").digest(OWNER_DIGEST_CHARS);
    let name = format!("remotion-render-0-1-0-mem3008mb-disk10240mb-900sec-{digest}");
    let name = name.as_str();
    assert_eq!(status.function_name.as_deref(), Some(name));
    assert_eq!(status.function_arn, Some(format!("arn:aws:lambda:us-east-1:123456789012:function:{name}")));
    assert_eq!(status.version.as_deref(), Some("0.1.0"));
    assert_eq!(status.protocol_version, Some(i64::from(PROTOCOL_VERSION)));
    assert_eq!(status.chromium_version.as_deref(), Some("Chromium 156"));
    assert_eq!(
        (status.memory_size_mb, status.disk_size_mb, status.timeout_seconds),
        (Some(3008), Some(10240), Some(900))
    );
    assert_eq!(status.architecture, Some(Architecture::Arm64));
    let deployed = lambda.function(name).unwrap();
    assert_eq!(deployed.owner, Some(format!("default/{namespace}/renderer")));
    // Created with the spec's tags and its owner spelled out key by key, for cost allocation.
    let created_tags = BTreeMap::from([
        ("cost-centre".to_owned(), "41".to_owned()),
        ("remotion-operator.io/cluster".to_owned(), "default".to_owned()),
        ("remotion-operator.io/kind".to_owned(), "RenderFunction".to_owned()),
        ("remotion-operator.io/name".to_owned(), "renderer".to_owned()),
        ("remotion-operator.io/namespace".to_owned(), namespace.clone()),
        (OWNER_TAG.to_owned(), format!("default/{namespace}/renderer")),
        ("team".to_owned(), "video".to_owned()),
    ]);
    assert_eq!(deployed.tags, created_tags);
    assert_eq!(status.tag_keys, ["cost-centre", "team"]);
    assert_eq!(deployed.role.as_deref(), Some(ROLE));
    assert_eq!(deployed.env.get("RUST_LOG").map(String::as_str), Some("debug"));
    assert!(lambda.state.lock().unwrap().retries_disabled);
    let calls = lambda.calls();
    assert_eq!(calls.iter().filter(|c| *c == "create").count(), 1, "{calls:?}");
    // Pending twice after creation: the controller polled until Active before invoking info.
    let first_info = calls.iter().position(|c| c == "info").unwrap();
    assert!(calls[..first_info].iter().filter(|c| *c == "get").count() >= 3, "{calls:?}");

    // A new image: the code is updated (not re-created), then Ready again with the new state.
    let patch = json!({"spec": {"image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/remotion-function:0.1.1"}});
    api.patch("renderer", &PatchParams::default(), &Patch::Merge(&patch)).await?;
    wait_ready(&api, "renderer", "True", "Available").await?;
    eventually("the new image deployed", WAIT, || async {
        Ok(lambda.function(name).and_then(|f| f.image).is_some_and(|i| i.ends_with(":0.1.1")).then_some(()))
    })
    .await?;
    let calls = lambda.calls();
    assert_eq!(calls.iter().filter(|c| *c == "update_code").count(), 1, "{calls:?}");
    assert_eq!(calls.iter().filter(|c| *c == "create").count(), 1, "{calls:?}");

    // Tags follow the spec without a deployment: a changed value is set, a key that left
    // spec.tags is removed, a tag put there by other means stays.
    {
        let mut state = lambda.state.lock().unwrap();
        let function = state.functions.get_mut(name).unwrap();
        function.tags.insert("backup".into(), "daily".into());
    }
    let patch = json!({"spec": {"tags": {"team": null, "cost-centre": "42"}}});
    api.patch("renderer", &PatchParams::default(), &Patch::Merge(&patch)).await?;
    eventually("the tags updated", WAIT, || async {
        let tags = lambda.function(name).map(|f| f.tags).unwrap_or_default();
        let status_keys = api.get("renderer").await?.status.map(|s| s.tag_keys).unwrap_or_default();
        Ok((tags.get("cost-centre").map(String::as_str) == Some("42")
            && !tags.contains_key("team")
            && status_keys == ["cost-centre"])
        .then_some(tags))
    })
    .await?;
    let tags = lambda.function(name).unwrap().tags;
    assert_eq!(tags.get("backup").map(String::as_str), Some("daily"), "{tags:?}");
    assert_eq!(tags.get(OWNER_TAG), created_tags.get(OWNER_TAG), "{tags:?}");
    let calls = lambda.calls();
    assert_eq!(calls.iter().filter(|c| *c == "update_tags").count(), 1, "{calls:?}");
    assert_eq!(calls.iter().filter(|c| *c == "update_code").count(), 1, "tags never redeploy: {calls:?}");

    // The capacity: the reserved concurrency Lambda reports, until the spec sets its own.
    let capacity_of = |rf: RenderFunction| rf.status.and_then(|s| Some((s.capacity?, s.capacity_source?)));
    eventually("the reserved concurrency in the status", WAIT, || async {
        Ok((capacity_of(api.get("renderer").await?) == Some((7, CapacitySource::ReservedConcurrency))).then_some(()))
    })
    .await?;
    let patch = json!({"spec": {"maxConcurrentInvocations": 3}});
    api.patch("renderer", &PatchParams::default(), &Patch::Merge(&patch)).await?;
    eventually("the spec's capacity in the status", WAIT, || async {
        Ok((capacity_of(api.get("renderer").await?) == Some((3, CapacitySource::MaxConcurrentInvocations)))
            .then_some(()))
    })
    .await?;
    operator.stop().await
}

/// The operator for `namespace`, its Lambda control plane `lambda` (shared between namespaces
/// to play one AWS account).
async fn start_scripted(client: &Client, namespace: &str, lambda: &Arc<ScriptedLambda>) -> Result<Operator> {
    let secrets = test_secrets(namespace);
    let factory = Arc::new(ScriptedFactory(lambda.clone()));
    Operator::start_with(client.clone(), namespace, |client, metrics| {
        let mut ctx = Context::new(client, secrets, metrics, None).with_tenancy(TenancyPolicy::permissive_local());
        ctx.functions = factory;
        ctx
    })
    .await
}

fn managed(image: &str) -> RenderFunctionSpec {
    let mut wanted = spec(FunctionManagement::Managed, "http://127.0.0.1:9");
    wanted.image = Some(image.into());
    wanted.role_arn = Some(ROLE.into());
    wanted
}

#[tokio::test]
async fn a_function_another_namespace_owns_or_nobody_owns_is_never_updated() -> Result<()> {
    let env = TestEnv::get();
    let client = env.kube_client().await?;
    let (namespace_a, namespace_b) = (env.unique_name("rf-owner-a"), env.unique_name("rf-owner-b"));
    let lambda = Arc::new(ScriptedLambda::default());
    lambda.state.lock().unwrap().info = Some(InfoResponse {
        function_version: "0.1.0".into(),
        protocol_version: PROTOCOL_VERSION,
        chromium_version: "Chromium 156".into(),
        ffmpeg_version: "5.1.9".into(),
        memory_size_mb: None,
        architecture: None,
    });
    let operator_a = start_scripted(&client, &namespace_a, &lambda).await?;
    let operator_b = start_scripted(&client, &namespace_b, &lambda).await?;
    let api_a: Api<RenderFunction> = Api::namespaced(client.clone(), &namespace_a);
    let api_b: Api<RenderFunction> = Api::namespaced(client.clone(), &namespace_b);
    let image_a = "123456789012.dkr.ecr.us-east-1.amazonaws.com/remotion-function:a";
    let image_b = "123456789012.dkr.ecr.us-east-1.amazonaws.com/remotion-function:b";

    // The same name and settings in two namespaces: two functions, each tagged with its owner.
    api_a.create(&PostParams::default(), &RenderFunction::new("renderer", managed(image_a))).await?;
    api_b.create(&PostParams::default(), &RenderFunction::new("renderer", managed(image_b))).await?;
    let name_a = wait_ready(&api_a, "renderer", "True", "Available").await?.status.unwrap().function_name.unwrap();
    let name_b = wait_ready(&api_b, "renderer", "True", "Available").await?.status.unwrap().function_name.unwrap();
    assert_ne!(name_a, name_b);
    assert!(name_a.starts_with("remotion-render-") && name_a.len() <= 64, "{name_a}");
    let owner_a = format!("default/{namespace_a}/renderer");
    assert_eq!(lambda.function(&name_a).unwrap().owner.as_ref(), Some(&owner_a));
    assert_eq!(lambda.function(&name_b).unwrap().owner, Some(format!("default/{namespace_b}/renderer")));

    // A's operator goes on putting back its function's retry policy on each pass; with it
    // stopped, every write from here on is B's.
    operator_a.stop().await?;

    // B names A's function, with its own image and memory: refused, naming A; nothing written.
    let mut intruder = managed(image_b);
    intruder.function_name = Some(name_a.clone());
    intruder.memory_size_mb = 4096;
    let before = lambda.written();
    api_b.create(&PostParams::default(), &RenderFunction::new("intruder", intruder)).await?;
    let rf = wait_ready(&api_b, "intruder", "False", "OwnedByAnother").await?;
    let ready = find_condition(&rf.status.as_ref().unwrap().conditions, "Ready").unwrap().clone();
    assert!(ready.message.contains(&owner_a) && ready.message.contains(&name_a), "{}", ready.message);
    let deployed = lambda.function(&name_a).unwrap();
    assert_eq!((deployed.image.as_deref(), deployed.memory_mb), (Some(image_a), Some(2048)));
    assert_eq!(lambda.written()[before.len()..].iter().filter(|n| **n == name_a).count(), 0);

    // A function deployed by other means (no owner tag) is not taken over either.
    let handmade = "remotion-render-handmade";
    let mut wanted = lambda.function(&name_b).unwrap();
    wanted.name = handmade.into();
    wanted.owner = None;
    wanted.lifecycle = Lifecycle::Active;
    lambda.state.lock().unwrap().functions.insert(handmade.into(), wanted);
    let mut taker = managed(image_b);
    taker.function_name = Some(handmade.into());
    api_b.create(&PostParams::default(), &RenderFunction::new("taker", taker)).await?;
    let rf = wait_ready(&api_b, "taker", "False", "OwnedByAnother").await?;
    let ready = find_condition(&rf.status.as_ref().unwrap().conditions, "Ready").unwrap().clone();
    assert!(ready.message.contains("no remotion-operator.io/owner tag"), "{}", ready.message);
    assert!(!lambda.written().iter().any(|n| n == handmade), "{:?}", lambda.written());
    operator_b.stop().await
}

/// The stand-in render function built from `tests/doubles/fake-render-function.rs`.
fn fake_function_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    // target/<profile>/deps/<test> → target/<profile>/examples/fake-render-function
    let profile_dir = exe.parent().and_then(|deps| deps.parent()).expect("target profile folder");
    profile_dir.join("examples").join("fake-render-function")
}

async fn existing_setup(prefix: &str) -> Result<(Client, String, Api<RenderFunction>, Operator)> {
    let env = TestEnv::get();
    let client = env.kube_client().await?;
    let namespace = env.unique_name(prefix);
    let operator = Operator::start(client.clone(), test_secrets(&namespace), &namespace).await?;
    Ok((client.clone(), namespace.clone(), Api::namespaced(client, &namespace), operator))
}

async fn create_existing(api: &Api<RenderFunction>, name: &str, function: &str) -> Result<()> {
    let mut wanted = spec(FunctionManagement::Existing, &TestEnv::get().lambda().endpoint);
    wanted.function_name = Some(function.into());
    api.create(&PostParams::default(), &RenderFunction::new(name, wanted)).await?;
    Ok(())
}

#[tokio::test]
async fn existing_function_is_verified_with_info_through_the_lambda_emulator() -> Result<()> {
    let env = TestEnv::get();
    let _process = env.spawn_function(&fake_function_binary(), "test-fn-10", 2048, &[])?;
    let (_client, _namespace, api, operator) = existing_setup("rf-existing").await?;
    create_existing(&api, "existing", "test-fn-10").await?;
    let rf = wait_ready(&api, "existing", "True", "Available").await?;
    let status = rf.status.unwrap();
    assert_eq!(status.function_name.as_deref(), Some("test-fn-10"));
    // The emulator serves Invoke only: the capacity stays unknown (a CapacityUnknown Event says so).
    assert_eq!(status.capacity, None);
    assert_eq!(status.version.as_deref(), Some("0.0.0-fake"));
    assert_eq!(status.protocol_version, Some(i64::from(PROTOCOL_VERSION)));
    assert_eq!(status.ffmpeg_version.as_deref(), Some("FFmpeg 0.0 (fake)"));
    assert_eq!(status.memory_size_mb, Some(2048));
    // Nothing was deployed, so no ARN is known.
    assert_eq!(status.function_arn, None);
    // Disk and timeout are the spec's declared values (Existing reads no configuration).
    assert_eq!((status.disk_size_mb, status.timeout_seconds), (Some(10240), Some(900)));
    operator.stop().await
}

#[tokio::test]
async fn a_function_speaking_another_protocol_is_a_protocol_mismatch() -> Result<()> {
    let env = TestEnv::get();
    let other = (PROTOCOL_VERSION + 1).to_string();
    let _process =
        env.spawn_function(&fake_function_binary(), "test-fn-11", 2048, &[("FAKE_PROTOCOL_VERSION", other.as_str())])?;
    let (_client, _namespace, api, operator) = existing_setup("rf-mismatch").await?;
    create_existing(&api, "old", "test-fn-11").await?;
    let rf = wait_ready(&api, "old", "False", "ProtocolMismatch").await?;
    let status = rf.status.unwrap();
    let ready = find_condition(&status.conditions, "Ready").unwrap();
    assert!(ready.message.contains(&format!("speaks protocol {other}")), "{}", ready.message);
    // What the function is, is recorded all the same.
    assert_eq!(status.protocol_version, Some(i64::from(PROTOCOL_VERSION + 1)));
    let (_, metrics) = crate::common::http_get(operator.http, "/metrics").await?;
    assert!(metrics.contains(r#"reconcile_failures_total{controller="renderfunction",reason="ProtocolMismatch"}"#));
    operator.stop().await
}

#[tokio::test]
async fn a_function_that_is_not_a_render_function_is_refused() -> Result<()> {
    let env = TestEnv::get();
    let _process =
        env.spawn_function(&fake_function_binary(), "test-fn-12", 2048, &[("FAKE_INFO_ANSWER", "garbage")])?;
    let (_client, _namespace, api, operator) = existing_setup("rf-garbage").await?;
    create_existing(&api, "wrong", "test-fn-12").await?;
    let rf = wait_ready(&api, "wrong", "False", "NotARenderFunction").await?;
    let status = rf.status.unwrap();
    let ready = find_condition(&status.conditions, "Ready").unwrap();
    assert!(ready.message.contains("test-fn-12") && ready.message.contains("spec.functionName"), "{}", ready.message);
    assert_eq!(status.version, None);
    operator.stop().await
}

/// A Lambda control-plane client of moto's, for the test to look at what the operator did.
async fn moto_lambda(endpoint: &str) -> aws_sdk_lambda::Client {
    let config = aws_sdk_lambda::config::Builder::new()
        .behavior_version(aws_sdk_lambda::config::BehaviorVersion::latest())
        .region(aws_sdk_lambda::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_lambda::config::Credentials::new("testing", "testing", None, None, "test"))
        .endpoint_url(endpoint)
        .build();
    aws_sdk_lambda::Client::from_conf(config)
}

/// The Managed deployment through the real AWS SDK against moto's Lambda control plane (the
/// scripted tests above check the decisions; this one checks the calls): created from an
/// image with its role, owner and cost-allocation tags and async-invocation settings, then
/// updated and re-tagged in place, its capacity read, and verified with `info` through the
/// emulator behind the same endpoint.
#[tokio::test]
async fn managed_function_is_deployed_through_the_sdk_on_the_moto_control_plane() -> Result<()> {
    let env = TestEnv::get();
    let moto = env.moto();
    let role = moto.create_lambda_role(&env.unique_name("renderer-role"))?;
    let _process = env.spawn_function(&fake_function_binary(), "test-fn-52", 2048, &[])?;
    let split = remotion_tests::moto::LambdaSplit::start(&env.lambda().endpoint, &moto.endpoint).await?;
    let (_client, namespace, api, operator) = existing_setup("rf-moto").await?;

    let mut wanted = spec(FunctionManagement::Managed, &split.endpoint);
    wanted.function_name = Some("test-fn-52".into());
    wanted.image = Some("123456789012.dkr.ecr.us-east-1.amazonaws.com/remotion-function:0.1.0".into());
    wanted.role_arn = Some(role.clone());
    wanted.memory_size_mb = 2048;
    wanted.env = [("RUST_LOG".to_owned(), "info".to_owned())].into();
    wanted.tags = [("team".to_owned(), "video".to_owned())].into();
    api.create(&PostParams::default(), &RenderFunction::new("renderer", wanted)).await?;
    let rf = wait_ready(&api, "renderer", "True", "Available").await?;
    let status = rf.status.unwrap();
    let arn = "arn:aws:lambda:us-east-1:123456789012:function:test-fn-52";
    assert_eq!(status.function_arn.as_deref(), Some(arn));
    assert_eq!(status.version.as_deref(), Some("0.0.0-fake"), "info went to the emulator");

    let lambda = moto_lambda(&moto.endpoint).await;
    let function = lambda.get_function().function_name("test-fn-52").send().await?;
    let config = function.configuration().unwrap();
    assert_eq!(
        function.code().and_then(|c| c.image_uri()),
        Some("123456789012.dkr.ecr.us-east-1.amazonaws.com/remotion-function:0.1.0")
    );
    assert_eq!(config.role(), Some(role.as_str()));
    assert_eq!((config.memory_size(), config.timeout()), (Some(2048), Some(900)));
    assert_eq!(config.ephemeral_storage().map(|e| e.size()), Some(10240));
    let variables = config.environment().and_then(|e| e.variables()).cloned().unwrap_or_default();
    assert_eq!(variables.get("RUST_LOG").map(String::as_str), Some("info"));
    let tags = lambda.list_tags().resource(arn).send().await?.tags().cloned().unwrap_or_default();
    let owner = format!("default/{namespace}/renderer");
    assert_eq!(tags.get(OWNER_TAG), Some(&owner), "{tags:?}");
    assert_eq!(tags.get("remotion-operator.io/namespace"), Some(&namespace), "{tags:?}");
    assert_eq!(tags.get("remotion-operator.io/kind").map(String::as_str), Some("RenderFunction"), "{tags:?}");
    assert_eq!(tags.get("team").map(String::as_str), Some("video"), "{tags:?}");
    let retries = lambda.get_function_event_invoke_config().function_name("test-fn-52").send().await?;
    assert_eq!((retries.maximum_retry_attempts(), retries.maximum_event_age_in_seconds()), (Some(0), Some(60)));
    // moto has no GetAccountSettings: without reserved concurrency the capacity is unknown.
    assert_eq!(status.capacity, None);

    // Reserved concurrency set by hand; a new image, environment and tags in the spec.
    lambda.put_function_concurrency().function_name("test-fn-52").reserved_concurrent_executions(5).send().await?;
    let patch = json!({"spec": {
        "image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/remotion-function:0.1.1",
        "env": {"RUST_LOG": "debug"},
        "tags": {"team": null, "cost-centre": "42"},
    }});
    api.patch("renderer", &PatchParams::default(), &Patch::Merge(&patch)).await?;
    let status = eventually("the update deployed and the capacity read", WAIT, || async {
        let status = api.get("renderer").await?.status.unwrap_or_default();
        Ok((status.capacity == Some(5) && status.tag_keys == ["cost-centre"]).then_some(status))
    })
    .await?;
    assert_eq!(status.capacity_source, Some(CapacitySource::ReservedConcurrency));
    let function = lambda.get_function().function_name("test-fn-52").send().await?;
    assert_eq!(
        function.code().and_then(|c| c.image_uri()),
        Some("123456789012.dkr.ecr.us-east-1.amazonaws.com/remotion-function:0.1.1")
    );
    let variables =
        function.configuration().and_then(|c| c.environment()).and_then(|e| e.variables()).cloned().unwrap_or_default();
    assert_eq!(variables.get("RUST_LOG").map(String::as_str), Some("debug"));
    let tags = lambda.list_tags().resource(arn).send().await?.tags().cloned().unwrap_or_default();
    assert_eq!(tags.get("cost-centre").map(String::as_str), Some("42"), "{tags:?}");
    assert!(!tags.contains_key("team"), "{tags:?}");
    assert_eq!(tags.get(OWNER_TAG), Some(&owner), "{tags:?}");
    operator.stop().await
}
