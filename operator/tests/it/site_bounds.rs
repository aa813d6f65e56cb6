//! The RemotionSite controller's bounded work, against the API server stand-in, SeaweedFS and
//! an HTTP server of the test's own that counts downloads: sites sync one at a time by default
//! (each holding scratch space only while it syncs), and a site whose sync failed is not
//! fetched again by a restarted operator before its `status.retry.nextAttemptAt`.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use anyhow::{Context as _, Result};
use bytes::Bytes;
use flate2::Compression;
use flate2::write::GzEncoder;
use http_body_util::Full;
use k8s_openapi::jiff::Timestamp;
use kube::Client;
use kube::api::{Api, Patch, PatchParams, PostParams};
use remotion_crds::common::find_condition;
use remotion_crds::lambda_bucket::DeletionPolicy;
use remotion_crds::remotion_site::SiteSource;
use remotion_crds::{
    AwsAccess, AwsCredentials, LambdaBucket, LambdaBucketSpec, LocalObjectRef, RemotionSite, RemotionSiteSpec,
};
use remotion_operator::aws::StaticSecrets;
use remotion_operator::controllers::remotion_site::SiteSettings;
use remotion_operator::controllers::{self, Context, Settings};
use remotion_operator::metrics::Metrics;
use remotion_operator::tenancy::TenancyPolicy;
use remotion_tests::TestEnv;
use sha2::{Digest, Sha256};
use tokio_util::sync::CancellationToken;

use crate::common::{CREDENTIALS_SECRET, eventually, test_secrets};

const WAIT: Duration = Duration::from_secs(90);
/// How long the test server takes to answer a download: long enough for two syncs allowed at
/// once to overlap.
const SLOW_ANSWER: Duration = Duration::from_millis(1500);

