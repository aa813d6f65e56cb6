//! Fetching a site archive from its source into a local file, bounded in size and time, with
//! its SHA-256 computed on the way (so the digest check costs no second read).
//!
//! Sources:
//! - **HTTP(S) URL**: connect/read/total timeouts; network errors, 408, 429 and 5xx are retried
//!   with exponential backoff (other 4xx are not: the URL is wrong); a `Content-Length` over
//!   the limit fails before the body is read, and the limit is enforced again while streaming.
//! - **ConfigMap**: the key must hold the archive itself, in `binaryData` (`kubectl create
//!   configmap site --from-file=site.tar.gz` puts a binary file there). Files of the bundle as
//!   separate keys are not supported: keys cannot hold `/`, so `public/` could not be
//!   expressed, and the 1 MiB ConfigMap limit would cut most bundles anyway. A text value
//!   under `data` is read as its bytes, which are no archive and fail as such.
//! - **S3 object**: read with the bucketRef's credentials; the SDK retries transient errors.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use remotion_crds::Reason;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use crate::aws::SecretSource;
use crate::tenancy::network::{GuardedResolver, redirect_policy};
use crate::tenancy::{NetworkPolicy, NetworkRefusal, foreign};

/// Bounds of a download.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FetchLimits {
    /// Largest archive, bytes.
    pub max_archive_bytes: u64,
    /// Time to establish a connection.
    pub connect_timeout: Duration,
    /// Longest silence while reading a response.
    pub read_timeout: Duration,
    /// Longest whole download (one attempt).
    pub total_timeout: Duration,
    /// Attempts of an HTTP download (first included).
    pub attempts: u32,
    /// Delay before the second attempt; doubles for each further one.
    pub first_backoff: Duration,
}

impl Default for FetchLimits {
    fn default() -> Self {
        Self {
            max_archive_bytes: 1 << 30,
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(60),
            total_timeout: Duration::from_secs(600),
            attempts: 4,
            first_backoff: Duration::from_secs(1),
        }
    }
}

/// An archive on local disk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fetched {
    /// Size, bytes.
    pub size: u64,
    /// SHA-256 of the content, lowercase hex.
    pub sha256: String,
}

/// The archive could not be fetched.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The server answered with a status that retrying will not change (404, 403, …).
    #[error("GET {url} answered HTTP {status}")]
    HttpStatus {
        /// The URL.
        url: String,
        /// The status code.
        status: u16,
    },
    /// Network errors or server errors on every attempt.
    #[error("GET {url} failed after {attempts} attempts: {message}")]
    Unreachable {
        /// The URL.
        url: String,
        /// Attempts made.
        attempts: u32,
        /// The last error.
        message: String,
    },
    /// The tenancy policy refuses the URL, or a host it resolved or redirected to.
    #[error("GET {url}: {refusal}")]
    Refused {
        /// The URL.
        url: String,
        /// Why.
        refusal: NetworkRefusal,
    },
    /// The archive is over the size limit.
    #[error("the archive at {source_name} is larger than the limit of {limit} bytes")]
    TooLarge {
        /// The source.
        source_name: String,
        /// The limit, bytes.
        limit: u64,
    },
    /// The ConfigMap does not exist.
    #[error("ConfigMap {name} not found")]
    ConfigMapNotFound {
        /// Its name.
        name: String,
    },
    /// The ConfigMap has no such key.
    #[error("ConfigMap {name} has no key {key:?} (its keys: {keys})")]
    ConfigMapKeyMissing {
        /// Its name.
        name: String,
        /// The key.
        key: String,
        /// The keys it has.
        keys: String,
    },
    /// Reading the ConfigMap failed.
    #[error("reading ConfigMap {name}: {source}")]
    ConfigMapRead {
        /// Its name.
        name: String,
        /// The error.
        #[source]
        source: kube::Error,
    },
    /// The S3 object does not exist (or the bucket does not).
    #[error("s3://{bucket}/{key} not found")]
    S3NotFound {
        /// Bucket.
        bucket: String,
        /// Key.
        key: String,
    },
    /// Reading the S3 object failed.
    #[error("reading s3://{bucket}/{key}: {message}")]
    S3 {
        /// Bucket.
        bucket: String,
        /// Key.
        key: String,
        /// The error with its context.
        message: String,
    },
    /// Writing the local copy failed.
    #[error("writing the downloaded archive: {0}")]
    Io(#[from] std::io::Error),
}

impl FetchError {
    /// One CamelCase word for conditions and events.
    pub fn reason(&self) -> Reason {
        match self {
            Self::HttpStatus { .. } | Self::ConfigMapNotFound { .. } | Self::S3NotFound { .. } => {
                Reason::SourceNotFound
            }
            Self::ConfigMapKeyMissing { .. } => Reason::SourceKeyMissing,
            Self::Unreachable { .. } | Self::ConfigMapRead { .. } | Self::S3 { .. } => Reason::SourceUnavailable,
            Self::TooLarge { .. } => Reason::ArchiveTooLarge,
            Self::Refused { .. } => Reason::EndpointNotAllowed,
            Self::Io(_) => Reason::ScratchSpaceError,
        }
    }
}

