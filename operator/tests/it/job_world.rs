//! The world of a RenderJob controller test: a namespace with a bucket, a function (a scripted
//! fake process, `fake-launch-function`, which plays progress documents into the bucket and
//! counts the launches it receives) and a site, and the RenderJob controller running alone.
//!
//! The site, function and bucket a job references get their statuses by server-side apply from
//! the test, with a field manager of its own.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::common::{CREDENTIALS_SECRET, eventually, test_secrets};
use anyhow::{Context as _, Result};
use k8s_openapi::api::events::v1::Event;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use kube::{Client, ResourceExt};
use remotion_crds::common::find_condition;
use remotion_crds::render_job::RenderPhase;
use remotion_crds::{LambdaBucket, RemotionSite, RenderFunction, RenderJob};
use remotion_operator::aws::StaticSecrets;
use remotion_operator::controllers::render_job::{self, Tuning};
use remotion_operator::controllers::{Context, Settings};
use remotion_operator::metrics::Metrics;
use remotion_operator::tenancy::TenancyPolicy;
use remotion_protocol::keys::{self, RenderId};
use remotion_protocol::payload::PROTOCOL_VERSION;
use remotion_tests::TestEnv;
use remotion_tests::process::Spawned;
use serde_json::{Value, json};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub const WAIT: Duration = Duration::from_secs(90);
/// Field manager of the fixtures' statuses (not the operator's).
pub const FIXTURES: &str = "remotion-tests/fixtures";

/// The RenderJob controller running in this test, alone.
pub struct JobOperator {
    pub metrics: Arc<Metrics>,
    pub shutdown: CancellationToken,
    pub task: JoinHandle<()>,
}

impl JobOperator {
    pub async fn start(client: &Client, namespace: &str, tuning: Tuning) -> Self {
        Self::start_with_secrets(client, namespace, tuning, test_secrets(namespace)).await
    }

    /// Starts with a Secret/ConfigMap source of the test's own (the stand-in has no core types).
    pub async fn start_with_secrets(
        client: &Client,
        namespace: &str,
        tuning: Tuning,
        secrets: Arc<StaticSecrets>,
    ) -> Self {
        Self::start_with(client, Settings::new(Some(namespace.to_owned()), 4), tuning, secrets).await
    }

    pub async fn start_with(client: &Client, settings: Settings, tuning: Tuning, secrets: Arc<StaticSecrets>) -> Self {
        Self::start_with_policy(client, settings, tuning, secrets, TenancyPolicy::permissive_local()).await
    }

    /// Starts under the admin's tenancy `policy`.
    pub async fn start_with_policy(
        client: &Client,
        settings: Settings,
        tuning: Tuning,
        secrets: Arc<StaticSecrets>,
        policy: TenancyPolicy,
    ) -> Self {
        let metrics = Arc::new(Metrics::new());
        let ctx = Arc::new(Context::new(client.clone(), secrets, metrics.clone(), None).with_tenancy(policy));
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(render_job::run_with(ctx, settings, tuning, shutdown.clone()));
        Self { metrics, shutdown, task }
    }

    pub async fn stop(self) -> Result<()> {
        self.shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(30), self.task).await.context("controller did not stop")??;
        Ok(())
    }
}

/// Quick timings for tests (production polls every 1.5 s and tolerates 60 s of extra silence).
pub fn tuning() -> Tuning {
    Tuning {
        poll_interval: Duration::from_millis(500),
        stall_margin: Duration::from_secs(2),
        cancel_confirm_timeout: Duration::from_secs(20),
        ..Tuning::default()
    }
}

/// The scripted fake built from `tests/doubles/fake-launch-function.rs` (cargo builds examples
/// for `cargo test`).
pub fn fake_launch_function() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    // target/<profile>/deps/<test> → target/<profile>/examples/fake-launch-function
    let profile_dir = exe.parent().and_then(|deps| deps.parent()).expect("target profile folder");
    profile_dir.join("examples").join("fake-launch-function")
}

/// One test's world: namespace, bucket, fake function process, fixtures.
pub struct World {
    pub client: Client,
    pub namespace: String,
    pub bucket: String,
    pub jobs: Api<RenderJob>,
    /// The fake function process (a neighbour world shares another world's).
    pub _function: Option<Spawned>,
}

impl World {
    /// Fixtures for a site listing `compositions`, and a fake function process serving
    /// `function_name` with the given `timeout_seconds` (used for stall detection).
    pub async fn new(prefix: &str, function_name: &str, compositions: &[&str], timeout_seconds: i32) -> Result<Self> {
        Self::with_function_env(prefix, function_name, compositions, timeout_seconds, &[]).await
    }

