//! The Lambda calls of the RenderFunction controller, behind [`FunctionApi`] so tests can
//! replace the control plane (the local Lambda stand-in serves Invoke only).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_lambda::types::{
    Architecture as LambdaArchitecture, Environment, EphemeralStorage, FunctionCode, LastUpdateStatus, PackageType,
    State,
};
use futures::future::BoxFuture;
use remotion_crds::AwsAccess;
use remotion_protocol::lambda::Architecture;
use remotion_protocol::payload::{FunctionError, InfoResponse, Payload};

use crate::aws::{AwsFactory, InvokeError, describe, invoke_json};
use crate::controllers::aws_tags::{TagChanges, Tags};
use crate::controllers::lambda_bucket::owner::OWNER_TAG;
use crate::reconcile::Error;
use remotion_crds::Reason;

/// Reason of failed control-plane calls (retried).
const LAMBDA_ERROR: Reason = Reason::LambdaError;
/// How long `info` may take (a container image's cold start included).
pub const INFO_TIMEOUT: Duration = Duration::from_secs(90);

/// Lifecycle state of a function, as Lambda reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lifecycle {
    /// Being created, or an update is in progress.
    Pending,
    /// Usable.
    Active,
    /// Creation or the last update failed.
    Failed,
    /// Inactive (idle for long; wakes on invoke).
    Inactive,
}

/// The configuration of a deployed function.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeployedFunction {
    /// Name.
    pub name: String,
    /// ARN.
    pub arn: Option<String>,
    /// State (and last update) combined.
    pub lifecycle: Lifecycle,
    /// Why it is Failed, if it is.
    pub failure: Option<String>,
    /// Image URI.
    pub image: Option<String>,
    /// Execution role.
    pub role: Option<String>,
    /// Memory, MB.
    pub memory_mb: Option<i32>,
    /// Ephemeral storage, MB.
    pub disk_mb: Option<i32>,
    /// Timeout, s.
    pub timeout_seconds: Option<i32>,
    /// Architecture.
    pub architecture: Option<Architecture>,
    /// Environment variables.
    pub env: BTreeMap<String, String>,
    /// Its `remotion-operator.io/owner` tag: the resource that owns it, if any.
    pub owner: Option<String>,
    /// All its tags, the owner tag included.
    pub tags: Tags,
}

/// What the function should look like.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WantedFunction {
    /// Name.
    pub name: String,
    /// Image URI.
    pub image: String,
    /// Execution role.
    pub role: String,
    /// Memory, MB.
    pub memory_mb: i32,
    /// Ephemeral storage, MB.
    pub disk_mb: i32,
    /// Timeout, s.
    pub timeout_seconds: i32,
    /// Architecture.
    pub architecture: Architecture,
    /// Environment variables.
    pub env: BTreeMap<String, String>,
    /// The owner tag it is created with: the RenderFunction's `<clusterId>/<namespace>/<name>`.
    pub owner: String,
    /// Its other tags ([`wanted`](crate::controllers::aws_tags::wanted)).
    pub tags: Tags,
    /// The keys of `spec.tags` put on it before (`status.tagKeys`): removed when no longer wanted.
    pub previous_tag_keys: Vec<String>,
}

impl WantedFunction {
    /// Whether the deployed code (image, architecture) differs.
    pub fn code_differs(&self, deployed: &DeployedFunction) -> bool {
        deployed.image.as_deref() != Some(self.image.as_str()) || deployed.architecture != Some(self.architecture)
    }

    /// The tag changes that bring the deployed function's tags to the wanted ones.
    pub fn tag_changes(&self, deployed: &DeployedFunction) -> TagChanges {
        TagChanges::between(&deployed.tags, &self.tags, &self.previous_tag_keys)
    }

    /// Every tag it is created with: the owner tag and the others.
    fn all_tags(&self) -> Tags {
        let mut tags = self.tags.clone();
        tags.insert(OWNER_TAG.to_owned(), self.owner.clone());
        tags
    }

    /// Whether the deployed configuration differs.
    pub fn configuration_differs(&self, deployed: &DeployedFunction) -> bool {
        deployed.role.as_deref() != Some(self.role.as_str())
            || deployed.memory_mb != Some(self.memory_mb)
            || deployed.disk_mb != Some(self.disk_mb)
            || deployed.timeout_seconds != Some(self.timeout_seconds)
            || deployed.env != self.env
    }
}

/// Lambda's minimum for `MaximumEventAgeInSeconds`, below the stall limit of any render (the
/// function's timeout plus a margin of at least 60 s, counted from when the launch was sent).
pub const MAXIMUM_EVENT_AGE_SECONDS: i32 = 60;

