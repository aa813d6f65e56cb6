//! The one place that builds AWS clients (S3, Lambda control plane, Lambda invoke) for an
//! [`AwsAccess`]: region, optional S3-/Lambda-compatible endpoint (path-style S3), credentials
//! from the default chain, a Secret, or an assumed role. Clients are cached per access and
//! Secret resourceVersion, so a rotated Secret gives new clients on the next reconcile.
//!
//! Secrets and ConfigMaps are read through [`SecretSource`], so tests (and the API server
//! stand-in, which has no core types) can supply them.
//!
//! Every client is built only for what the admin's [`TenancyPolicy`] lets the namespace use:
//! its identity (the operator's own, a role, the namespace's own keys) and its endpoint.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_s3::config::Credentials;
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use futures::future::BoxFuture;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::{Api, Client};
use remotion_crds::Reason;
use remotion_crds::common::credential_keys;
use remotion_crds::{AwsAccess, AwsCredentials};

use crate::reconcile;
use crate::tenancy::identity::{self, Grant, IdentityRefusal};
use crate::tenancy::{NetworkRefusal, TenancyPolicy, foreign};

/// The data of a Secret or ConfigMap, with the resourceVersion it was read at.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ObjectData {
    /// resourceVersion (changes whenever the data may have).
    pub resource_version: String,
    /// Keys and values (Secret `data`, or ConfigMap `data` and `binaryData`).
    pub data: BTreeMap<String, Vec<u8>>,
    /// The object's labels.
    pub labels: BTreeMap<String, String>,
}

/// Reads Secrets and ConfigMaps the resources reference (same namespace).
pub trait SecretSource: Send + Sync {
    /// The Secret `name` in `namespace`, `None` when it does not exist.
    fn secret<'a>(
        &'a self,
        namespace: &'a str,
        name: &'a str,
    ) -> BoxFuture<'a, Result<Option<ObjectData>, kube::Error>>;
    /// The ConfigMap `name` in `namespace`, `None` when it does not exist.
    fn config_map<'a>(
        &'a self,
        namespace: &'a str,
        name: &'a str,
    ) -> BoxFuture<'a, Result<Option<ObjectData>, kube::Error>>;
}

/// Reads them from the Kubernetes API.
pub struct KubeSecrets {
    client: Client,
}

impl KubeSecrets {
    /// A source reading through `client`.
    pub fn new(client: Client) -> Self {
        Self { client }
    }
}

impl SecretSource for KubeSecrets {
    fn secret<'a>(
        &'a self,
        namespace: &'a str,
        name: &'a str,
    ) -> BoxFuture<'a, Result<Option<ObjectData>, kube::Error>> {
        Box::pin(async move {
            let secret = Api::<Secret>::namespaced(self.client.clone(), namespace).get_opt(name).await?;
            Ok(secret.map(|s| ObjectData {
                resource_version: s.metadata.resource_version.unwrap_or_default(),
                data: s.data.unwrap_or_default().into_iter().map(|(k, v)| (k, v.0)).collect(),
                labels: s.metadata.labels.unwrap_or_default(),
            }))
        })
    }

    fn config_map<'a>(
        &'a self,
        namespace: &'a str,
        name: &'a str,
    ) -> BoxFuture<'a, Result<Option<ObjectData>, kube::Error>> {
        Box::pin(async move {
            let map = Api::<ConfigMap>::namespaced(self.client.clone(), namespace).get_opt(name).await?;
            Ok(map.map(|m| {
                let mut data: BTreeMap<String, Vec<u8>> =
                    m.data.unwrap_or_default().into_iter().map(|(k, v)| (k, v.into_bytes())).collect();
                data.extend(m.binary_data.unwrap_or_default().into_iter().map(|(k, v)| (k, v.0)));
                ObjectData {
                    resource_version: m.metadata.resource_version.unwrap_or_default(),
                    data,
                    labels: m.metadata.labels.unwrap_or_default(),
                }
            }))
        })
    }
}

/// Secrets and ConfigMaps held in memory, keyed by (namespace, name): for tests and for API
/// servers without core types.
#[derive(Default)]
pub struct StaticSecrets {
    secrets: Mutex<HashMap<(String, String), ObjectData>>,
    config_maps: Mutex<HashMap<(String, String), ObjectData>>,
}