/// Streams chunks into `dest`, hashing and counting them against the limit.
struct Sink {
    file: tokio::fs::File,
    hasher: Sha256,
    size: u64,
    limit: u64,
    source_name: String,
}

impl Sink {
    async fn create(dest: &Path, limit: u64, source_name: &str) -> Result<Self, FetchError> {
        let file = tokio::fs::File::create(dest).await?;
        Ok(Self { file, hasher: Sha256::new(), size: 0, limit, source_name: source_name.to_owned() })
    }

    async fn write(&mut self, chunk: &[u8]) -> Result<(), FetchError> {
        self.size += chunk.len() as u64;
        if self.size > self.limit {
            return Err(FetchError::TooLarge { source_name: self.source_name.clone(), limit: self.limit });
        }
        self.hasher.update(chunk);
        self.file.write_all(chunk).await?;
        Ok(())
    }

    async fn finish(mut self) -> Result<Fetched, FetchError> {
        self.file.flush().await?;
        self.file.sync_all().await?;
        Ok(Fetched { size: self.size, sha256: hex::encode(self.hasher.finalize()) })
    }
}

/// Redirects an archive download follows at most.
const MAX_REDIRECTS: usize = 10;

/// The HTTP client for archive downloads (build once, share: it pools connections). It
/// connects only to addresses `network` allows, whatever a name resolves to at the time, and
/// follows only redirects to URLs it allows.
pub fn http_client(limits: &FetchLimits, network: Arc<NetworkPolicy>) -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .dns_resolver(Arc::new(GuardedResolver::new(network.clone())))
        .redirect(redirect_policy(network, MAX_REDIRECTS))
        .user_agent(concat!("remotion-operator/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(limits.connect_timeout)
        .read_timeout(limits.read_timeout)
        .timeout(limits.total_timeout)
        .build()
}

/// What one failed HTTP attempt means for the next.
enum Attempt {
    /// Try again after a backoff.
    Retry(String),
    /// Stop.
    Fail(FetchError),
}

/// Downloads `url` into `dest`.
pub async fn fetch_url(
    client: &reqwest::Client,
    url: &str,
    dest: &Path,
    limits: &FetchLimits,
) -> Result<Fetched, FetchError> {
    let attempts = limits.attempts.max(1);
    let mut delay = limits.first_backoff;
    for attempt in 1..=attempts {
        match fetch_url_once(client, url, dest, limits).await {
            Ok(fetched) => return Ok(fetched),
            Err(Attempt::Fail(e)) => return Err(e),
            Err(Attempt::Retry(message)) if attempt == attempts => {
                return Err(FetchError::Unreachable { url: url.to_owned(), attempts, message });
            }
            Err(Attempt::Retry(message)) => {
                tracing::info!(%url, attempt, %message, "archive download failed, retrying");
                tokio::time::sleep(delay).await;
                delay = delay.saturating_mul(2);
            }
        }
    }
    unreachable!("the loop returns on its last attempt")
}

async fn fetch_url_once(
    client: &reqwest::Client,
    url: &str,
    dest: &Path,
    limits: &FetchLimits,
) -> Result<Fetched, Attempt> {
    let network = |e: reqwest::Error| match refusal_in(&e) {
        // Refused by the policy (at a connection or a redirect): retrying cannot help.
        Some(refusal) => Attempt::Fail(FetchError::Refused { url: url.to_owned(), refusal }),
        None => Attempt::Retry(error_chain(&e)),
    };
    let mut response = client.get(url).send().await.map_err(network)?;
    let status = response.status();
    if !status.is_success() {
        let retryable = status.is_server_error() || status.as_u16() == 408 || status.as_u16() == 429;
        return Err(if retryable {
            Attempt::Retry(format!("HTTP {status}"))
        } else {
            Attempt::Fail(FetchError::HttpStatus { url: url.to_owned(), status: status.as_u16() })
        });
    }
    let too_large = || FetchError::TooLarge { source_name: url.to_owned(), limit: limits.max_archive_bytes };
    if response.content_length().is_some_and(|n| n > limits.max_archive_bytes) {
        return Err(Attempt::Fail(too_large()));
    }
    let mut sink = Sink::create(dest, limits.max_archive_bytes, url).await.map_err(Attempt::Fail)?;
    while let Some(chunk) = response.chunk().await.map_err(network)? {
        sink.write(&chunk).await.map_err(Attempt::Fail)?;
    }
    sink.finish().await.map_err(Attempt::Fail)
}

/// The policy's refusal among the causes of `e`, if that is why it failed.
fn refusal_in(e: &(dyn std::error::Error + 'static)) -> Option<NetworkRefusal> {
    let mut cause = Some(e);
    while let Some(current) = cause {
        if let Some(refusal) = current.downcast_ref::<NetworkRefusal>() {
            return Some(refusal.clone());
        }
        cause = current.source();
    }
    None
}

/// `e` with its sources, which is where reqwest keeps the interesting part.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut message = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        message.push_str(": ");
        message.push_str(&s.to_string());
        source = s.source();
    }
    message
}

