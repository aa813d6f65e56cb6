//! The HTTP server of a bundle on 127.0.0.1: `GET` and `HEAD` of the bundle's files, with byte
//! ranges and validators, from a local folder or a bucket prefix.

use std::convert::Infallible;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use super::answer::{Answer, Body, message};
use super::bucket::Object;
use super::request::FileRequest;
use super::{content_type, folder, resolve};
use crate::error::RenderError;

/// Where the served files come from.
#[derive(Clone)]
enum Files {
    /// A local folder.
    Dir(Arc<PathBuf>),
    /// A folder of a bucket, read with the function's credentials.
    S3 { client: aws_sdk_s3::Client, bucket: Arc<str>, prefix: Arc<str> },
}

/// An HTTP server over a bundle (local folder or bucket prefix).
pub struct SiteServer {
    /// `http://127.0.0.1:<port>/`
    pub base_url: String,
    task: JoinHandle<()>,
}

impl SiteServer {
    /// Serves `root` on a free port of 127.0.0.1 until dropped.
    pub async fn serve_dir(root: impl Into<PathBuf>) -> Result<Self, RenderError> {
        let root: Arc<PathBuf> = Arc::new(root.into());
        if !root.join("index.html").is_file() {
            return Err(RenderError::InvalidInput(format!(
                "{} has no index.html: pass the output folder of `npx remotion bundle`",
                root.display()
            )));
        }
        Self::serve(Files::Dir(root)).await
    }

    /// Serves `s3://bucket/prefix` (prefix ending in `/`) on a free port of 127.0.0.1, so a
    /// private bucket can be rendered from. Fails when the prefix has no `index.html`.
    pub async fn serve_s3(client: aws_sdk_s3::Client, bucket: &str, prefix: &str) -> Result<Self, RenderError> {
        let index = format!("{prefix}index.html");
        if let Err(e) = client.head_object().bucket(bucket).key(&index).send().await {
            return Err(RenderError::SiteUnavailable {
                url: format!("s3://{bucket}/{index}"),
                message: aws_sdk_s3::error::DisplayErrorContext(e).to_string(),
            });
        }
        Self::serve(Files::S3 { client, bucket: bucket.into(), prefix: prefix.into() }).await
    }

    async fn serve(files: Files) -> Result<Self, RenderError> {
        let listener = TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
            .await
            .map_err(|e| RenderError::io("binding the site server", e))?;
        let port = listener.local_addr().map_err(|e| RenderError::io("reading the site server address", e))?.port();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else { continue };
                let files = files.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req| serve(files.clone(), req));
                    let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
                });
            }
        });
        Ok(Self { base_url: format!("http://127.0.0.1:{port}/"), task })
    }

    /// The URL of the site's entry page.
    pub fn index_url(&self) -> String {
        format!("{}index.html", self.base_url)
    }
}

impl Drop for SiteServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(files: Files, req: Request<Incoming>) -> Result<Response<Body>, Infallible> {
    let head = match *req.method() {
        Method::GET => false,
        Method::HEAD => true,
        _ => {
            let mut refused = Response::new(message("only GET and HEAD"));
            *refused.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
            refused.headers_mut().insert(hyper::header::ALLOW, hyper::header::HeaderValue::from_static("GET, HEAD"));
            return Ok(refused);
        }
    };
    // The same path rules for both sources: relative to the bundle root, never above it.
    let Some(relative) = resolve(Path::new(""), req.uri().path()) else {
        let mut refused = Response::new(message("bad path"));
        *refused.status_mut() = StatusCode::BAD_REQUEST;
        return Ok(refused);
    };
    let relative = relative.to_string_lossy().into_owned();
    let request = FileRequest::new(head, req.headers());
    let answer = match &files {
        Files::Dir(root) => folder::answer(&root.join(&relative), &request).await,
        Files::S3 { client, bucket, prefix } => {
            let key = format!("{prefix}{relative}");
            Object { client, bucket, key: &key }.answer(&request).await
        }
    };
    if let Answer::Failed(why) = &answer {
        tracing::warn!(error = %why, path = %relative, "site file could not be read");
    }
    let response = answer.into_response(content_type(&relative));
    tracing::debug!(
        method = %req.method(),
        path = %relative,
        range = ?request.range.map(|r| r.header_value()),
        status = response.status().as_u16(),
        "site request"
    );
    Ok(response)
}
