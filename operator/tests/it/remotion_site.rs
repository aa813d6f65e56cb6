//! RemotionSite controller against the real API server stand-in, SeaweedFS and a local HTTP
//! server: the fixture bundle uploaded from a URL, then from S3 (nothing changed: nothing
//! uploaded), then a smaller bundle from a ConfigMap (changes uploaded, stale files deleted),
//! the finalizer emptying the prefix; bad archives ending in a terminal condition with no file
//! written (only the folder's owner marker); compositions listed by the real render function
//! under cargo-lambda.

use std::collections::HashMap;
use std::convert::Infallible;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use crate::common::{CREDENTIALS_SECRET, eventually, test_secrets};
use anyhow::{Context as _, Result};
use bytes::Bytes;
use flate2::Compression;
use flate2::write::GzEncoder;
use http_body_util::Full;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::{Client, ResourceExt};
use remotion_crds::common::find_condition;
use remotion_crds::lambda_bucket::DeletionPolicy;
use remotion_crds::remotion_site::{S3ObjectRef, SiteSource};
use remotion_crds::render_function::{Architecture, FunctionManagement};
use remotion_crds::{
    AwsAccess, AwsCredentials, KeyRef, LambdaBucket, LambdaBucketSpec, LocalObjectRef, RemotionSite, RemotionSiteSpec,
    RenderFunction, RenderFunctionSpec,
};
use remotion_operator::aws::{ObjectData, StaticSecrets};
use remotion_operator::controllers::remotion_site::SiteSettings;
use remotion_operator::controllers::remotion_site::archive::UnpackLimits;
use remotion_operator::controllers::remotion_site::fetch::FetchLimits;
use remotion_operator::controllers::{self, Context, Settings};
use remotion_operator::metrics::Metrics;
use remotion_operator::reconcile::FINALIZER;
use remotion_operator::tenancy::TenancyPolicy;
use remotion_tests::TestEnv;
use sha2::{Digest, Sha256};
use tokio_util::sync::CancellationToken;

const WAIT: Duration = Duration::from_secs(90);

/// Limits small enough to trip with small archives, large enough for the fixture bundle
/// (~60 files, largest 6.9 MB).
fn test_settings() -> SiteSettings {
    SiteSettings {
        fetch: FetchLimits { attempts: 2, first_backoff: Duration::from_millis(100), ..FetchLimits::default() },
        unpack: UnpackLimits { max_file_bytes: 16 << 20, max_total_bytes: 64 << 20, max_files: 500 },
        ..SiteSettings::default()
    }
}

