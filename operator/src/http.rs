//! The operator's HTTP server: `GET /health` (the process is up), `GET /ready` (503 until the
//! CRDs are served and the controllers run) and `GET /metrics` (OpenMetrics text).

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode, header};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::metrics::{self, Metrics};

/// Whether the operator is ready to serve; cloned handles share one flag.
#[derive(Clone, Debug, Default)]
pub struct Readiness(Arc<AtomicBool>);

impl Readiness {
    /// Marks the operator ready (or not).
    pub fn set(&self, ready: bool) {
        self.0.store(ready, Ordering::SeqCst);
    }

    /// Whether it is ready.
    pub fn is_ready(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// What the server answers from.
#[derive(Clone)]
pub struct HttpState {
    /// Metrics to expose.
    pub metrics: Arc<Metrics>,
    /// The readiness flag.
    pub readiness: Readiness,
}

/// A slow or idle client must not hold a connection (and a task) forever.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves requests on `listener` until `shutdown` is cancelled.
pub async fn serve(listener: TcpListener, state: HttpState, shutdown: CancellationToken) {
    loop {
        let accepted = tokio::select! {
            _ = shutdown.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(error) => {
                tracing::warn!(%error, "accepting an HTTP connection failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let state = state.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                let state = state.clone();
                async move { Ok::<_, Infallible>(respond(&state, &request)) }
            });
            let mut builder = http1::Builder::new();
            builder.timer(hyper_util::rt::TokioTimer::new()).header_read_timeout(HEADER_READ_TIMEOUT);
            if let Err(error) = builder.serve_connection(TokioIo::new(stream), service).await {
                tracing::debug!(%error, "HTTP connection ended with an error");
            }
        });
    }
}

fn respond(state: &HttpState, request: &Request<Incoming>) -> Response<Full<Bytes>> {
    if request.method() != Method::GET && request.method() != Method::HEAD {
        return text(StatusCode::METHOD_NOT_ALLOWED, "only GET\n");
    }
    match request.uri().path() {
        "/health" | "/healthz" => text(StatusCode::OK, "ok\n"),
        "/ready" | "/readyz" if state.readiness.is_ready() => text(StatusCode::OK, "ready\n"),
        "/ready" | "/readyz" => text(StatusCode::SERVICE_UNAVAILABLE, "waiting for the CRDs and the controllers\n"),
        "/metrics" => {
            let mut response = Response::new(Full::new(Bytes::from(state.metrics.encode())));
            response
                .headers_mut()
                .insert(header::CONTENT_TYPE, header::HeaderValue::from_static(metrics::CONTENT_TYPE));
            response
        }
        _ => text(StatusCode::NOT_FOUND, "not found\n"),
    }
}

fn text(status: StatusCode, body: &'static str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *response.status_mut() = status;
    response.headers_mut().insert(header::CONTENT_TYPE, header::HeaderValue::from_static("text/plain; charset=utf-8"));
    response
}
