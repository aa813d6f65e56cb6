//! Running the operator's controllers in-process against the harness's stand-ins.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use kube::Client;
use remotion_operator::aws::{ObjectData, SecretSource, StaticSecrets};
use remotion_operator::controllers::{self, Context, Settings};
use remotion_operator::http::{self, HttpState, Readiness};
use remotion_operator::metrics::Metrics;
use remotion_operator::tenancy::TenancyPolicy;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Name of the credentials Secret the tests reference.
pub const CREDENTIALS_SECRET: &str = "aws-credentials";

/// Secrets holding the harness's S3 test identity as `CREDENTIALS_SECRET` in `namespace`.
pub fn test_secrets(namespace: &str) -> Arc<StaticSecrets> {
    test_secrets_in(&[namespace])
}

/// [`test_secrets`] in each of `namespaces`.
pub fn test_secrets_in(namespaces: &[&str]) -> Arc<StaticSecrets> {
    let secrets = Arc::new(StaticSecrets::default());
    for namespace in namespaces {
        secrets.put_secret(
            namespace,
            CREDENTIALS_SECRET,
            ObjectData {
                resource_version: "1".into(),
                data: [
                    ("AWS_ACCESS_KEY_ID".to_owned(), remotion_tests::s3::ACCESS_KEY.as_bytes().to_vec()),
                    ("AWS_SECRET_ACCESS_KEY".to_owned(), remotion_tests::s3::SECRET_KEY.as_bytes().to_vec()),
                ]
                .into(),
                ..Default::default()
            },
        );
    }
    secrets
}

/// The operator running in this process: controllers plus its HTTP server.
pub struct Operator {
    /// Address of /health, /ready, /metrics.
    pub http: SocketAddr,
    /// Its metrics.
    pub metrics: Arc<Metrics>,
    shutdown: CancellationToken,
    controllers: JoinHandle<Result<(), controllers::RunError>>,
}

impl Operator {
    /// Starts the controllers watching `namespace` (so tests do not see each other's objects).
    pub async fn start(client: Client, secrets: Arc<dyn SecretSource>, namespace: &str) -> Result<Self> {
        Self::start_with(client, namespace, |client, metrics| {
            Context::new(client, secrets, metrics, None).with_tenancy(TenancyPolicy::permissive_local())
        })
        .await
    }

    /// Starts with a context built by `context` (to replace parts with fakes).
    pub async fn start_with(
        client: Client,
        namespace: &str,
        context: impl FnOnce(Client, Arc<Metrics>) -> Context,
    ) -> Result<Self> {
        let metrics = Arc::new(Metrics::new());
        let readiness = Readiness::default();
        let shutdown = CancellationToken::new();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let http = listener.local_addr()?;
        tokio::spawn(http::serve(
            listener,
            HttpState { metrics: metrics.clone(), readiness: readiness.clone() },
            shutdown.clone(),
        ));
        let ctx = Arc::new(context(client, metrics.clone()));
        let settings = Settings::new(Some(namespace.to_owned()), 4);
        let controllers = tokio::spawn(controllers::run(ctx, settings, readiness, shutdown.clone()));
        Ok(Self { http, metrics, shutdown, controllers })
    }

    /// Shuts down gracefully and waits for the controllers to stop.
    pub async fn stop(self) -> Result<()> {
        self.shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(30), self.controllers)
            .await
            .context("controllers did not stop within 30 s")???;
        Ok(())
    }

    /// Reconciles of `controller` so far (from the metrics).
    pub fn reconciles(&self, controller: &str) -> u64 {
        let needle = format!("remotion_operator_reconciles_total{{controller=\"{controller}\"}} ");
        self.metrics
            .encode()
            .lines()
            .find_map(|l| l.strip_prefix(&needle).and_then(|v| v.trim().parse().ok()))
            .unwrap_or(0)
    }
}

/// `GET path` on `addr`: status code and body.
pub async fn http_get(addr: SocketAddr, path: &str) -> Result<(u16, String)> {
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    stream.write_all(format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n").as_bytes()).await?;
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut raw)).await??;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let status = text.split_whitespace().nth(1).and_then(|s| s.parse().ok()).context("no HTTP status line")?;
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    Ok((status, body))
}

/// Polls `check` every 200 ms until it returns `Some`, or fails after `timeout` with `what`.
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Option<T>>>,
{
    let start = std::time::Instant::now();
    let mut last_error = None;
    loop {
        match check().await {
            Ok(Some(value)) => return Ok(value),
            Ok(None) => {}
            Err(e) => last_error = Some(e),
        }
        if start.elapsed() > timeout {
            match last_error {
                Some(e) => bail!("{what}: not reached within {timeout:?}; last error: {e:#}"),
                None => bail!("{what}: not reached within {timeout:?}"),
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