/// Invocations of a function that may run at once, and where the number comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FunctionCapacity {
    /// Invocations at once.
    pub invocations: i32,
    /// Where it comes from.
    pub source: remotion_crds::render_function::CapacitySource,
}

/// What an `info` invocation gave.
#[derive(Clone, Debug, PartialEq)]
pub enum InfoOutcome {
    /// The function's versions.
    Info(InfoResponse),
    /// The function reported an error.
    Failed(FunctionError),
    /// It answered something that is not an `info` response (not a render function).
    Unexpected(String),
}

/// The Lambda calls the controller makes.
pub trait FunctionApi: Send + Sync {
    /// The function's configuration and owner tag, `None` when it does not exist.
    fn get(&self, name: &str) -> BoxFuture<'_, Result<Option<DeployedFunction>, Error>>;
    /// Creates the function, tagged with its owner.
    fn create(&self, wanted: &WantedFunction) -> BoxFuture<'_, Result<(), Error>>;
    /// Deploys new code (image, architecture).
    fn update_code(&self, wanted: &WantedFunction) -> BoxFuture<'_, Result<(), Error>>;
    /// Updates the configuration (memory, disk, timeout, role, environment).
    fn update_configuration(&self, wanted: &WantedFunction) -> BoxFuture<'_, Result<(), Error>>;
    /// Configures asynchronous invocations (launches): no retries by Lambda (the function
    /// retries chunks itself and the operator retries refused launches), and events older than
    /// [`MAXIMUM_EVENT_AGE_SECONDS`] dropped, so that Lambda never delivers a launch after the
    /// operator has given its render up as stalled.
    fn configure_async_invocations(&self, name: &str) -> BoxFuture<'_, Result<(), Error>>;
    /// Changes the tags of the function `arn` (TagResource, UntagResource).
    fn update_tags(&self, arn: &str, changes: &TagChanges) -> BoxFuture<'_, Result<(), Error>>;
    /// The function's capacity: its reserved concurrency, else the account's unreserved
    /// concurrency in the region.
    fn capacity(&self, name: &str) -> BoxFuture<'_, Result<FunctionCapacity, Error>>;
    /// Invokes `info`.
    fn info(&self, name: &str) -> BoxFuture<'_, Result<InfoOutcome, Error>>;
}

/// Gives the [`FunctionApi`] for an `AwsAccess`.
pub trait FunctionApiFactory: Send + Sync {
    /// The API for `access` of a resource in `namespace`.
    fn for_access<'a>(
        &'a self,
        aws: &'a AwsFactory,
        namespace: &'a str,
        access: &'a AwsAccess,
    ) -> BoxFuture<'a, Result<Arc<dyn FunctionApi>, Error>>;
}

/// The real Lambda API through the AWS SDK.
pub struct SdkFunctions;

impl FunctionApiFactory for SdkFunctions {
    fn for_access<'a>(
        &'a self,
        aws: &'a AwsFactory,
        namespace: &'a str,
        access: &'a AwsAccess,
    ) -> BoxFuture<'a, Result<Arc<dyn FunctionApi>, Error>> {
        Box::pin(async move {
            let clients = aws.clients(namespace, access).await?;
            Ok(Arc::new(SdkFunctionApi { control: clients.lambda, invoke: clients.lambda_invoke })
                as Arc<dyn FunctionApi>)
        })
    }
}

struct SdkFunctionApi {
    control: aws_sdk_lambda::Client,
    invoke: aws_sdk_lambda::Client,
}

fn lambda_architecture(architecture: Architecture) -> LambdaArchitecture {
    match architecture {
        Architecture::X86_64 => LambdaArchitecture::X8664,
        Architecture::Arm64 => LambdaArchitecture::Arm64,
    }
}

fn environment(wanted: &WantedFunction) -> Environment {
    Environment::builder().set_variables(Some(wanted.env.clone().into_iter().collect())).build()
}

/// A control-plane failure as a reconcile error: a conflict with an update in progress or
/// throttling is retried like any transient error; a rejected parameter needs a spec change.
fn control_error<E>(
    what: &str,
    error: &aws_sdk_lambda::error::SdkError<E, aws_sdk_s3::config::http::HttpResponse>,
) -> Error
where
    E: aws_sdk_lambda::error::ProvideErrorMetadata + std::error::Error + 'static,
{
    let code = match error {
        aws_sdk_lambda::error::SdkError::ServiceError(e) => e.err().code(),
        _ => None,
    };
    match code {
        Some("InvalidParameterValueException") => {
            Error::new(Reason::InvalidFunctionSpec, format!("{what}: {}", describe(error)))
        }
        _ => Error::new(LAMBDA_ERROR, format!("{what}: {}", describe(error))),
    }
}