/// An archive held in memory (a ConfigMap's key), with its digest: a ConfigMap source is
/// identified by it without touching the scratch volume, which only a sync may use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InMemoryArchive {
    /// Where it came from, for messages.
    pub source_name: String,
    /// The archive.
    pub bytes: Vec<u8>,
    /// SHA-256 of `bytes`, lowercase hex.
    pub sha256: String,
}

/// Reads the archive held in key `key` of ConfigMap `name`.
pub async fn read_config_map(
    source: &dyn SecretSource,
    namespace: &str,
    name: &str,
    key: &str,
    limits: &FetchLimits,
) -> Result<InMemoryArchive, FetchError> {
    let config_map = source
        .config_map(namespace, name)
        .await
        .map_err(|e| FetchError::ConfigMapRead { name: name.to_owned(), source: e })?
        .ok_or_else(|| FetchError::ConfigMapNotFound { name: name.to_owned() })?;
    let source_name = format!("ConfigMap {name} key {key}");
    let Some(bytes) = config_map.data.get(key) else {
        let keys: Vec<&String> = config_map.data.keys().collect();
        return Err(FetchError::ConfigMapKeyMissing {
            name: name.to_owned(),
            key: key.to_owned(),
            keys: format!("{keys:?}"),
        });
    };
    if bytes.len() as u64 > limits.max_archive_bytes {
        return Err(FetchError::TooLarge { source_name, limit: limits.max_archive_bytes });
    }
    let sha256 = hex::encode(Sha256::digest(bytes));
    Ok(InMemoryArchive { source_name, bytes: bytes.clone(), sha256 })
}

/// Writes an archive read into memory to `dest`.
pub async fn write_archive(archive: &InMemoryArchive, dest: &Path) -> Result<Fetched, FetchError> {
    let mut sink = Sink::create(dest, archive.bytes.len() as u64, &archive.source_name).await?;
    sink.write(&archive.bytes).await?;
    sink.finish().await
}

/// Writes the archive held in key `key` of ConfigMap `name` into `dest`.
pub async fn fetch_config_map(
    source: &dyn SecretSource,
    namespace: &str,
    name: &str,
    key: &str,
    dest: &Path,
    limits: &FetchLimits,
) -> Result<Fetched, FetchError> {
    write_archive(&read_config_map(source, namespace, name, key, limits).await?, dest).await
}

/// Identity of an S3 object's current content, to notice when it changes without downloading.
pub async fn s3_object_etag(client: &aws_sdk_s3::Client, bucket: &str, key: &str) -> Result<String, FetchError> {
    let head = client.head_object().bucket(bucket).key(key).send().await.map_err(|e| {
        if e.as_service_error().is_some_and(|s| s.is_not_found()) {
            FetchError::S3NotFound { bucket: bucket.to_owned(), key: key.to_owned() }
        } else {
            s3_error(bucket, key, e)
        }
    })?;
    Ok(head.e_tag().unwrap_or_default().to_owned())
}

/// Downloads `s3://bucket/key` into `dest`.
pub async fn fetch_s3(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    dest: &Path,
    limits: &FetchLimits,
) -> Result<Fetched, FetchError> {
    let download = async {
        let object = client.get_object().bucket(bucket).key(key).send().await.map_err(|e| {
            let missing = e.as_service_error().is_some_and(|s| s.is_no_such_key())
                || e.raw_response().is_some_and(|r| r.status().as_u16() == 404);
            if missing {
                FetchError::S3NotFound { bucket: bucket.to_owned(), key: key.to_owned() }
            } else {
                s3_error(bucket, key, e)
            }
        })?;
        let source_name = format!("s3://{bucket}/{key}");
        if object.content_length().is_some_and(|n| n as u64 > limits.max_archive_bytes) {
            return Err(FetchError::TooLarge { source_name, limit: limits.max_archive_bytes });
        }
        let mut body = object.body;
        let mut sink = Sink::create(dest, limits.max_archive_bytes, &source_name).await?;
        while let Some(chunk) = body.try_next().await.map_err(|e| s3_error(bucket, key, e))? {
            sink.write(&chunk).await?;
        }
        sink.finish().await
    };
    tokio::time::timeout(limits.total_timeout, download).await.unwrap_or_else(|_| {
        Err(FetchError::S3 {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            message: format!("timed out after {} s", limits.total_timeout.as_secs()),
        })
    })
}

