//! The AWS control plane stand-in: moto in server mode (`moto_server`, PyPI), which implements
//! Lambda's control-plane API (functions from images, updates, tags, event-invoke
//! configuration, concurrency) and IAM. It cannot run an image, so [`LambdaSplit`] puts one
//! endpoint in front of both: Invoke goes to the Lambda emulator, every other Lambda call to
//! moto, as one AWS endpoint would answer both.
//!
//! Known differences from AWS, measured with moto 5.2.5: functions are `Active` at once (no
//! `Pending`), `GetAccountSettings` is not implemented (404), and
//! `UpdateFunctionConfiguration` ignores `EphemeralStorage`; without IAM enforcement STS'
//! `AssumeRole` does not check the trust policy (its `sts:ExternalId` condition included), so
//! tests check the external ID presented in moto's recording ([`Moto::recording`]).

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;

use crate::process::{Reaper, Spawned, free_port, port_open, spawn_logged, wait_until};

/// A running moto server.
pub struct Moto {
    /// `http://127.0.0.1:<port>`.
    pub endpoint: String,
    _process: Spawned,
}

/// Access keys of an IAM user.
#[derive(Clone, Debug, serde::Deserialize)]
pub struct UserKeys {
    /// Access key id.
    pub access_key_id: String,
    /// Secret access key.
    pub secret_access_key: String,
}

/// A moto server that authorizes every request against IAM, with its users.
pub struct EnforcingMoto {
    /// The server.
    pub moto: Moto,
    /// Each user's keys, by name.
    pub users: std::collections::BTreeMap<String, UserKeys>,
}

/// Creates the users with their policies: exactly [`setup_actions`] calls, the ones moto lets
/// through before it starts enforcing IAM.
const SETUP_SCRIPT: &str = r#"
import boto3, json, sys
iam = boto3.client("iam", endpoint_url=sys.argv[1], region_name="us-east-1",
                   aws_access_key_id="testing", aws_secret_access_key="testing")
out = {"users": {}}
for user, policy in json.loads(sys.argv[2]).items():
    iam.create_user(UserName=user)
    arn = iam.create_policy(PolicyName=user, PolicyDocument=policy)["Policy"]["Arn"]
    iam.attach_user_policy(UserName=user, PolicyArn=arn)
    key = iam.create_access_key(UserName=user)["AccessKey"]
    out["users"][user] = {"access_key_id": key["AccessKeyId"], "secret_access_key": key["SecretAccessKey"]}
print(json.dumps(out))
"#;

/// Calls of [`SETUP_SCRIPT`]: four per user.
fn setup_actions(users: usize) -> usize {
    4 * users
}

#[derive(serde::Deserialize)]
struct SetupOutput {
    users: std::collections::BTreeMap<String, UserKeys>,
}

impl EnforcingMoto {
    /// Starts a moto server of its own that enforces IAM once `users` (name → policy
    /// document) exist: every later request is authorized by moto's policy evaluator against
    /// the policies of the user whose keys signed it.
    pub fn start(reaper: &Reaper, dir: &Path, users: &[(&str, &str)]) -> Result<Self> {
        let moto = Moto::start_with(reaper, dir, &[("INITIAL_NO_AUTH_ACTION_COUNT", setup_actions(users.len()))])?;
        let policies: serde_json::Map<String, serde_json::Value> =
            users.iter().map(|(name, policy)| ((*name).to_owned(), serde_json::Value::from(*policy))).collect();
        let out = Command::new("python3")
            .args(["-c", SETUP_SCRIPT, &moto.endpoint, &serde_json::Value::Object(policies).to_string()])
            .output()
            .context("running python3 with boto3")?;
        if !out.status.success() {
            bail!("setting up IAM on moto failed: {}", String::from_utf8_lossy(&out.stderr));
        }
        let setup: SetupOutput = serde_json::from_slice(&out.stdout).context("reading the IAM setup's output")?;
        Ok(Self { moto, users: setup.users })
    }
}