/// The LambdaBucket, RenderFunction and RemotionSite controllers of this process, watching one
/// namespace.
struct Controllers {
    shutdown: CancellationToken,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Controllers {
    fn start(client: Client, secrets: Arc<StaticSecrets>, namespace: &str) -> Self {
        let ctx = Arc::new(
            Context::new(client, secrets, Arc::new(Metrics::new()), None)
                .with_tenancy(TenancyPolicy::permissive_local()),
        );
        let settings = Settings::new(Some(namespace.to_owned()), 4);
        let shutdown = CancellationToken::new();
        let tasks = vec![
            tokio::spawn(controllers::lambda_bucket::run(ctx.clone(), settings.clone(), shutdown.clone())),
            tokio::spawn(controllers::render_function::run(ctx.clone(), settings.clone(), shutdown.clone())),
            tokio::spawn(controllers::remotion_site::run_with(ctx, settings, test_settings(), shutdown.clone())),
        ];
        Self { shutdown, tasks }
    }

    async fn stop(self) -> Result<()> {
        self.shutdown.cancel();
        for task in self.tasks {
            tokio::time::timeout(Duration::from_secs(30), task).await.context("a controller did not stop")??;
        }
        Ok(())
    }
}

struct Setup {
    namespace: String,
    secrets: Arc<StaticSecrets>,
    sites: Api<RemotionSite>,
    s3: aws_sdk_s3::Client,
    bucket: String,
    controllers: Controllers,
}

fn aws(endpoint: &str) -> AwsAccess {
    AwsAccess {
        region: "us-east-1".into(),
        credentials: Some(AwsCredentials {
            secret_ref: Some(LocalObjectRef::new(CREDENTIALS_SECRET)),
            role_arn: None,
            external_id: None,
        }),
        endpoint: Some(endpoint.to_owned()),
    }
}

/// A namespace with a Ready LambdaBucket `bucket` over a fresh SeaweedFS bucket.
async fn setup(prefix: &str) -> Result<Setup> {
    let env = TestEnv::get();
    let client = env.kube_client().await?;
    let namespace = env.unique_name(prefix);
    let secrets = test_secrets(&namespace);
    let s3 = env.s3().client().await;
    let bucket = env.s3().create_test_bucket(prefix).await?;
    let controllers = Controllers::start(client.clone(), secrets.clone(), &namespace);
    let buckets: Api<LambdaBucket> = Api::namespaced(client.clone(), &namespace);
    let spec = LambdaBucketSpec {
        aws: aws(&env.s3().endpoint),
        bucket_name: Some(bucket.clone()),
        deletion_policy: DeletionPolicy::Retain,
        expiry: None,
        public_outputs: false,
        tags: Default::default(),
    };
    buckets.create(&PostParams::default(), &LambdaBucket::new("bucket", spec)).await?;
    let sites = Api::namespaced(client, &namespace);
    Ok(Setup { namespace, secrets, sites, s3, bucket, controllers })
}

fn site_spec(source: SiteSource) -> RemotionSiteSpec {
    RemotionSiteSpec { bucket_ref: LocalObjectRef::new("bucket"), site_name: None, source, function_ref: None }
}

fn url_source(url: String, sha256: String) -> SiteSource {
    SiteSource { url: Some(url), sha256: Some(sha256), config_map_ref: None, s3: None }
}

fn config_map_source(name: &str, key: &str) -> SiteSource {
    SiteSource {
        url: None,
        sha256: None,
        config_map_ref: Some(KeyRef { name: name.into(), key: key.into() }),
        s3: None,
    }
}

/// Waits until `Ready` is `status` with `reason` for the current generation.
pub async fn wait_ready(api: &Api<RemotionSite>, name: &str, status: &str, reason: &str) -> Result<RemotionSite> {
    eventually(&format!("{name} Ready={status}/{reason}"), WAIT, || async {
        let site = api.get(name).await?;
        let ready = site.status.as_ref().and_then(|s| find_condition(&s.conditions, "Ready"));
        let observed = site.status.as_ref().and_then(|s| s.observed_generation);
        let done =
            ready.is_some_and(|c| c.status == status && c.reason == reason) && observed == site.metadata.generation;
        Ok(done.then_some(site))
    })
    .await
}

pub fn ready_message(site: &RemotionSite) -> String {
    site.status
        .as_ref()
        .and_then(|s| find_condition(&s.conditions, "Ready"))
        .map(|c| c.message.clone())
        .unwrap_or_default()
}

/// Keys under `prefix`, sorted.
pub async fn keys_under(s3: &aws_sdk_s3::Client, bucket: &str, prefix: &str) -> Result<Vec<String>> {
    let listed = s3.list_objects_v2().bucket(bucket).prefix(prefix).max_keys(1000).send().await?;
    let mut keys: Vec<String> = listed.contents().iter().filter_map(|o| o.key().map(str::to_owned)).collect();
    keys.sort();
    Ok(keys)
}

/// The fixture bundle (`remotion bundle` output), made by `tests/fixtures/remotion-project/build.sh`.
fn fixture_bundle() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/remotion-project/build");
    assert!(
        dir.join("index.html").is_file(),
        "{} is missing: run tests/fixtures/remotion-project/build.sh",
        dir.display()
    );
    dir
}