impl FunctionApi for SdkFunctionApi {
    fn get(&self, name: &str) -> BoxFuture<'_, Result<Option<DeployedFunction>, Error>> {
        let name = name.to_owned();
        Box::pin(async move {
            let out = match self.control.get_function().function_name(&name).send().await {
                Ok(out) => out,
                Err(e) if e.as_service_error().is_some_and(|s| s.is_resource_not_found_exception()) => return Ok(None),
                Err(e) => return Err(control_error(&format!("GetFunction {name}"), &e)),
            };
            let Some(config) = out.configuration() else { return Ok(None) };
            // GetFunction returns tags only to callers allowed lambda:ListTags, and silently
            // none otherwise: asked for explicitly, a missing permission is an error, never an
            // unowned function.
            let tags: Tags = match config.function_arn() {
                Some(arn) => self
                    .control
                    .list_tags()
                    .resource(arn)
                    .send()
                    .await
                    .map_err(|e| control_error(&format!("ListTags {name}"), &e))?
                    .tags()
                    .map(|tags| tags.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                    .unwrap_or_default(),
                None => Tags::new(),
            };
            let owner = tags.get(OWNER_TAG).cloned();
            let failed = matches!(config.state(), Some(State::Failed))
                || matches!(config.last_update_status(), Some(LastUpdateStatus::Failed));
            let lifecycle = if failed {
                Lifecycle::Failed
            } else if matches!(config.state(), Some(State::Pending))
                || matches!(config.last_update_status(), Some(LastUpdateStatus::InProgress))
            {
                Lifecycle::Pending
            } else if matches!(config.state(), Some(State::Inactive)) {
                Lifecycle::Inactive
            } else {
                Lifecycle::Active
            };
            Ok(Some(DeployedFunction {
                name: config.function_name().unwrap_or(&name).to_owned(),
                arn: config.function_arn().map(str::to_owned),
                lifecycle,
                failure: config
                    .last_update_status_reason()
                    .or(config.state_reason())
                    .map(str::to_owned)
                    .filter(|_| failed),
                image: out.code().and_then(|c| c.image_uri()).map(str::to_owned),
                role: config.role().map(str::to_owned),
                memory_mb: config.memory_size(),
                disk_mb: config.ephemeral_storage().map(|e| e.size()),
                timeout_seconds: config.timeout(),
                architecture: config.architectures().first().map(|a| match a {
                    LambdaArchitecture::Arm64 => Architecture::Arm64,
                    _ => Architecture::X86_64,
                }),
                env: config
                    .environment()
                    .and_then(|e| e.variables())
                    .map(|v| v.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                    .unwrap_or_default(),
                owner,
                tags,
            }))
        })
    }

    fn create(&self, wanted: &WantedFunction) -> BoxFuture<'_, Result<(), Error>> {
        let wanted = wanted.clone();
        Box::pin(async move {
            self.control
                .create_function()
                .function_name(&wanted.name)
                .package_type(PackageType::Image)
                .code(FunctionCode::builder().image_uri(&wanted.image).build())
                .role(&wanted.role)
                .memory_size(wanted.memory_mb)
                .timeout(wanted.timeout_seconds)
                .ephemeral_storage(EphemeralStorage::builder().size(wanted.disk_mb).build().map_err(build_error)?)
                .architectures(lambda_architecture(wanted.architecture))
                .environment(environment(&wanted))
                .description("Remotion render function (managed by remotion-operator)")
                .set_tags(Some(wanted.all_tags().into_iter().collect()))
                .send()
                .await
                .map(|_| ())
                .map_err(|e| control_error(&format!("CreateFunction {}", wanted.name), &e))
        })
    }