impl Moto {
    /// Starts `moto_server` on a free port of 127.0.0.1, logging into `dir`; stopped when the
    /// test binary exits.
    pub fn start(reaper: &Reaper, dir: &Path) -> Result<Self> {
        Self::start_with(reaper, dir, &[])
    }

    fn start_with(reaper: &Reaper, dir: &Path, env: &[(&str, usize)]) -> Result<Self> {
        std::fs::create_dir_all(dir)?;
        let port = free_port()?;
        let mut command = Command::new("moto_server");
        command.args(["-H", "127.0.0.1", "-p", &port.to_string()]);
        for (name, value) in env {
            command.env(name, value.to_string());
        }
        // moto's request recorder (see [`Moto::start_recording`]) writes here, not in the
        // working directory.
        command.env("MOTO_RECORDER_FILEPATH", dir.join("recording.jsonl"));
        let mut process = spawn_logged(reaper, command, &dir.join("moto.log"))
            .context("starting moto_server (pip install 'moto[server]'; scripts/install-deps.sh does)")?;
        wait_until("moto_server", Duration::from_secs(30), || {
            process.check_alive("moto_server")?;
            Ok(port_open(port))
        })?;
        Ok(Self { endpoint: format!("http://127.0.0.1:{port}"), _process: process })
    }

    /// Creates an IAM role Lambda may assume (moto refuses functions whose role does not
    /// exist, as AWS does) and returns its ARN. Through boto3, which moto brings.
    pub fn create_lambda_role(&self, name: &str) -> Result<String> {
        let trust = r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
            "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}"#;
        self.create_role(name, trust)
    }

    /// Creates an IAM role the account may assume when it presents `external_id` (the trust
    /// policy a tenant gives the operator) and returns its ARN.
    pub fn create_role_requiring_external_id(&self, name: &str, external_id: &str) -> Result<String> {
        let trust = serde_json::json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
            "Principal": {"AWS": "arn:aws:iam::123456789012:root"}, "Action": "sts:AssumeRole",
            "Condition": {"StringEquals": {"sts:ExternalId": external_id}}}]});
        self.create_role(name, &trust.to_string())
    }

    fn create_role(&self, name: &str, trust_policy: &str) -> Result<String> {
        let script = r#"
import boto3, sys
iam = boto3.client("iam", endpoint_url=sys.argv[1], region_name="us-east-1",
                   aws_access_key_id="testing", aws_secret_access_key="testing")
print(iam.create_role(RoleName=sys.argv[2], AssumeRolePolicyDocument=sys.argv[3])["Role"]["Arn"])
"#;
        let out = Command::new("python3")
            .args(["-c", script, &self.endpoint, name, trust_policy])
            .output()
            .context("running python3 with boto3")?;
        if !out.status.success() {
            bail!("creating IAM role {name} on moto failed: {}", String::from_utf8_lossy(&out.stderr));
        }
        Ok(String::from_utf8(out.stdout)?.trim().to_owned())
    }

    /// Starts moto's request recorder: every request moto answers from now on is kept, with
    /// its headers and body, for [`Moto::recording`]. Tests sharing this moto are recorded too.
    pub async fn start_recording(&self) -> Result<()> {
        let url = format!("{}/moto-api/recorder/start-recording", self.endpoint);
        reqwest::Client::new().post(url).send().await?.error_for_status()?;
        Ok(())
    }

    /// The requests recorded since [`Moto::start_recording`].
    pub async fn recording(&self) -> Result<Vec<MotoRequest>> {
        let url = format!("{}/moto-api/recorder/download-recording", self.endpoint);
        let text = reqwest::Client::new().get(url).send().await?.error_for_status()?.text().await?;
        text.lines().filter(|l| !l.trim().is_empty()).map(MotoRequest::parse).collect()
    }
}