/// Relative paths of every file under `root`.
fn files_under(root: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                found.push(path.strip_prefix(root).unwrap().to_string_lossy().into_owned());
            }
        }
    }
    found.sort();
    found
}

/// `tar czf` of `dir` under the top-level folder `build/`.
fn tar_gz_dir(dir: &Path) -> Vec<u8> {
    let mut builder = tar::Builder::new(GzEncoder::new(Vec::new(), Compression::fast()));
    builder.append_dir_all("build", dir).unwrap();
    builder.into_inner().unwrap().finish().unwrap()
}

/// A tar entry written with its name as given (tar's builder refuses the unsafe ones).
enum Entry<'a> {
    File(&'a str, Vec<u8>),
    Symlink(&'a str, &'a str),
}

fn tar_gz(entries: &[Entry<'_>]) -> Vec<u8> {
    let mut builder = tar::Builder::new(GzEncoder::new(Vec::new(), Compression::fast()));
    for entry in entries {
        let (name, kind, data, link) = match entry {
            Entry::File(name, data) => (*name, tar::EntryType::Regular, data.as_slice(), ""),
            Entry::Symlink(name, target) => (*name, tar::EntryType::Symlink, &[][..], *target),
        };
        let mut header = tar::Header::new_gnu();
        let gnu = header.as_gnu_mut().unwrap();
        gnu.name[..name.len()].copy_from_slice(name.as_bytes());
        gnu.linkname[..link.len()].copy_from_slice(link.as_bytes());
        header.set_entry_type(kind);
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder.append(&header, data).unwrap();
    }
    builder.into_inner().unwrap().finish().unwrap()
}

/// A minimal bundle plus `extra`.
fn small_bundle(extra: Vec<Entry<'static>>) -> Vec<u8> {
    let mut entries = vec![
        Entry::File("index.html", b"<script>window.remotion_version = '4.0.1';</script>".to_vec()),
        Entry::File("bundle.js", b"console.log('v2')".to_vec()),
    ];
    entries.extend(extra);
    tar_gz(&entries)
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// An HTTP server on 127.0.0.1 serving fixed bodies by path, counting requests.
struct FileServer {
    addr: SocketAddr,
    requests: Arc<AtomicU32>,
    task: tokio::task::JoinHandle<()>,
}

impl FileServer {
    async fn start(files: HashMap<String, Vec<u8>>) -> Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let files: Arc<HashMap<String, Bytes>> =
            Arc::new(files.into_iter().map(|(k, v)| (k, Bytes::from(v))).collect());
        let requests = Arc::new(AtomicU32::new(0));
        let counter = requests.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else { continue };
                let (files, counter) = (files.clone(), counter.clone());
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                        counter.fetch_add(1, Ordering::Relaxed);
                        let found = files.get(req.uri().path()).cloned();
                        async move {
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
        Ok(Self { addr, requests, task })
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

impl Drop for FileServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[tokio::test]
async fn a_bundle_syncs_from_url_then_s3_then_config_map_and_the_finalizer_removes_it() -> Result<()> {
    let setup = setup("site-sync").await?;
    let bundle_dir = fixture_bundle();
    let fixture_files = files_under(&bundle_dir);
    let archive = tar_gz_dir(&bundle_dir);
    let digest = sha256_hex(&archive);
    let server = FileServer::start(HashMap::from([("/site.tgz".to_owned(), archive.clone())])).await?;

    // 1. From a URL: everything uploaded, with the right headers.
    let spec = site_spec(url_source(server.url("/site.tgz"), digest.clone()));
    setup.sites.create(&PostParams::default(), &RemotionSite::new("demo", spec)).await?;
    let site = wait_ready(&setup.sites, "demo", "True", "Available").await?;
    let status = site.status.clone().unwrap();
    let n = fixture_files.len() as i64;
    assert_eq!(status.files, Some(n));
    assert_eq!(status.uploaded, Some(n));
    assert_eq!((status.deleted, status.unchanged), (Some(0), Some(0)));
    let total: u64 = fixture_files.iter().map(|f| std::fs::metadata(bundle_dir.join(f)).unwrap().len()).sum();
    assert_eq!(status.bytes, Some(total as i64));
    assert_eq!(status.remotion_version.as_deref(), Some("4.0.529"));
    assert_eq!(status.site_name.as_deref(), Some("demo"));
    assert_eq!(status.bucket_name.as_deref(), Some(setup.bucket.as_str()));
    let endpoint = &TestEnv::get().s3().endpoint;
    let folder = format!("sites/{}/demo/", setup.namespace);
    assert_eq!(status.serve_url, Some(format!("{endpoint}/{}/{folder}index.html", setup.bucket)));
    let content_hash = status.content_hash.clone().unwrap();
    assert_eq!(content_hash.len(), 64);
    assert!(site.finalizers().contains(&FINALIZER.to_owned()));
    // The bundle's files and the folder's owner marker (sorted first).
    let marker = format!("{folder}.remotion-operator-owner.json");
    let expected: Vec<String> =
        std::iter::once(marker.clone()).chain(fixture_files.iter().map(|f| format!("{folder}{f}"))).collect();
    assert_eq!(keys_under(&setup.s3, &setup.bucket, &folder).await?, expected);
    let index = setup.s3.head_object().bucket(&setup.bucket).key(format!("{folder}index.html")).send().await?;
    assert_eq!(index.content_type(), Some("text/html; charset=utf-8"));
    assert_eq!(index.cache_control(), Some("no-cache"));
    let index_bytes = std::fs::read(bundle_dir.join("index.html"))?;
    assert_eq!(index.metadata().and_then(|m| m.get("sha256")), Some(&sha256_hex(&index_bytes)));
    let js = setup.s3.head_object().bucket(&setup.bucket).key(format!("{folder}bundle.js")).send().await?;
    assert_eq!(js.content_type(), Some("application/javascript; charset=utf-8"));
    let wav = setup.s3.head_object().bucket(&setup.bucket).key(format!("{folder}public/tone.wav")).send().await?;
    assert_eq!(wav.content_type(), Some("audio/wav"));
    // The digest pins the URL's content: our own status writes do not make it download again.
    let downloads = server.requests.load(Ordering::Relaxed);
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(server.requests.load(Ordering::Relaxed), downloads, "a pinned URL was fetched again");

    // 2. The same archive from S3: a new generation syncs again and uploads nothing.
    let source_bucket = TestEnv::get().s3().create_test_bucket("site-source").await?;
    setup.s3.put_object().bucket(&source_bucket).key("archives/site.tgz").body(archive.clone().into()).send().await?;
    let s3_source = SiteSource {
        url: None,
        sha256: Some(digest.clone()),
        config_map_ref: None,
        s3: Some(S3ObjectRef { bucket: source_bucket.clone(), key: "archives/site.tgz".into() }),
    };
    let patch = serde_json::json!({"spec": {"source": s3_source}});
    // A merge patch cannot drop `url` by leaving it out: set it to null.
    let mut patch = patch;
    patch["spec"]["source"]["url"] = serde_json::Value::Null;
    setup.sites.patch("demo", &PatchParams::default(), &Patch::Merge(&patch)).await?;
    let site = eventually("demo synced from S3", WAIT, || async {
        let site = wait_ready(&setup.sites, "demo", "True", "Available").await?;
        Ok((site.metadata.generation == Some(2)).then_some(site))
    })
    .await?;
    let status = site.status.unwrap();
    assert_eq!((status.uploaded, status.deleted, status.unchanged), (Some(0), Some(0), Some(n)), "{status:?}");
    assert_eq!(status.content_hash.as_deref(), Some(content_hash.as_str()));

    // 3. A smaller bundle from a ConfigMap: its two files (both changed) uploaded, the rest deleted.
    let small = small_bundle(vec![]);
    setup.secrets.put_config_map(
        &setup.namespace,
        "small-site",
        ObjectData {
            resource_version: "1".into(),
            data: [("site.tgz".to_owned(), small)].into(),
            ..Default::default()
        },
    );
    let patch = serde_json::json!({"spec": {"source": {"s3": null, "sha256": null, "configMapRef": {"name": "small-site", "key": "site.tgz"}}}});
    setup.sites.patch("demo", &PatchParams::default(), &Patch::Merge(&patch)).await?;
    let site = eventually("demo synced from the ConfigMap", WAIT, || async {
        let site = wait_ready(&setup.sites, "demo", "True", "Available").await?;
        Ok((site.metadata.generation == Some(3)).then_some(site))
    })
    .await?;
    let status = site.status.unwrap();
    assert_eq!(
        (status.files, status.uploaded, status.deleted, status.unchanged),
        (Some(2), Some(2), Some(n - 2), Some(0))
    );
    assert_eq!(status.remotion_version.as_deref(), Some("4.0.1"));
    assert_ne!(status.content_hash.as_deref(), Some(content_hash.as_str()));
    assert_eq!(
        keys_under(&setup.s3, &setup.bucket, &folder).await?,
        [marker.clone(), format!("{folder}bundle.js"), format!("{folder}index.html")]
    );

    // 4. Deleting the site empties its prefix, then the object goes.
    setup.sites.delete("demo", &DeleteParams::default()).await?;
    eventually("demo deleted", WAIT, || async { Ok(setup.sites.get_opt("demo").await?.is_none().then_some(())) })
        .await?;
    assert!(keys_under(&setup.s3, &setup.bucket, &folder).await?.is_empty());
    setup.controllers.stop().await
}

#[tokio::test]
async fn bad_archives_end_in_a_terminal_condition_and_write_nothing() -> Result<()> {
    let setup = setup("site-bad").await?;
    let good = small_bundle(vec![]);
    let server = FileServer::start(HashMap::from([("/good.tgz".to_owned(), good.clone())])).await?;
    let many: Vec<Entry<'static>> =
        (0..501).map(|i| Entry::File(Box::leak(format!("public/{i}.txt").into_boxed_str()), b"x".to_vec())).collect();
    // (name, archive in a ConfigMap, expected reason, text the message must contain)
    let cases: Vec<(&str, Vec<u8>, &str, &str)> = vec![
        (
            "traversal",
            small_bundle(vec![Entry::File("../escape.js", b"x".to_vec())]),
            "UnsafeArchiveEntry",
            "\"../escape.js\" contains a '..'",
        ),
        (
            "absolute",
            small_bundle(vec![Entry::File("/etc/cron.d/x", b"x".to_vec())]),
            "UnsafeArchiveEntry",
            "\"/etc/cron.d/x\" has an absolute path",
        ),
        (
            "symlink",
            small_bundle(vec![Entry::Symlink("public/key", "/var/run/secrets/token")]),
            "UnsafeArchiveEntry",
            "\"public/key\" is a symlink",
        ),
        (
            "oversize",
            small_bundle(vec![Entry::File("public/huge.bin", vec![0; (16 << 20) + 1])]),
            "ArchiveTooLarge",
            "\"public/huge.bin\" is larger than the per-file limit",
        ),
        ("too-many", small_bundle(many), "ArchiveTooLarge", "more than 500 files"),
        (
            "not-a-bundle",
            tar_gz(&[Entry::File("index.html", b"<html>".to_vec())]),
            "NotARemotionBundle",
            "no bundle.js",
        ),
        ("not-an-archive", b"PLAIN TEXT".to_vec(), "InvalidArchive", "neither a .tar.gz nor a .zip"),
    ];
    for (name, archive, _, _) in &cases {
        setup.secrets.put_config_map(
            &setup.namespace,
            name,
            ObjectData {
                resource_version: "1".into(),
                data: [("site.tgz".to_owned(), archive.clone())].into(),
                ..Default::default()
            },
        );
        let site = RemotionSite::new(name, site_spec(config_map_source(name, "site.tgz")));
        setup.sites.create(&PostParams::default(), &site).await?;
    }
    // A good archive behind a wrong digest.
    let wrong = "0".repeat(64);
    let site = RemotionSite::new("digest", site_spec(url_source(server.url("/good.tgz"), wrong.clone())));
    setup.sites.create(&PostParams::default(), &site).await?;

    let mut expectations: Vec<(&str, &str, String)> =
        cases.iter().map(|(name, _, reason, text)| (*name, *reason, (*text).to_owned())).collect();
    expectations.push(("digest", "DigestMismatch", format!("the archive's SHA-256 is {}", sha256_hex(&good))));
    for (name, reason, text) in expectations {
        let site = wait_ready(&setup.sites, name, "False", reason).await?;
        let message = ready_message(&site);
        assert!(message.contains(&text), "{name}: {message:?} should contain {text:?}");
        assert!(message.contains("nothing was uploaded"), "{name}: {message}");
        assert_eq!(site.status.as_ref().and_then(|s| s.files), None, "{name}");
    }
    // Each site claimed its folder (its owner marker), and no file of a bad archive was written.
    let written = keys_under(&setup.s3, &setup.bucket, "").await?;
    assert!(written.iter().all(|k| k.ends_with("/.remotion-operator-owner.json")), "a bad archive wrote: {written:?}");

    // Fixing the digest fixes the site.
    let patch = serde_json::json!({"spec": {"source": {"sha256": sha256_hex(&good)}}});
    setup.sites.patch("digest", &PatchParams::default(), &Patch::Merge(&patch)).await?;
    let site = wait_ready(&setup.sites, "digest", "True", "Available").await?;
    assert_eq!(site.status.unwrap().files, Some(2));
    setup.controllers.stop().await
}

#[tokio::test]
async fn a_site_waits_for_its_bucket() -> Result<()> {
    let env = TestEnv::get();
    let client = env.kube_client().await?;
    let namespace = env.unique_name("site-wait");
    let secrets = test_secrets(&namespace);
    let controllers = Controllers::start(client.clone(), secrets.clone(), &namespace);
    let sites: Api<RemotionSite> = Api::namespaced(client.clone(), &namespace);
    secrets.put_config_map(
        &namespace,
        "site",
        ObjectData {
            resource_version: "1".into(),
            data: [("a.tgz".to_owned(), small_bundle(vec![]))].into(),
            ..Default::default()
        },
    );
    sites
        .create(&PostParams::default(), &RemotionSite::new("early", site_spec(config_map_source("site", "a.tgz"))))
        .await?;
    let site = wait_ready(&sites, "early", "False", "BucketNotFound").await?;
    assert!(ready_message(&site).contains("LambdaBucket bucket does not exist"));

    // The bucket's arrival wakes the site (a watch, not the one-minute re-check).
    let bucket = env.s3().create_test_bucket("site-wait").await?;
    let spec = LambdaBucketSpec {
        aws: aws(&env.s3().endpoint),
        bucket_name: Some(bucket.clone()),
        deletion_policy: DeletionPolicy::Retain,
        expiry: None,
        public_outputs: false,
        tags: Default::default(),
    };
    let buckets: Api<LambdaBucket> = Api::namespaced(client, &namespace);
    buckets.create(&PostParams::default(), &LambdaBucket::new("bucket", spec)).await?;
    let started = std::time::Instant::now();
    wait_ready(&sites, "early", "True", "Available").await?;
    assert!(started.elapsed() < Duration::from_secs(45), "took {:?}", started.elapsed());
    controllers.stop().await
}

/// The render function binary, built into the shared target folder by the function's tests
/// (`cargo build -p remotion-function`).
fn render_function_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    let binary = exe.parent().and_then(Path::parent).expect("target/<profile>/deps").join("remotion-function");
    assert!(binary.is_file(), "{} is missing: run `cargo build -p remotion-function` first", binary.display());
    binary
}

#[tokio::test]
async fn compositions_are_listed_through_the_render_function() -> Result<()> {
    const FUNCTION: &str = "test-fn-25";
    let env = TestEnv::get();
    let setup = setup("site-compositions").await?;
    let endpoint = env.s3().endpoint.clone();
    let vars = [
        ("AWS_ACCESS_KEY_ID", remotion_tests::s3::ACCESS_KEY),
        ("AWS_SECRET_ACCESS_KEY", remotion_tests::s3::SECRET_KEY),
        ("AWS_REGION", remotion_tests::s3::REGION),
        ("AWS_ENDPOINT_URL_S3", endpoint.as_str()),
    ];
    let mut process = env.spawn_function(&render_function_binary(), FUNCTION, 2048, &vars)?;
    let functions: Api<RenderFunction> = Api::namespaced(env.kube_client().await?, &setup.namespace);
    let spec = RenderFunctionSpec {
        aws: aws(&env.lambda().endpoint),
        management: FunctionManagement::Existing,
        function_name: Some(FUNCTION.into()),
        image: None,
        role_arn: None,
        memory_size_mb: 2048,
        disk_size_mb: 10240,
        timeout_seconds: 900,
        architecture: Architecture::X86_64,
        env: Default::default(),
        tags: Default::default(),
        max_concurrent_invocations: None,
        max_renders_per_namespace: None,
    };
    functions.create(&PostParams::default(), &RenderFunction::new("renderer", spec)).await?;

    let archive = tar_gz_dir(&fixture_bundle());
    let mut file = tempfile::NamedTempFile::new()?;
    file.write_all(&archive)?;
    let server = FileServer::start(HashMap::from([("/site.tgz".to_owned(), archive.clone())])).await?;
    let mut spec = site_spec(url_source(server.url("/site.tgz"), sha256_hex(&archive)));
    spec.function_ref = Some(LocalObjectRef::new("renderer"));
    setup.sites.create(&PostParams::default(), &RemotionSite::new("listed", spec)).await?;
    let site = eventually("compositions listed", Duration::from_secs(180), || async {
        let site = setup.sites.get("listed").await?;
        let ready = site.status.as_ref().and_then(|s| find_condition(&s.conditions, "Ready")).map(|c| c.status.clone());
        Ok((ready.as_deref() == Some("True")).then_some(site))
    })
    .await?;
    let compositions = site.status.unwrap().compositions;
    let intro = compositions.iter().find(|c| c.id == "Intro").context("no Intro composition")?;
    assert_eq!((intro.width, intro.height), (1920, 1080));
    for id in ["Still", "WithAudio", "Tiny"] {
        assert!(compositions.iter().any(|c| c.id == id), "{id} missing from {compositions:?}");
    }
    process.check_alive("render function")?;
    setup.controllers.stop().await
}

/// The oldest Remotion release under test bundled the fixture's core compositions here
/// (`tests/fixtures/remotion-versions/build.sh`).
fn oldest_release_bundle() -> PathBuf {
    let version = remotion_protocol::remotion_version::OLDEST_TESTED;
    let dir =
        Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../tests/fixtures/remotion-versions/{version}/build"));
    assert!(
        dir.join("index.html").is_file(),
        "{} is missing: run tests/fixtures/remotion-versions/build.sh",
        dir.display()
    );
    dir
}

/// `dir` copied to a temporary folder with `from` replaced by `to` in `file`.
fn patched_bundle(dir: &Path, file: &str, from: &str, to: &str) -> tempfile::TempDir {
    let copy = tempfile::tempdir().unwrap();
    for relative in files_under(dir) {
        let target = copy.path().join(&relative);
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::copy(dir.join(&relative), &target).unwrap();
    }
    let path = copy.path().join(file);
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(text.matches(from).count(), 1, "{from:?} once in {file}");
    std::fs::write(&path, text.replace(from, to)).unwrap();
    copy
}

fn remotion_version_condition(site: &RemotionSite) -> Option<(String, String, String)> {
    let status = site.status.as_ref()?;
    let c = find_condition(&status.conditions, "RemotionVersion")?;
    Some((c.status.clone(), c.reason.clone(), c.message.clone()))
}

#[tokio::test]
async fn remotion_releases_are_judged_from_the_bundle_and_another_page_protocol_is_refused() -> Result<()> {
    let setup = setup("site-versions").await?;
    let oldest = oldest_release_bundle();
    // The older release sets its page protocol and version from bundle.js, not index.html.
    let incompatible =
        patched_bundle(&oldest, "bundle.js", "window.siteVersion = \"11\"", "window.siteVersion = \"10\"");
    let untested_html =
        "<script>window.siteVersion = '11';</script><script>window.remotion_version = '4.0.600';</script>";
    let untested = tar_gz(&[
        Entry::File("index.html", untested_html.as_bytes().to_vec()),
        Entry::File("bundle.js", b"console.log('x')".to_vec()),
    ]);
    for (name, archive) in
        [("oldest", tar_gz_dir(&oldest)), ("incompatible", tar_gz_dir(incompatible.path())), ("untested", untested)]
    {
        setup.secrets.put_config_map(
            &setup.namespace,
            name,
            ObjectData {
                resource_version: "1".into(),
                data: [("site.tgz".to_owned(), archive)].into(),
                ..Default::default()
            },
        );
        let site = RemotionSite::new(name, site_spec(config_map_source(name, "site.tgz")));
        setup.sites.create(&PostParams::default(), &site).await?;
    }

    // Within the tested range.
    let site = wait_ready(&setup.sites, "oldest", "True", "Available").await?;
    assert_eq!(site.status.as_ref().unwrap().remotion_version.as_deref(), Some("4.0.150"));
    let (state, reason, message) = remotion_version_condition(&site).expect("a RemotionVersion condition");
    assert_eq!((state.as_str(), reason.as_str()), ("True", "RemotionVersionTested"), "{message}");
    assert!(message.contains("4.0.150"), "{message}");

    // Another page protocol: refused, both versions named, nothing uploaded.
    let site = wait_ready(&setup.sites, "incompatible", "False", "IncompatibleRemotionVersion").await?;
    let message = ready_message(&site);
    for text in ["Remotion 4.0.150", "page protocol \"10\"", "page protocol \"11\"", "nothing was uploaded"] {
        assert!(message.contains(text), "{message:?} should contain {text:?}");
    }
    let prefix = format!("sites/{}/incompatible/", setup.namespace);
    let written = keys_under(&setup.s3, &setup.bucket, &prefix).await?;
    assert!(written.iter().all(|k| k.ends_with("/.remotion-operator-owner.json")), "written: {written:?}");

    // Outside the tested range: uploaded and usable, with a False condition and a Warning Event.
    let site = wait_ready(&setup.sites, "untested", "True", "Available").await?;
    let (state, reason, message) = remotion_version_condition(&site).expect("a RemotionVersion condition");
    assert_eq!((state.as_str(), reason.as_str()), ("False", "RemotionVersionUntested"), "{message}");
    assert!(message.contains("4.0.600") && message.contains("4.0.150 to 4.0.529"), "{message}");
    let client = TestEnv::get().kube_client().await?;
    let events: Api<k8s_openapi::api::events::v1::Event> = Api::namespaced(client, &setup.namespace);
    let warned = eventually("a Warning Event for the untested release", WAIT, || async {
        let listed = events.list(&Default::default()).await?;
        Ok(listed.items.into_iter().find(|e| {
            e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some("untested")
                && e.reason.as_deref() == Some("RemotionVersionUntested")
        }))
    })
    .await?;
    assert_eq!(warned.type_.as_deref(), Some("Warning"));
    assert!(warned.note.unwrap_or_default().contains("4.0.600"));
    setup.controllers.stop().await
}