    /// Like [`World::new`], with more environment for the fake function.
    pub async fn with_function_env(
        prefix: &str,
        function_name: &str,
        compositions: &[&str],
        timeout_seconds: i32,
        function_env: &[(&str, &str)],
    ) -> Result<Self> {
        Self::build(prefix, function_name, compositions, timeout_seconds, function_env, json!({})).await
    }

    /// Like [`World::with_function_env`], with `function_spec` merged into the RenderFunction's
    /// spec (e.g. its capacity).
    pub async fn build(
        prefix: &str,
        function_name: &str,
        compositions: &[&str],
        timeout_seconds: i32,
        function_env: &[(&str, &str)],
        function_spec: Value,
    ) -> Result<Self> {
        let env = TestEnv::get();
        let client = env.kube_client().await?;
        let namespace = env.unique_name(prefix);
        let bucket = env.s3().create_test_bucket(prefix).await?;
        let s3_endpoint = env.s3().endpoint.clone();
        let mut function_vars = vec![
            ("AWS_ENDPOINT_URL_S3", s3_endpoint.as_str()),
            ("AWS_ACCESS_KEY_ID", remotion_tests::s3::ACCESS_KEY),
            ("AWS_SECRET_ACCESS_KEY", remotion_tests::s3::SECRET_KEY),
            ("AWS_REGION", remotion_tests::s3::REGION),
        ];
        function_vars.extend_from_slice(function_env);
        let function = env.spawn_function(&fake_launch_function(), function_name, 2048, &function_vars)?;
        let world = Self {
            jobs: Api::namespaced(client.clone(), &namespace),
            client,
            namespace,
            bucket,
            _function: Some(function),
        };
        world.fixtures(function_name, compositions, timeout_seconds, function_spec).await?;
        Ok(world)
    }

    pub fn access(&self, endpoint: &str) -> Value {
        json!({"region": "us-east-1", "endpoint": endpoint, "credentials": {"secretRef": {"name": CREDENTIALS_SECRET}}})
    }

    /// Another namespace with its own bucket resource, site and RenderFunction, naming the same
    /// bucket and Lambda function as this world; `function_spec` is merged into the
    /// RenderFunction's spec.
    pub async fn neighbour(
        &self,
        prefix: &str,
        function_name: &str,
        compositions: &[&str],
        function_spec: Value,
    ) -> Result<Self> {
        let env = TestEnv::get();
        let namespace = env.unique_name(prefix);
        let world = Self {
            jobs: Api::namespaced(self.client.clone(), &namespace),
            client: self.client.clone(),
            namespace,
            bucket: self.bucket.clone(),
            _function: None,
        };
        world.fixtures(function_name, compositions, 60, function_spec).await?;
        Ok(world)
    }

    pub async fn fixtures(
        &self,
        function_name: &str,
        compositions: &[&str],
        timeout_seconds: i32,
        function_extra: Value,
    ) -> Result<()> {
        let env = TestEnv::get();
        let ready = json!([{"type": "Ready", "status": "True", "reason": "Fixture", "message": "",
            "lastTransitionTime": "2026-01-01T00:00:00Z", "observedGeneration": 1}]);
        let params = PatchParams::apply(FIXTURES).force();

        let mut bucket_spec = self.access(&env.s3().endpoint);
        bucket_spec["bucketName"] = json!(self.bucket);
        let buckets: Api<LambdaBucket> = Api::namespaced(self.client.clone(), &self.namespace);
        buckets
            .create(
                &PostParams::default(),
                &serde_json::from_value(json!({
            "apiVersion": "remotion-operator.io/v1alpha1", "kind": "LambdaBucket",
            "metadata": {"name": "bucket"}, "spec": bucket_spec}))?,
            )
            .await?;
        buckets
            .patch_status(
                "bucket",
                &params,
                &Patch::Apply(json!({
            "apiVersion": "remotion-operator.io/v1alpha1", "kind": "LambdaBucket",
            "status": {"observedGeneration": 1, "conditions": ready, "bucketName": self.bucket, "region": "us-east-1",
                "url": format!("{}/{}", env.s3().endpoint, self.bucket)}})),
            )
            .await?;

        let mut function_spec = self.access(&env.lambda().endpoint);
        function_spec["management"] = json!("Existing");
        function_spec["functionName"] = json!(function_name);
        function_spec["timeoutSeconds"] = json!(timeout_seconds);
        if let (Some(spec), Some(extra)) = (function_spec.as_object_mut(), function_extra.as_object()) {
            spec.extend(extra.clone());
        }
        let functions: Api<RenderFunction> = Api::namespaced(self.client.clone(), &self.namespace);
        functions
            .create(
                &PostParams::default(),
                &serde_json::from_value(json!({
            "apiVersion": "remotion-operator.io/v1alpha1", "kind": "RenderFunction",
            "metadata": {"name": "renderer"}, "spec": function_spec}))?,
            )
            .await?;
        functions
            .patch_status(
                "renderer",
                &params,
                &Patch::Apply(json!({
            "apiVersion": "remotion-operator.io/v1alpha1", "kind": "RenderFunction",
            "status": {"observedGeneration": 1, "conditions": ready, "functionName": function_name,
                "protocolVersion": PROTOCOL_VERSION, "memorySizeMb": 2048, "diskSizeMb": 2048,
                "timeoutSeconds": timeout_seconds, "architecture": "arm64"}})),
            )
            .await?;

        let sites: Api<RemotionSite> = Api::namespaced(self.client.clone(), &self.namespace);
        sites
            .create(
                &PostParams::default(),
                &serde_json::from_value(json!({
            "apiVersion": "remotion-operator.io/v1alpha1", "kind": "RemotionSite",
            "metadata": {"name": "site"},
            "spec": {"bucketRef": {"name": "bucket"}, "siteName": "fixture",
                "source": {"s3": {"bucket": self.bucket, "key": "bundle.zip"}}}}))?,
            )
            .await?;
        sites.patch_status("site", &params, &Patch::Apply(self.site_status(compositions, ready))).await?;
        Ok(())
    }