impl StaticSecrets {
    /// Stores (or replaces) a Secret.
    pub fn put_secret(&self, namespace: &str, name: &str, data: ObjectData) {
        self.secrets.lock().unwrap_or_else(|e| e.into_inner()).insert((namespace.into(), name.into()), data);
    }

    /// Removes a Secret (as a namespace's deletion does).
    pub fn remove_secret(&self, namespace: &str, name: &str) {
        self.secrets.lock().unwrap_or_else(|e| e.into_inner()).remove(&(namespace.into(), name.into()));
    }

    /// Stores (or replaces) a ConfigMap.
    pub fn put_config_map(&self, namespace: &str, name: &str, data: ObjectData) {
        self.config_maps.lock().unwrap_or_else(|e| e.into_inner()).insert((namespace.into(), name.into()), data);
    }
}

impl SecretSource for StaticSecrets {
    fn secret<'a>(
        &'a self,
        namespace: &'a str,
        name: &'a str,
    ) -> BoxFuture<'a, Result<Option<ObjectData>, kube::Error>> {
        let found =
            self.secrets.lock().unwrap_or_else(|e| e.into_inner()).get(&(namespace.into(), name.into())).cloned();
        Box::pin(async move { Ok(found) })
    }

    fn config_map<'a>(
        &'a self,
        namespace: &'a str,
        name: &'a str,
    ) -> BoxFuture<'a, Result<Option<ObjectData>, kube::Error>> {
        let found =
            self.config_maps.lock().unwrap_or_else(|e| e.into_inner()).get(&(namespace.into(), name.into())).cloned();
        Box::pin(async move { Ok(found) })
    }
}

/// Clients for one [`AwsAccess`]. Cheap to clone.
#[derive(Clone, Debug)]
pub struct AwsClients {
    /// S3, path-style when an endpoint is set. Standard retries.
    pub s3: aws_sdk_s3::Client,
    /// Lambda control plane (Get/Create/UpdateFunction…). Standard retries.
    pub lambda: aws_sdk_lambda::Client,
    /// Lambda Invoke: **no SDK retries** (a retry would run the function again) and a timeout
    /// above Lambda's 15-minute maximum; callers bound shorter invocations themselves.
    pub lambda_invoke: aws_sdk_lambda::Client,
    /// S3 Control: the account's own S3 settings (its Block Public Access). Standard retries.
    pub s3control: aws_sdk_s3control::Client,
    /// STS: whose account the credentials are. Standard retries.
    pub sts: aws_sdk_sts::Client,
    /// The region.
    pub region: String,
    /// The custom endpoint, if any.
    pub endpoint: Option<String>,
    /// The credentials the clients sign with (their expiry bounds presigned URLs).
    pub credentials: Option<aws_sdk_s3::config::SharedCredentialsProvider>,
}