/// The LambdaBucket and RemotionSite controllers of one "operator process".
struct Operator {
    metrics: Arc<Metrics>,
    shutdown: CancellationToken,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Operator {
    fn start(client: Client, secrets: Arc<StaticSecrets>, namespace: &str, site: SiteSettings) -> Self {
        let metrics = Arc::new(Metrics::new());
        let ctx = Arc::new(
            Context::new(client, secrets, metrics.clone(), None).with_tenancy(TenancyPolicy::permissive_local()),
        );
        let settings = Settings::new(Some(namespace.to_owned()), 4);
        let shutdown = CancellationToken::new();
        let tasks = vec![
            tokio::spawn(controllers::lambda_bucket::run(ctx.clone(), settings.clone(), shutdown.clone())),
            tokio::spawn(controllers::remotion_site::run_with(ctx, settings, site, shutdown.clone())),
        ];
        Self { metrics, shutdown, tasks }
    }

    /// RemotionSite reconciles this operator ran.
    fn site_reconciles(&self) -> u64 {
        let needle = "remotion_operator_reconciles_total{controller=\"remotionsite\"} ";
        self.metrics.encode().lines().find_map(|l| l.strip_prefix(needle)?.trim().parse().ok()).unwrap_or(0)
    }

    async fn stop(self) -> Result<()> {
        self.shutdown.cancel();
        for task in self.tasks {
            tokio::time::timeout(Duration::from_secs(30), task).await.context("a controller did not stop")??;
        }
        Ok(())
    }
}

struct World {
    client: Client,
    namespace: String,
    secrets: Arc<StaticSecrets>,
    sites: Api<RemotionSite>,
}

/// A namespace with a LambdaBucket `bucket` over a fresh SeaweedFS bucket.
async fn world(prefix: &str) -> Result<World> {
    let env = TestEnv::get();
    let client = env.kube_client().await?;
    let namespace = env.unique_name(prefix);
    let secrets = test_secrets(&namespace);
    let bucket = env.s3().create_test_bucket(prefix).await?;
    let spec = LambdaBucketSpec {
        aws: AwsAccess {
            region: "us-east-1".into(),
            credentials: Some(AwsCredentials {
                secret_ref: Some(LocalObjectRef::new(CREDENTIALS_SECRET)),
                role_arn: None,
                external_id: None,
            }),
            endpoint: Some(env.s3().endpoint.clone()),
        },
        bucket_name: Some(bucket),
        deletion_policy: DeletionPolicy::Retain,
        expiry: None,
        public_outputs: false,
        tags: Default::default(),
    };
    Api::<LambdaBucket>::namespaced(client.clone(), &namespace)
        .create(&PostParams::default(), &LambdaBucket::new("bucket", spec))
        .await?;
    let sites = Api::namespaced(client.clone(), &namespace);
    Ok(World { client, namespace, secrets, sites })
}

fn url_site(name: &str, url: String, archive: &[u8]) -> RemotionSite {
    let source = SiteSource { url: Some(url), sha256: Some(sha256_hex(archive)), config_map_ref: None, s3: None };
    let spec =
        RemotionSiteSpec { bucket_ref: LocalObjectRef::new("bucket"), site_name: None, source, function_ref: None };
    RemotionSite::new(name, spec)
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// A bundle of two files; `marker` makes each one different.
fn bundle(marker: &str) -> Vec<u8> {
    let mut builder = tar::Builder::new(GzEncoder::new(Vec::new(), Compression::fast()));
    let files = [
        ("index.html", "<script>window.remotion_version = '4.0.1';</script>".to_owned()),
        ("bundle.js", format!("console.log('{marker}')")),
    ];
    for (name, content) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(content.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder.append_data(&mut header, name, content.as_bytes()).unwrap();
    }
    builder.into_inner().unwrap().finish().unwrap()
}

/// Waits until `Ready` is `status`/`reason` for the current generation.
async fn wait_ready(api: &Api<RemotionSite>, name: &str, status: &str, reason: &str) -> Result<RemotionSite> {
    eventually(&format!("{name} Ready={status}/{reason}"), WAIT, || async {
        let site = api.get(name).await?;
        let ready = site.status.as_ref().and_then(|s| find_condition(&s.conditions, "Ready"));
        let current = site.status.as_ref().and_then(|s| s.observed_generation) == site.metadata.generation;
        Ok((current && ready.is_some_and(|c| c.status == status && c.reason == reason)).then_some(site))
    })
    .await
}

/// Downloads served so far, and the most that were under way at once.
#[derive(Default)]
struct Downloads {
    by_path: std::sync::Mutex<HashMap<String, u32>>,
    in_flight: AtomicU32,
    most_at_once: AtomicU32,
}

impl Downloads {
    fn of(&self, path: &str) -> u32 {
        self.by_path.lock().unwrap().get(path).copied().unwrap_or(0)
    }
}

/// An HTTP server on 127.0.0.1 serving fixed bodies by path, each after `delay`.
struct SlowServer {
    addr: SocketAddr,
    downloads: Arc<Downloads>,
    task: tokio::task::JoinHandle<()>,
}

impl SlowServer {
    async fn start(files: HashMap<&str, Vec<u8>>, delay: Duration) -> Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let files: Arc<HashMap<String, Bytes>> =
            Arc::new(files.into_iter().map(|(k, v)| (k.to_owned(), Bytes::from(v))).collect());
        let downloads = Arc::new(Downloads::default());
        let counted = downloads.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else { continue };
                let (files, counted) = (files.clone(), counted.clone());
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                        let (files, counted) = (files.clone(), counted.clone());
                        async move {
                            let path = req.uri().path().to_owned();
                            *counted.by_path.lock().unwrap().entry(path.clone()).or_default() += 1;
                            let now = counted.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                            counted.most_at_once.fetch_max(now, Ordering::SeqCst);
                            tokio::time::sleep(delay).await;
                            counted.in_flight.fetch_sub(1, Ordering::SeqCst);
                            let found = files.get(&path).cloned();
                            let mut response = hyper::Response::new(Full::new(found.clone().unwrap_or_default()));
                            if found.is_none() {
                                *response.status_mut() = hyper::StatusCode::NOT_FOUND;
                            }
                            Ok::<_, Infallible>(response)
                        }
                    });
                    let io = hyper_util::rt::TokioIo::new(stream);
                    let _ = hyper::server::conn::http1::Builder::new().serve_connection(io, service).await;
                });
            }
        });
        Ok(Self { addr, downloads, task })
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

impl Drop for SlowServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The most sync folders seen at once under `root`, sampled every 10 ms until dropped.
struct ScratchWatch {
    most: Arc<AtomicU32>,
    task: tokio::task::JoinHandle<()>,
}