    /// The whole status the fixtures' manager applies to the site (server-side apply drops
    /// what an apply leaves out).
    pub fn site_status(&self, compositions: &[&str], conditions: Value) -> Value {
        let env = TestEnv::get();
        let listed: Vec<Value> = compositions
            .iter()
            .map(|id| json!({"id": id, "width": 640, "height": 360, "fps": 30.0, "durationInFrames": 300}))
            .collect();
        json!({
            "apiVersion": "remotion-operator.io/v1alpha1", "kind": "RemotionSite",
            "status": {"observedGeneration": 1, "conditions": conditions, "siteName": "fixture", "bucketName": self.bucket,
                "serveUrl": format!("{}/{}/sites/{}/fixture/index.html", env.s3().endpoint, self.bucket, self.namespace),
                "compositions": listed}})
    }

    pub async fn create_job(&self, name: &str, composition: &str, props: Value) -> Result<RenderJob> {
        self.create_job_with(name, composition, props, json!({}), json!({})).await
    }

    /// Like [`World::create_job`], with `extra` merged into the spec and `labels` on the job.
    pub async fn create_job_with(
        &self,
        name: &str,
        composition: &str,
        props: Value,
        extra: Value,
        labels: Value,
    ) -> Result<RenderJob> {
        let mut spec = json!({"siteRef": {"name": "site"}, "functionRef": {"name": "renderer"}, "composition": composition,
            "inputProps": props, "output": {"privacy": "private", "presignSeconds": 600}});
        if let (Some(spec), Some(extra)) = (spec.as_object_mut(), extra.as_object()) {
            spec.extend(extra.clone());
        }
        let job: RenderJob = serde_json::from_value(json!({
            "apiVersion": "remotion-operator.io/v1alpha1", "kind": "RenderJob",
            "metadata": {"name": name, "labels": labels}, "spec": spec}))?;
        Ok(self.jobs.create(&PostParams::default(), &job).await?)
    }

    pub async fn wait_phase(&self, name: &str, phase: RenderPhase) -> Result<RenderJob> {
        eventually(&format!("{name} phase {phase:?}"), WAIT, || async {
            let job = self.jobs.get(name).await?;
            Ok((job.status.as_ref().and_then(|s| s.phase) == Some(phase)).then_some(job))
        })
        .await
    }

    /// Launches the fake function received for the job's render.
    pub async fn launches(&self, job: &RenderJob) -> Result<usize> {
        let id = RenderId::from_uid(&job.uid().unwrap())?;
        let listed = TestEnv::get()
            .s3()
            .client()
            .await
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(format!("{}fake-launches/", keys::render_prefix(&id)))
            .send()
            .await?;
        Ok(listed.contents().len())
    }

    pub async fn events(&self, name: &str) -> Result<Vec<(String, String)>> {
        let events: Api<Event> = Api::namespaced(self.client.clone(), &self.namespace);
        Ok(events
            .list(&ListParams::default())
            .await?
            .items
            .into_iter()
            .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name))
            .map(|e| (e.type_.unwrap_or_default(), e.reason.unwrap_or_default()))
            .collect())
    }
}

pub fn condition(job: &RenderJob, type_: &str) -> (String, String, String) {
    let c = job.status.as_ref().and_then(|s| find_condition(&s.conditions, type_)).expect("condition present");
    (c.status.clone(), c.reason.clone(), c.message.clone())
}