/// Why clients could not be built.
#[derive(Debug, thiserror::Error)]
pub enum AwsError {
    /// The credentials Secret does not exist.
    #[error("the credentials Secret {namespace}/{name} does not exist")]
    SecretNotFound {
        /// Namespace.
        namespace: String,
        /// Name.
        name: String,
    },
    /// A required key is missing from the credentials Secret.
    #[error("the credentials Secret {namespace}/{name} has no key {key}")]
    SecretKeyMissing {
        /// Namespace.
        namespace: String,
        /// Name.
        name: String,
        /// The missing key.
        key: &'static str,
    },
    /// Reading the Secret failed.
    #[error("reading the credentials Secret {name}")]
    SecretRead {
        /// Name.
        name: String,
        /// The API error.
        source: kube::Error,
    },
    /// The tenancy policy refuses the identity.
    #[error(transparent)]
    IdentityNotAllowed(#[from] IdentityRefusal),
    /// The tenancy policy refuses the endpoint.
    #[error("endpoint: {0}")]
    EndpointNotAllowed(#[from] NetworkRefusal),
}

impl From<AwsError> for reconcile::Error {
    fn from(error: AwsError) -> Self {
        match error {
            AwsError::SecretRead { .. } => {
                reconcile::Error::caused_by(Reason::CredentialsUnavailable, "reading the AWS credentials", error)
            }
            AwsError::SecretNotFound { .. } | AwsError::SecretKeyMissing { .. } => reconcile::Error::caused_by(
                Reason::InvalidCredentials,
                format!("{error}; create it or fix credentials.secretRef"),
                error,
            ),
            AwsError::IdentityNotAllowed(_) => {
                reconcile::Error::caused_by(Reason::IdentityNotAllowed, error.to_string(), error)
            }
            AwsError::EndpointNotAllowed(_) => {
                reconcile::Error::caused_by(Reason::EndpointNotAllowed, error.to_string(), error)
            }
        }
    }
}

/// Timeouts and retries of one class of calls.
struct CallClass {
    connect: Duration,
    attempt: Option<Duration>,
    operation: Duration,
    max_attempts: u32,
}

/// S3 object and bucket calls: quick, idempotent, retried.
const S3_CALLS: CallClass = CallClass {
    connect: Duration::from_secs(5),
    attempt: Some(Duration::from_secs(60)),
    operation: Duration::from_secs(180),
    max_attempts: 4,
};
/// Lambda control plane: throttled at a few requests per second, retried with backoff.
const LAMBDA_CONTROL_CALLS: CallClass = CallClass {
    connect: Duration::from_secs(5),
    attempt: Some(Duration::from_secs(30)),
    operation: Duration::from_secs(120),
    max_attempts: 6,
};
/// Lambda Invoke: one attempt (a retry would run the function again), up to Lambda's 15 min.
const LAMBDA_INVOKE_CALLS: CallClass =
    CallClass { connect: Duration::from_secs(5), attempt: None, operation: Duration::from_secs(960), max_attempts: 1 };

impl CallClass {
    fn timeouts(&self) -> TimeoutConfig {
        let mut builder = TimeoutConfig::builder().connect_timeout(self.connect).operation_timeout(self.operation);
        if let Some(attempt) = self.attempt {
            builder = builder.operation_attempt_timeout(attempt);
        }
        builder.build()
    }

    fn retries(&self) -> RetryConfig {
        if self.max_attempts <= 1 {
            RetryConfig::disabled()
        } else {
            RetryConfig::standard().with_max_attempts(self.max_attempts)
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct CacheKey {
    namespace: String,
    access: String,
    secret_version: Option<String>,
}

/// Builds and caches [`AwsClients`].
pub struct AwsFactory {
    secrets: Arc<dyn SecretSource>,
    policy: Arc<TenancyPolicy>,
    cache: Mutex<HashMap<CacheKey, AwsClients>>,
}

impl AwsFactory {
    /// A factory reading credentials Secrets through `secrets`, under `policy`.
    pub fn new(secrets: Arc<dyn SecretSource>, policy: Arc<TenancyPolicy>) -> Self {
        Self { secrets, policy, cache: Mutex::new(HashMap::new()) }
    }

    /// The admin's tenancy policy.
    pub fn policy(&self) -> &Arc<TenancyPolicy> {
        &self.policy
    }

    /// What `access` of a resource in `namespace` may use, by the tenancy policy.
    pub fn grant(&self, namespace: &str, access: &AwsAccess) -> Result<Grant, AwsError> {
        Ok(identity::authorize(&self.policy, namespace, access)?)
    }

    /// The source of Secrets and ConfigMaps (also for other readers of referenced data).
    pub fn secrets(&self) -> &Arc<dyn SecretSource> {
        &self.secrets
    }

    /// Clients for `access` of a resource in `namespace`.
    pub async fn clients(&self, namespace: &str, access: &AwsAccess) -> Result<AwsClients, AwsError> {
        let grant = self.grant(namespace, access)?;
        if let Some(endpoint) = &access.endpoint {
            // Without resolving: cheap enough for every reconcile (names resolve below, once
            // per client).
            self.policy.network.check_url(endpoint)?;
        }
        let secret = match access.credentials.as_ref().and_then(|c| c.secret_ref.as_ref()) {
            Some(reference) => Some(self.read_keys(namespace, &reference.name).await?),
            None => None,
        };
        let key = CacheKey {
            namespace: namespace.to_owned(),
            access: serde_json::to_string(access).unwrap_or_default(),
            secret_version: secret.as_ref().map(|s| s.resource_version.clone()),
        };
        if let Some(clients) = self.cache.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
            return Ok(clients.clone());
        }
        if let Some(endpoint) = &access.endpoint {
            self.policy.network.check_url_resolved(endpoint).await?;
        }
        let sdk = sdk_config(access, secret.as_ref(), &grant).await;
        let clients = build_clients(&sdk, access);
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        // Clients for an older version of the same Secret are stale now.
        cache.retain(|k, _| !(k.namespace == key.namespace && k.access == key.access));
        cache.insert(key, clients.clone());
        Ok(clients)
    }

    /// Clients for cleaning up after `access` (deleting what a resource made, signalling a
    /// deleted job's render to stop). When the credentials Secret is gone, which is the usual
    /// order when a namespace is deleted, these are the clients this process last built for
    /// the same access, so that cleanup still finishes; the tenancy policy is applied again
    /// all the same. After a restart nothing is remembered, and cleanup gives up after a
    /// bounded time instead ([`crate::reconcile::abandon`]).
    pub async fn clients_for_cleanup(&self, namespace: &str, access: &AwsAccess) -> Result<AwsClients, AwsError> {
        match self.clients(namespace, access).await {
            Err(error @ (AwsError::SecretNotFound { .. } | AwsError::SecretKeyMissing { .. })) => {
                let remembered = self.last_built(namespace, access);
                if remembered.is_some() {
                    tracing::info!(%namespace, %error, "cleaning up with the credentials last read from the Secret");
                }
                remembered.ok_or(error)
            }
            other => other,
        }
    }

    /// The clients last built for `access` of `namespace` (whatever Secret version).
    fn last_built(&self, namespace: &str, access: &AwsAccess) -> Option<AwsClients> {
        let access = serde_json::to_string(access).unwrap_or_default();
        let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        cache.iter().find(|(k, _)| k.namespace == namespace && k.access == access).map(|(_, clients)| clients.clone())
    }

    async fn read_keys(&self, namespace: &str, name: &str) -> Result<SecretKeys, AwsError> {
        let found = self
            .secrets
            .secret(namespace, name)
            .await
            .map_err(|source| AwsError::SecretRead { name: name.to_owned(), source })?;
        let data = found.ok_or_else(|| AwsError::SecretNotFound { namespace: namespace.into(), name: name.into() })?;
        let get = |key: &'static str| -> Result<String, AwsError> {
            data.data
                .get(key)
                .map(|v| String::from_utf8_lossy(v).trim().to_owned())
                .filter(|v| !v.is_empty())
                .ok_or_else(|| AwsError::SecretKeyMissing { namespace: namespace.into(), name: name.into(), key })
        };
        Ok(SecretKeys {
            access_key_id: get(credential_keys::ACCESS_KEY_ID)?,
            secret_access_key: get(credential_keys::SECRET_ACCESS_KEY)?,
            session_token: get(credential_keys::SESSION_TOKEN).ok(),
            resource_version: data.resource_version,
        })
    }
}

struct SecretKeys {
    access_key_id: String,
    secret_access_key: String,
    session_token: Option<String>,
    resource_version: String,
}

/// The shared SDK configuration: region and credentials (Secret keys, else the default chain;
/// then the role assumed with them when `roleArn` is set, presenting the tenant's external ID
/// with its own keys and the operator's with the operator's identity).
async fn sdk_config(access: &AwsAccess, secret: Option<&SecretKeys>, grant: &Grant) -> SdkConfig {
    let region = Region::new(access.region.clone());
    let mut loader = aws_config::defaults(BehaviorVersion::latest()).region(region.clone());
    if let Some(keys) = secret {
        loader = loader.credentials_provider(Credentials::new(
            keys.access_key_id.clone(),
            keys.secret_access_key.clone(),
            keys.session_token.clone(),
            None,
            "remotion-operator-secret",
        ));
    }
    let base = loader.load().await;
    let Some(AwsCredentials { role_arn: Some(role_arn), external_id: chosen, .. }) = access.credentials.as_ref() else {
        return base;
    };
    let external_id = match grant {
        Grant::AssumedRole { external_id, .. } => Some(external_id),
        Grant::OwnKeys | Grant::OperatorIdentity => chosen.as_ref(),
    };
    // A store with an endpoint of its own serves STS there too (MinIO, and AWS's stand-ins);
    // only the role's exchange goes there, the base credentials come from where they did.
    let sts_config = match &access.endpoint {
        Some(endpoint) => base.to_builder().endpoint_url(endpoint).build(),
        None => base.clone(),
    };
    let mut role = aws_config::sts::AssumeRoleProvider::builder(role_arn.clone())
        .session_name("remotion-operator")
        .region(region)
        .configure(&sts_config);
    if let Some(external_id) = external_id {
        role = role.external_id(external_id.clone());
    }
    let provider = role.build().await;
    base.into_builder().credentials_provider(aws_sdk_s3::config::SharedCredentialsProvider::new(provider)).build()
}

fn build_clients(sdk: &SdkConfig, access: &AwsAccess) -> AwsClients {
    // Every call counted by service, operation and outcome (`crate::aws_metrics`).
    let calls = crate::aws_metrics::AwsMetrics::global();
    let mut s3 = aws_sdk_s3::config::Builder::from(sdk)
        .timeout_config(S3_CALLS.timeouts())
        .retry_config(S3_CALLS.retries())
        .interceptor(calls.interceptor());
    if let Some(endpoint) = &access.endpoint {
        s3 = s3.endpoint_url(endpoint).force_path_style(true);
    }
    let lambda_with = |class: &CallClass| {
        let mut builder = aws_sdk_lambda::config::Builder::from(sdk)
            .timeout_config(class.timeouts())
            .retry_config(class.retries())
            .interceptor(calls.interceptor());
        if let Some(endpoint) = &access.endpoint {
            builder = builder.endpoint_url(endpoint);
        }
        aws_sdk_lambda::Client::from_conf(builder.build())
    };
    let mut s3control = aws_sdk_s3control::config::Builder::from(sdk)
        .timeout_config(S3_CALLS.timeouts())
        .retry_config(S3_CALLS.retries())
        .interceptor(calls.interceptor());
    let mut sts = aws_sdk_sts::config::Builder::from(sdk)
        .timeout_config(S3_CALLS.timeouts())
        .retry_config(S3_CALLS.retries())
        .interceptor(calls.interceptor());
    if let Some(endpoint) = &access.endpoint {
        s3control = s3control.endpoint_resolver(AtEndpoint(endpoint.clone()));
        sts = sts.endpoint_url(endpoint);
    }
    AwsClients {
        s3: aws_sdk_s3::Client::from_conf(s3.build()),
        s3control: aws_sdk_s3control::Client::from_conf(s3control.build()),
        sts: aws_sdk_sts::Client::from_conf(sts.build()),
        lambda: lambda_with(&LAMBDA_CONTROL_CALLS),
        lambda_invoke: lambda_with(&LAMBDA_INVOKE_CALLS),
        region: access.region.clone(),
        endpoint: access.endpoint.clone(),
        credentials: sdk.credentials_provider(),
    }
}

/// S3 Control at a store's own endpoint. S3 Control's endpoint rules put the account id in
/// front of the host (`<account>.s3-control.<region>.amazonaws.com`), which a custom endpoint
/// such as `http://127.0.0.1:5000` cannot take; the stores that serve S3 Control at their
/// endpoint (AWS's stand-ins) read the account from the `x-amz-account-id` header instead.
#[derive(Debug)]
struct AtEndpoint(String);

impl aws_sdk_s3control::config::endpoint::ResolveEndpoint for AtEndpoint {
    fn resolve_endpoint<'a>(
        &'a self,
        _params: &'a aws_sdk_s3control::config::endpoint::Params,
    ) -> aws_sdk_s3control::config::endpoint::EndpointFuture<'a> {
        let endpoint = aws_sdk_s3control::config::endpoint::Endpoint::builder().url(self.0.clone()).build();
        aws_sdk_s3control::config::endpoint::EndpointFuture::ready(Ok(endpoint))
    }
}

/// The error code an AWS service answered with (e.g. `NoSuchBucket`), if any.
pub fn error_code<E: ProvideErrorMetadata, R>(error: &SdkError<E, R>) -> Option<&str> {
    match error {
        SdkError::ServiceError(service) => service.err().code(),
        _ => None,
    }
}

/// The HTTP status of the service's answer, if one came.
pub fn http_status<E>(error: &SdkError<E, HttpResponse>) -> Option<u16> {
    error.raw_response().map(|r| r.status().as_u16())
}

/// An AWS call failure as a reconcile error of `reason`: "`what`: code (HTTP status): message",
/// or the transport failure.
///
/// AWS failures are retried with backoff (throttling, timeouts, outages, and also AccessDenied,
/// which an IAM change outside the cluster can fix); controllers turn the few answers that
/// only a spec change can fix into terminal errors themselves.
pub fn sdk_error<E>(reason: Reason, what: &str, error: &SdkError<E, HttpResponse>) -> reconcile::Error
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    reconcile::Error::new(reason, format!("{what}: {}", describe(error)))
}