fn s3_error(bucket: &str, key: &str, e: impl std::error::Error + 'static) -> FetchError {
    FetchError::S3 {
        bucket: bucket.to_owned(),
        key: key.to_owned(),
        message: foreign::one_line(&aws_sdk_s3::error::DisplayErrorContext(e).to_string(), foreign::MAX_MESSAGE_CHARS),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use tokio::io::AsyncReadExt;

    use crate::aws::{ObjectData, StaticSecrets};

    use super::*;

    /// A server on loopback answering every request with `answer`; counts connections.
    async fn server(answer: String) -> (u16, Arc<AtomicU32>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let connections = Arc::new(AtomicU32::new(0));
        let counted = connections.clone();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                counted.fetch_add(1, Ordering::SeqCst);
                let mut request = [0u8; 4096];
                let _ = stream.read(&mut request).await;
                let _ = stream.write_all(answer.as_bytes()).await;
            }
        });
        (port, connections)
    }

    fn quick() -> FetchLimits {
        FetchLimits { attempts: 1, ..FetchLimits::default() }
    }

    #[tokio::test]
    async fn a_name_resolving_to_a_refused_address_is_never_connected() {
        let (port, connections) = server("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok".into()).await;
        let client = http_client(&quick(), Arc::new(NetworkPolicy::default())).unwrap();
        let dest = tempfile::tempdir().unwrap();
        let url = format!("http://localhost:{port}/site.tgz");
        let error = fetch_url(&client, &url, &dest.path().join("a"), &quick()).await.unwrap_err();
        assert!(
            matches!(&error, FetchError::Refused { refusal: NetworkRefusal::PrivateAddress { .. }, .. }),
            "{error}"
        );
        assert_eq!(error.reason(), Reason::EndpointNotAllowed);
        assert_eq!(connections.load(Ordering::SeqCst), 0);
        // Allowed, the same URL is fetched: the refusal was the policy's.
        let client = http_client(&quick(), Arc::new(NetworkPolicy::loopback_allowed())).unwrap();
        fetch_url(&client, &url, &dest.path().join("b"), &quick()).await.unwrap();
        assert_eq!(connections.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_redirect_to_a_refused_address_is_not_followed() {
        let redirect =
            "HTTP/1.1 302 Found\r\nlocation: http://169.254.169.254/latest/meta-data/\r\ncontent-length: 0\r\n\r\n";
        let (port, _) = server(redirect.into()).await;
        let client = http_client(&quick(), Arc::new(NetworkPolicy::loopback_allowed())).unwrap();
        let dest = tempfile::tempdir().unwrap();
        let url = format!("http://127.0.0.1:{port}/site.tgz");
        let error = fetch_url(&client, &url, &dest.path().join("a"), &quick()).await.unwrap_err();
        let FetchError::Refused { refusal, .. } = &error else { panic!("{error}") };
        assert!(refusal.to_string().contains("169.254.169.254"), "{refusal}");
    }

    fn config_map(entries: &[(&str, &[u8])]) -> StaticSecrets {
        let source = StaticSecrets::default();
        let data = entries.iter().map(|(k, v)| ((*k).to_owned(), v.to_vec())).collect();
        source.put_config_map("ns", "site", ObjectData { resource_version: "1".into(), data, ..Default::default() });
        source
    }

    #[tokio::test]
    async fn a_config_map_key_is_copied_and_hashed() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("archive");
        let source = config_map(&[("site.tgz", b"abc")]);
        let fetched =
            fetch_config_map(&source, "ns", "site", "site.tgz", &dest, &FetchLimits::default()).await.unwrap();
        assert_eq!(fetched.size, 3);
        assert_eq!(fetched.sha256, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert_eq!(std::fs::read(&dest).unwrap(), b"abc");
    }

    #[tokio::test]
    async fn config_map_problems_are_explained() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("archive");
        let limits = FetchLimits { max_archive_bytes: 2, ..FetchLimits::default() };
        let source = config_map(&[("big", b"abc")]);
        let err = fetch_config_map(&source, "ns", "site", "big", &dest, &limits).await.unwrap_err();
        assert!(matches!(err, FetchError::TooLarge { limit: 2, .. }), "{err}");
        assert!(err.reason().is_terminal());
        let err = fetch_config_map(&source, "ns", "site", "other", &dest, &limits).await.unwrap_err();
        assert!(err.to_string().contains("its keys: [\"big\"]"), "{err}");
        assert!(err.reason().is_terminal());
        let err = fetch_config_map(&source, "ns", "nope", "big", &dest, &limits).await.unwrap_err();
        assert_eq!(err.reason(), Reason::SourceNotFound);
        assert!(!err.reason().is_terminal());
    }
}