/// One request moto's recorder kept.
#[derive(Clone, Debug)]
pub struct MotoRequest {
    /// HTTP method.
    pub method: String,
    /// The whole URL.
    pub url: String,
    /// Header names and values.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl MotoRequest {
    fn parse(line: &str) -> Result<Self> {
        use base64::Engine as _;
        let record: serde_json::Value = serde_json::from_str(line).context("a line of moto's recording")?;
        let text = |field: &str| record[field].as_str().unwrap_or_default().to_owned();
        let headers = record["headers"]
            .as_object()
            .map(|h| h.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned())).collect())
            .unwrap_or_default();
        // moto keeps bodies base64-encoded.
        let body = base64::engine::general_purpose::STANDARD.decode(text("body")).unwrap_or_default();
        Ok(Self { method: text("method"), url: text("url"), headers, body })
    }

    /// A header's value (names compared without case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The access key the request was signed with (from its SigV4 `Authorization`).
    pub fn access_key(&self) -> Option<&str> {
        let authorization = self.header("authorization")?;
        let credential = authorization.split("Credential=").nth(1)?;
        credential.split('/').next()
    }

    /// The form parameters of a Query-protocol call (IAM, STS): `Action`, `RoleArn`, ….
    pub fn form(&self) -> Vec<(String, String)> {
        // The form is a query string; reqwest's URL type parses it.
        let query = format!("http://form/?{}", String::from_utf8_lossy(&self.body));
        reqwest::Url::parse(&query)
            .map(|url| url.query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect())
            .unwrap_or_default()
    }
}

type SplitBody = BoxBody<Bytes, hyper::Error>;

/// One Lambda endpoint whose Invoke calls go to `invoke` (the emulator) and all other calls to
/// `control` (moto). Lives on the runtime of the test that started it; stops when dropped.
pub struct LambdaSplit {
    /// `http://127.0.0.1:<port>`.
    pub endpoint: String,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for LambdaSplit {
    fn drop(&mut self) {
        self.task.abort();
    }
}

struct Upstreams {
    invoke: String,
    control: String,
}

impl LambdaSplit {
    /// Starts the split in front of `invoke_endpoint` and `control_endpoint` (`http://host:port`).
    pub async fn start(invoke_endpoint: &str, control_endpoint: &str) -> Result<Self> {
        let authority = |endpoint: &str| endpoint.trim_start_matches("http://").trim_end_matches('/').to_owned();
        let upstreams =
            Arc::new(Upstreams { invoke: authority(invoke_endpoint), control: authority(control_endpoint) });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.context("binding the Lambda split")?;
        let endpoint = format!("http://{}", listener.local_addr()?);
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                };
                let upstreams = upstreams.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |request| route(request, upstreams.clone()));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Ok(Self { endpoint, task })
    }
}

/// Whether a Lambda request is Invoke (`POST /2015-03-31/functions/<name>/invocations`).
fn is_invoke(path: &str) -> bool {
    path.ends_with("/invocations")
}

async fn route(request: Request<Incoming>, upstreams: Arc<Upstreams>) -> Result<Response<SplitBody>, hyper::Error> {
    let upstream = if is_invoke(request.uri().path()) { &upstreams.invoke } else { &upstreams.control };
    let (parts, body) = request.into_parts();
    let onward = Request::from_parts(parts, body.boxed());
    match send(upstream, onward).await {
        Ok(answer) => Ok(answer.map(BodyExt::boxed)),
        Err(e) => {
            let mut response =
                Response::new(Full::new(Bytes::from(format!("Lambda split: {e:#}"))).map_err(|n| match n {}).boxed());
            *response.status_mut() = StatusCode::BAD_GATEWAY;
            Ok(response)
        }
    }
}

/// Sends `request` unchanged (headers included: signatures over `Host` still verify).
async fn send(upstream: &str, request: Request<SplitBody>) -> Result<Response<Incoming>> {
    let stream = tokio::net::TcpStream::connect(upstream).await.with_context(|| format!("connecting to {upstream}"))?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    Ok(sender.send_request(request).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_invoke_goes_to_the_emulator() {
        assert!(is_invoke("/2015-03-31/functions/test-fn-40/invocations"));
        assert!(!is_invoke("/2015-03-31/functions/test-fn-40"));
        assert!(!is_invoke("/2015-03-31/functions"));
        assert!(!is_invoke("/2017-03-31/tags/arn:aws:lambda:us-east-1:123456789012:function:f"));
    }
}