/// A one-line description of an SDK error: code and message, or the transport failure.
///
/// The service may be a tenant's own endpoint, so what it answered passes only as a short,
/// printable excerpt ([`foreign`]): the description goes into conditions and Events.
pub fn describe<E>(error: &SdkError<E, HttpResponse>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let excerpt = |text: &str| foreign::one_line(text, foreign::MAX_MESSAGE_CHARS);
    match error {
        SdkError::ServiceError(service) => {
            let err = service.err();
            let status = service.raw().status().as_u16();
            match (err.code().map(foreign::error_code), err.message()) {
                (Some(code), Some(message)) => format!("{code} (HTTP {status}): {}", excerpt(message)),
                (Some(code), None) => format!("{code} (HTTP {status})"),
                _ => format!("HTTP {status}: {}", excerpt(&err.to_string())),
            }
        }
        SdkError::TimeoutError(_) => "timed out".to_owned(),
        SdkError::DispatchFailure(failure) => {
            format!("could not reach the service: {}", excerpt(&format!("{failure:?}")))
        }
        other => excerpt(&aws_sdk_s3::error::DisplayErrorContext(other).to_string()),
    }
}

/// Why an invocation brought no answer from the function.
#[derive(Debug, thiserror::Error)]
pub enum InvokeError {
    /// There is no function of that name.
    #[error("function {0} does not exist")]
    NotFound(String),
    /// No answer within the time given.
    #[error("invoking {function} timed out after {seconds} s")]
    Timeout {
        /// Function name.
        function: String,
        /// The limit.
        seconds: u64,
    },
    /// The Lambda API failed (throttling, network, permissions…).
    #[error("invoking {function}: {message}")]
    Api {
        /// Function name.
        function: String,
        /// What the API said.
        message: String,
    },
    /// The answer was not JSON.
    #[error("{function} answered with something that is not JSON: {message}")]
    NotJson {
        /// Function name.
        function: String,
        /// The parse error.
        message: String,
    },
}

