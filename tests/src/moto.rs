//! The AWS control plane stand-in: moto in server mode (`moto_server`, PyPI), which implements
//! Lambda's control-plane API (functions from images, updates, tags, event-invoke
//! configuration, concurrency) and IAM. It cannot run an image, so [`LambdaSplit`] puts one
//! endpoint in front of both: Invoke goes to the Lambda emulator, every other Lambda call to
//! moto, as one AWS endpoint would answer both.
//!
//! Known differences from AWS, measured with moto 5.2.5: functions are `Active` at once (no
//! `Pending`), `GetAccountSettings` is not implemented (404), and
//! `UpdateFunctionConfiguration` ignores `EphemeralStorage`.

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

impl Moto {
    /// Starts `moto_server` on a free port of 127.0.0.1, logging into `dir`; stopped when the
    /// test binary exits.
    pub fn start(reaper: &Reaper, dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir)?;
        let port = free_port()?;
        let mut command = Command::new("moto_server");
        command.args(["-H", "127.0.0.1", "-p", &port.to_string()]);
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
        let script = r#"
import boto3, json, sys
iam = boto3.client("iam", endpoint_url=sys.argv[1], region_name="us-east-1",
                   aws_access_key_id="testing", aws_secret_access_key="testing")
trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
         "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
print(iam.create_role(RoleName=sys.argv[2], AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"])
"#;
        let out = Command::new("python3")
            .args(["-c", script, &self.endpoint, name])
            .output()
            .context("running python3 with boto3")?;
        if !out.status.success() {
            bail!("creating IAM role {name} on moto failed: {}", String::from_utf8_lossy(&out.stderr));
        }
        Ok(String::from_utf8(out.stdout)?.trim().to_owned())
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