impl ScratchWatch {
    fn start(root: PathBuf) -> Self {
        let most = Arc::new(AtomicU32::new(0));
        let seen = most.clone();
        let task = tokio::spawn(async move {
            loop {
                let folders = std::fs::read_dir(&root).map(|d| d.count() as u32).unwrap_or(0);
                seen.fetch_max(folders, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        });
        Self { most, task }
    }

    fn most(&self) -> u32 {
        self.most.load(Ordering::SeqCst)
    }
}

impl Drop for ScratchWatch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Creates sites `names` at once, each from its own slow download, and waits until all are
/// Ready; returns the most downloads and scratch folders seen at once.
async fn sync_together(world: &World, names: &[&str], settings: SiteSettings, scratch: &Path) -> Result<(u32, u32)> {
    let archives: Vec<(String, Vec<u8>)> = names.iter().map(|n| (format!("/{n}.tgz"), bundle(n))).collect();
    let server =
        SlowServer::start(archives.iter().map(|(p, a)| (p.as_str(), a.clone())).collect(), SLOW_ANSWER).await?;
    let watch = ScratchWatch::start(scratch.to_path_buf());
    let operator = Operator::start(world.client.clone(), world.secrets.clone(), &world.namespace, settings);
    for (name, (path, archive)) in names.iter().zip(&archives) {
        world.sites.create(&PostParams::default(), &url_site(name, server.url(path), archive)).await?;
    }
    for name in names {
        wait_ready(&world.sites, name, "True", "Available").await?;
    }
    for (path, _) in &archives {
        assert_eq!(server.downloads.of(path), 1, "{path} downloaded more than once");
    }
    operator.stop().await?;
    Ok((server.downloads.most_at_once.load(Ordering::SeqCst), watch.most()))
}

#[tokio::test]
async fn sites_sync_one_at_a_time_by_default() -> Result<()> {
    let one = world("site-one-at-a-time").await?;
    let scratch = tempfile::tempdir()?;
    let settings = SiteSettings { scratch_dir: Some(scratch.path().to_path_buf()), ..SiteSettings::default() };
    assert_eq!(settings.scratch.syncs, 1, "the default");
    let (downloads, folders) = sync_together(&one, &["first", "second", "third"], settings, scratch.path()).await?;
    assert_eq!(downloads, 1, "downloads overlapped");
    assert_eq!(folders, 1, "more than one site held scratch space at once");

    // The same with two syncs allowed (in a namespace of their own, away from the sites above):
    // they do overlap, so the test can see it.
    let two = world("site-two-at-a-time").await?;
    let settings = SiteSettings {
        scratch_dir: Some(scratch.path().to_path_buf()),
        ..SiteSettings::for_scratch(2 << 30, 2).unwrap()
    };
    let (downloads, folders) = sync_together(&two, &["fourth", "fifth"], settings, scratch.path()).await?;
    assert_eq!(downloads, 2);
    assert!(folders <= 2, "{folders} scratch folders at once");
    Ok(())
}

#[tokio::test]
async fn a_failed_site_is_not_fetched_again_after_a_restart() -> Result<()> {
    let world = world("site-retry").await?;
    let bad = b"PLAIN TEXT, not an archive".to_vec();
    let good = bundle("good");
    let server =
        SlowServer::start(HashMap::from([("/bad.tgz", bad.clone()), ("/good.tgz", good.clone())]), Duration::ZERO)
            .await?;

    // The first operator fails the site (terminally: the archive itself is bad) and records
    // when to try again.
    let first = Operator::start(world.client.clone(), world.secrets.clone(), &world.namespace, SiteSettings::default());
    world.sites.create(&PostParams::default(), &url_site("broken", server.url("/bad.tgz"), &bad)).await?;
    let site = wait_ready(&world.sites, "broken", "False", "InvalidArchive").await?;
    let retry = eventually("the failure recorded", WAIT, || async {
        let site = world.sites.get("broken").await?;
        let retry = site.status.and_then(|s| s.retry);
        Ok(retry.filter(|r| r.next_attempt_at.0 > Timestamp::now() + Duration::from_secs(300)))
    })
    .await?;
    assert_eq!((retry.generation, retry.failures), (1, 1), "{retry:?} of {site:?}");
    assert_eq!(server.downloads.of("/bad.tgz"), 1);
    first.stop().await?;

    // A second operator, with nothing in memory, reconciles the site but does not fetch it.
    let second =
        Operator::start(world.client.clone(), world.secrets.clone(), &world.namespace, SiteSettings::default());
    eventually("the site reconciled by the second operator", WAIT, || async {
        Ok((second.site_reconciles() > 0).then_some(()))
    })
    .await?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(server.downloads.of("/bad.tgz"), 1, "fetched again before nextAttemptAt");
    let site = world.sites.get("broken").await?;
    assert_eq!(site.status.as_ref().and_then(|s| s.retry.clone()), Some(retry));
    assert_eq!(
        site.status.as_ref().and_then(|s| find_condition(&s.conditions, "Ready")).map(|c| c.reason.clone()),
        Some("InvalidArchive".to_owned())
    );

    // A new spec is tried at once, and its success clears the record.
    let patch = serde_json::json!({"spec": {"source": {"url": server.url("/good.tgz"), "sha256": sha256_hex(&good)}}});
    world.sites.patch("broken", &PatchParams::default(), &Patch::Merge(&patch)).await?;
    let site = wait_ready(&world.sites, "broken", "True", "Available").await?;
    assert_eq!(site.status.as_ref().and_then(|s| s.retry.clone()), None);
    assert_eq!(server.downloads.of("/good.tgz"), 1);
    assert_eq!(server.downloads.of("/bad.tgz"), 1);
    second.stop().await
}
