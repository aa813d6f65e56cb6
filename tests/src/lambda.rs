//! The Lambda stand-in: cargo-lambda's Invoke and Runtime APIs (`cargo lambda watch
//! --only-lambda-apis`), with function processes the tests start themselves. Invocations go
//! through a [`LambdaFront`] that answers as AWS does.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result};
use aws_sdk_lambda::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_lambda::primitives::Blob;
use serde_json::Value;

use crate::lambda_front::LambdaFront;
use crate::process::{Reaper, Spawned, free_port, port_open, spawn_logged, wait_until};
use crate::sandbox::{self, FunctionSize, Root};

/// Function names the emulator serves: `remotion-render` plus `test-fn-00` … `test-fn-71`,
/// so that tests can each have a queue of their own.
pub fn function_names() -> Vec<String> {
    std::iter::once("remotion-render".to_owned()).chain((0..72).map(|i| format!("test-fn-{i:02}"))).collect()
}

/// A running emulator.
#[derive(Clone, Debug)]
pub struct LambdaEmulator {
    /// Invoke API endpoint, `http://127.0.0.1:<port>` (the front).
    pub endpoint: String,
    /// The emulator itself (its runtime API serves the function processes).
    upstream: String,
    dir: PathBuf,
}

impl LambdaEmulator {
    /// Starts the emulator from a small stub folder (it walks its working directory at start,
    /// and routes only names that are `[[bin]]` targets of the manifest there; nothing is built).
    pub fn start(reaper: &Reaper, dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir.join("src"))?;
        let bins: String = function_names()
            .iter()
            .map(|name| format!("[[bin]]\nname = \"{name}\"\npath = \"src/main.rs\"\n\n"))
            .collect();
        std::fs::write(
            dir.join("Cargo.toml"),
            format!(
                "[package]\nname = \"lambda-stub\"\nversion = \"0.0.0\"\nedition = \"2021\"\n\n{bins}[workspace]\n"
            ),
        )?;
        std::fs::write(dir.join("src/main.rs"), "fn main() {}\n")?;
        let port = free_port()?;
        let mut command = Command::new("cargo");
        command
            .args(["lambda", "watch", "--only-lambda-apis", "-A", "127.0.0.1", "-P", &port.to_string()])
            .current_dir(dir);
        let mut process = spawn_logged(reaper, command, &dir.join("cargo-lambda.log"))
            .context("starting cargo lambda watch (pip install cargo-lambda)")?;
        wait_until("cargo-lambda invoke port", Duration::from_secs(60), || {
            process.check_alive("cargo lambda watch")?;
            Ok(port_open(port))
        })?;
        let upstream = format!("http://127.0.0.1:{port}");
        let front = LambdaFront::start(upstream.clone())?;
        Ok(Self { endpoint: front.endpoint, upstream, dir: dir.to_path_buf() })
    }

    /// An Invoke API client for the emulator, with SDK retries off: a failed function must
    /// not be run again behind the caller's back.
    pub fn client(&self) -> aws_sdk_lambda::Client {
        let config = aws_sdk_lambda::config::Builder::new()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(crate::s3::REGION))
            .endpoint_url(&self.endpoint)
            .credentials_provider(Credentials::new(crate::s3::ACCESS_KEY, crate::s3::SECRET_KEY, None, None, "tests"))
            .retry_config(aws_sdk_lambda::config::retry::RetryConfig::disabled())
            .build();
        aws_sdk_lambda::Client::from_conf(config)
    }

    /// `AWS_LAMBDA_RUNTIME_API` for processes serving `function_name`.
    pub fn runtime_api(&self, function_name: &str) -> String {
        format!("{}/.rt/{function_name}", self.upstream)
    }

    /// Starts one process of `binary` serving `function_name` (N processes = N concurrent
    /// invocations), inside Lambda's emulated sandbox unless it is turned off (see
    /// [`crate::sandbox`]), on the `root` filesystem. `env` adds to the Lambda environment
    /// variables.
    pub fn spawn_function(
        &self,
        reaper: &Reaper,
        binary: &Path,
        function_name: &str,
        size: &FunctionSize,
        root: &Root,
        env: &[(&str, &str)],
    ) -> Result<Spawned> {
        let mut lambda_env: Vec<(String, String)> = vec![
            ("AWS_LAMBDA_RUNTIME_API".into(), self.runtime_api(function_name)),
            ("AWS_LAMBDA_FUNCTION_NAME".into(), function_name.into()),
            ("AWS_LAMBDA_FUNCTION_VERSION".into(), "$LATEST".into()),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE".into(), size.memory_mb.to_string()),
        ];
        lambda_env.extend(env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
        let log = self.dir.join(format!(
            "{function_name}-{}.log",
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_nanos()
        ));
        if sandbox::enabled() {
            let (command, confinement) = sandbox::confine(reaper, binary, size, root, &lambda_env)?;
            let mut spawned = spawn_logged(reaper, command, &log)?;
            spawned.confinement = Some(confinement);
            Ok(spawned)
        } else {
            anyhow::ensure!(
                matches!(root, Root::Host),
                "the function image's filesystem needs the sandbox (REMOTION_TEST_SANDBOX is off)"
            );
            let mut command = Command::new(binary);
            command.envs(lambda_env);
            spawn_logged(reaper, command, &log)
        }
    }
}

/// What an invocation returned: the answer, or the function's `{errorType, errorMessage}`.
pub type Invoked = std::result::Result<Value, Value>;

/// Invokes `function` synchronously with a JSON payload; the function's errors (200 with
/// `X-Amz-Function-Error`) come back as `Err(body)`.
pub async fn invoke(client: &aws_sdk_lambda::Client, function: &str, payload: &Value) -> Result<Invoked> {
    let body = serde_json::to_vec(payload)?;
    let out = client
        .invoke()
        .function_name(function)
        .payload(Blob::new(body))
        .send()
        .await
        .with_context(|| format!("invoking {function}"))?;
    let body: Value = serde_json::from_slice(out.payload().map(Blob::as_ref).unwrap_or(b"null"))?;
    Ok(if out.function_error().is_some() { Err(body) } else { Ok(body) })
}