    fn update_code(&self, wanted: &WantedFunction) -> BoxFuture<'_, Result<(), Error>> {
        let wanted = wanted.clone();
        Box::pin(async move {
            self.control
                .update_function_code()
                .function_name(&wanted.name)
                .image_uri(&wanted.image)
                .architectures(lambda_architecture(wanted.architecture))
                .send()
                .await
                .map(|_| ())
                .map_err(|e| control_error(&format!("UpdateFunctionCode {}", wanted.name), &e))
        })
    }

    fn update_configuration(&self, wanted: &WantedFunction) -> BoxFuture<'_, Result<(), Error>> {
        let wanted = wanted.clone();
        Box::pin(async move {
            self.control
                .update_function_configuration()
                .function_name(&wanted.name)
                .role(&wanted.role)
                .memory_size(wanted.memory_mb)
                .timeout(wanted.timeout_seconds)
                .ephemeral_storage(EphemeralStorage::builder().size(wanted.disk_mb).build().map_err(build_error)?)
                .environment(environment(&wanted))
                .send()
                .await
                .map(|_| ())
                .map_err(|e| control_error(&format!("UpdateFunctionConfiguration {}", wanted.name), &e))
        })
    }

    fn configure_async_invocations(&self, name: &str) -> BoxFuture<'_, Result<(), Error>> {
        let name = name.to_owned();
        Box::pin(async move {
            self.control
                .put_function_event_invoke_config()
                .function_name(&name)
                .maximum_retry_attempts(0)
                .maximum_event_age_in_seconds(MAXIMUM_EVENT_AGE_SECONDS)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| control_error(&format!("PutFunctionEventInvokeConfig {name}"), &e))
        })
    }

    fn update_tags(&self, arn: &str, changes: &TagChanges) -> BoxFuture<'_, Result<(), Error>> {
        let (arn, changes) = (arn.to_owned(), changes.clone());
        Box::pin(async move {
            if !changes.remove.is_empty() {
                self.control
                    .untag_resource()
                    .resource(&arn)
                    .set_tag_keys(Some(changes.remove.into_iter().collect()))
                    .send()
                    .await
                    .map_err(|e| control_error(&format!("UntagResource {arn}"), &e))?;
            }
            if !changes.set.is_empty() {
                self.control
                    .tag_resource()
                    .resource(&arn)
                    .set_tags(Some(changes.set.into_iter().collect()))
                    .send()
                    .await
                    .map_err(|e| control_error(&format!("TagResource {arn}"), &e))?;
            }
            Ok(())
        })
    }

    fn capacity(&self, name: &str) -> BoxFuture<'_, Result<FunctionCapacity, Error>> {
        use remotion_crds::render_function::CapacitySource;
        let name = name.to_owned();
        Box::pin(async move {
            let reserved = self
                .control
                .get_function_concurrency()
                .function_name(&name)
                .send()
                .await
                .map_err(|e| control_error(&format!("GetFunctionConcurrency {name}"), &e))?
                .reserved_concurrent_executions;
            if let Some(invocations) = reserved {
                return Ok(FunctionCapacity { invocations, source: CapacitySource::ReservedConcurrency });
            }
            let settings = self
                .control
                .get_account_settings()
                .send()
                .await
                .map_err(|e| control_error("GetAccountSettings", &e))?;
            let unreserved = settings.account_limit.and_then(|l| l.unreserved_concurrent_executions);
            match unreserved {
                Some(invocations) => {
                    Ok(FunctionCapacity { invocations, source: CapacitySource::AccountUnreservedConcurrency })
                }
                None => Err(Error::new(LAMBDA_ERROR, "GetAccountSettings named no unreserved concurrency")),
            }
        })
    }

    fn info(&self, name: &str) -> BoxFuture<'_, Result<InfoOutcome, Error>> {
        let name = name.to_owned();
        Box::pin(async move {
            let payload = serde_json::to_value(Payload::Info)
                .map_err(|e| Error::caused_by(Reason::InternalError, "serializing info", e))?;
            match invoke_json(&self.invoke, &name, &payload, INFO_TIMEOUT).await {
                Ok(Ok(answer)) => Ok(match serde_json::from_value::<InfoResponse>(answer.clone()) {
                    Ok(info) => InfoOutcome::Info(info),
                    Err(e) => InfoOutcome::Unexpected(format!("{e}: {}", truncate(&answer.to_string(), 300))),
                }),
                Ok(Err(reported)) => Ok(InfoOutcome::Failed(reported)),
                Err(InvokeError::NotFound(function)) => Err(Error::new(
                    Reason::LambdaFunctionNotFound,
                    format!(
                        "Lambda function {function} does not exist in this region; deploy it or fix spec.functionName"
                    ),
                )),
                Err(InvokeError::NotJson { function, message }) => Ok(InfoOutcome::Unexpected(format!(
                    "{function} answered with something that is not JSON: {message}"
                ))),
                Err(other) => Err(Error::caused_by(Reason::FunctionUnreachable, other.to_string(), other)),
            }
        })
    }
}

fn build_error(error: aws_sdk_lambda::error::BuildError) -> Error {
    Error::caused_by(Reason::InternalError, "building a Lambda request", error)
}

fn truncate(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}