/// Invokes `function` synchronously (RequestResponse) with a JSON `payload`, waiting at most
/// `timeout`. `Ok(Ok(answer))` is the function's answer, `Ok(Err(error))` the error it
/// reported (Lambda answers 200 with `X-Amz-Function-Error` and the error as the payload).
///
/// Use [`AwsClients::lambda_invoke`]: it never retries (a retry would run the function again).
pub async fn invoke_json(
    client: &aws_sdk_lambda::Client,
    function: &str,
    payload: &serde_json::Value,
    timeout: Duration,
) -> Result<Result<serde_json::Value, remotion_protocol::payload::FunctionError>, InvokeError> {
    use aws_sdk_lambda::primitives::Blob;
    use remotion_protocol::payload::FunctionError;

    let body = serde_json::to_vec(payload)
        .map_err(|e| InvokeError::NotJson { function: function.into(), message: e.to_string() })?;
    let call = client.invoke().function_name(function).payload(Blob::new(body)).send();
    let sent = tokio::time::timeout(timeout, call)
        .await
        .map_err(|_| InvokeError::Timeout { function: function.into(), seconds: timeout.as_secs() })?;
    let parse = |bytes: &[u8]| -> Result<serde_json::Value, InvokeError> {
        serde_json::from_slice(if bytes.is_empty() { b"null" } else { bytes })
            .map_err(|e| InvokeError::NotJson { function: function.into(), message: e.to_string() })
    };
    match sent {
        Ok(out) => {
            let answer = parse(out.payload().map(Blob::as_ref).unwrap_or_default())?;
            if out.function_error().is_some() {
                Ok(Err(serde_json::from_value(answer.clone()).unwrap_or_else(|_| FunctionError {
                    error_type: "Unhandled".into(),
                    error_message: foreign::one_line(&answer.to_string(), foreign::MAX_MESSAGE_CHARS),
                })))
            } else {
                Ok(Ok(answer))
            }
        }
        Err(error) => {
            let not_found = error.raw_response().is_some_and(|r| r.status().as_u16() == 404)
                || error.as_service_error().is_some_and(|e| e.is_resource_not_found_exception());
            if not_found {
                return Err(InvokeError::NotFound(function.into()));
            }
            Err(InvokeError::Api { function: function.into(), message: describe(&error) })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_s3::error::ErrorMetadata;
    use aws_sdk_s3::operation::head_bucket::HeadBucketError;
    use aws_sdk_s3::primitives::SdkBody;

    fn answered(code: &str, message: &str) -> SdkError<HeadBucketError, HttpResponse> {
        let error = HeadBucketError::generic(ErrorMetadata::builder().code(code).message(message).build());
        let raw = HttpResponse::new(403u16.try_into().expect("a status"), SdkBody::empty());
        SdkError::service_error(error, raw)
    }

    #[test]
    fn a_foreign_answer_reaches_the_status_only_as_a_short_line() {
        let leaked = format!("line one\nline two {}", "x".repeat(10_000));
        let text = describe(&answered("AccessDenied", &leaked));
        assert!(text.starts_with("AccessDenied (HTTP 403): line one line two xxx"), "{text}");
        assert!(text.chars().count() < 260, "{} characters", text.chars().count());
        assert!(!text.contains('\n'));
        let odd = describe(&answered("<html><body>internal page</body></html>", "m"));
        assert_eq!(odd, "UnreadableErrorCode (HTTP 403): m");
    }

    fn keyed_access() -> AwsAccess {
        serde_json::from_value(serde_json::json!({
            "region": "us-east-1",
            "credentials": {"secretRef": {"name": "keys"}}
        }))
        .expect("an AwsAccess")
    }

    fn keys() -> ObjectData {
        let data = [(credential_keys::ACCESS_KEY_ID, "AKIDEXAMPLE"), (credential_keys::SECRET_ACCESS_KEY, "secret")]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.as_bytes().to_vec()))
            .collect();
        ObjectData { resource_version: "1".into(), data, labels: BTreeMap::new() }
    }

    #[tokio::test]
    async fn cleanup_outlives_the_secret_with_the_clients_last_built() {
        let secrets = Arc::new(StaticSecrets::default());
        let factory = AwsFactory::new(secrets.clone(), Arc::new(TenancyPolicy::permissive_local()));
        let access = keyed_access();
        // Never read: nothing to fall back on, so cleanup fails as reconciles do.
        assert!(matches!(factory.clients_for_cleanup("team", &access).await, Err(AwsError::SecretNotFound { .. })));

        secrets.put_secret("team", "keys", keys());
        factory.clients("team", &access).await.expect("clients from the Secret");
        secrets.remove_secret("team", "keys");

        assert!(matches!(factory.clients("team", &access).await, Err(AwsError::SecretNotFound { .. })));
        let clients = factory.clients_for_cleanup("team", &access).await.expect("the clients last built");
        let provider = clients.credentials.expect("credentials");
        let credentials =
            aws_sdk_s3::config::ProvideCredentials::provide_credentials(&provider).await.expect("credentials");
        assert_eq!(credentials.access_key_id(), "AKIDEXAMPLE");
        // Another namespace never gets them.
        assert!(factory.clients_for_cleanup("other", &access).await.is_err());
    }
}
