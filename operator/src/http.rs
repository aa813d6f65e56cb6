//! The operator's HTTP server: `GET /health` (the process is up), `GET /ready` (503 until the
//! CRDs are served and the controllers run) and `GET /metrics` (OpenMetrics text). The probes
//! and the metrics can be served on two listeners, so that a NetworkPolicy or a Service can
//! open one without the other.

use std::convert::Infallible;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
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

/// Which paths a listener answers; the others get 404.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Endpoints {
    /// `/health`, `/ready` and `/metrics` on one port.
    All,
    /// `/health` and `/ready` only (the kubelet's port).
    Probes,
    /// `/metrics` only (the scraper's port).
    Metrics,
}

impl Endpoints {
    fn probes(self) -> bool {
        matches!(self, Endpoints::All | Endpoints::Probes)
    }

    fn metrics(self) -> bool {
        matches!(self, Endpoints::All | Endpoints::Metrics)
    }
}

/// A slow or idle client must not hold a connection (and a task) forever.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Binds `addr`. The unspecified IPv6 address (`[::]`) takes IPv4 connections too (a pod's
/// network namespace keeps `net.ipv6.bindv6only` at 0), so one default serves IPv4, IPv6 and
/// dual-stack clusters; on a kernel without IPv6 it fails, and `0.0.0.0` on the same port is
/// bound instead.
pub async fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    match TcpListener::bind(addr).await {
        Ok(listener) => Ok(listener),
        Err(error) if addr.is_ipv6() && addr.ip().is_unspecified() => {
            let v4 = SocketAddr::from((Ipv4Addr::UNSPECIFIED, addr.port()));
            match TcpListener::bind(v4).await {
                Ok(listener) => {
                    tracing::warn!(%addr, %error, fallback = %v4, "no IPv6: listening on IPv4 only");
                    Ok(listener)
                }
                Err(_) => Err(error),
            }
        }
        Err(error) => Err(error),
    }
}

/// Serves all endpoints on `listener` until `shutdown` is cancelled.
pub async fn serve(listener: TcpListener, state: HttpState, shutdown: CancellationToken) {
    serve_endpoints(listener, state, Endpoints::All, shutdown).await;
}

/// Serves `endpoints` on `listener` until `shutdown` is cancelled.
pub async fn serve_endpoints(
    listener: TcpListener,
    state: HttpState,
    endpoints: Endpoints,
    shutdown: CancellationToken,
) {
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
            let service = service_fn(move |request: Request<Incoming>| {
                let state = state.clone();
                async move { Ok::<_, Infallible>(respond(&state, endpoints, request.method(), request.uri().path())) }
            });
            let mut builder = http1::Builder::new();
            builder.timer(hyper_util::rt::TokioTimer::new()).header_read_timeout(HEADER_READ_TIMEOUT);
            if let Err(error) = builder.serve_connection(TokioIo::new(stream), service).await {
                tracing::debug!(%error, "HTTP connection ended with an error");
            }
        });
    }
}

fn respond(state: &HttpState, endpoints: Endpoints, method: &Method, path: &str) -> Response<Full<Bytes>> {
    if method != Method::GET && method != Method::HEAD {
        return text(StatusCode::METHOD_NOT_ALLOWED, "only GET\n");
    }
    match path {
        "/health" | "/healthz" if endpoints.probes() => text(StatusCode::OK, "ok\n"),
        "/ready" | "/readyz" if endpoints.probes() && state.readiness.is_ready() => text(StatusCode::OK, "ready\n"),
        "/ready" | "/readyz" if endpoints.probes() => {
            text(StatusCode::SERVICE_UNAVAILABLE, "waiting for the CRDs and the controllers\n")
        }
        "/metrics" if endpoints.metrics() => {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn status(endpoints: Endpoints, path: &str) -> StatusCode {
        let state = HttpState { metrics: Arc::new(Metrics::new()), readiness: Readiness::default() };
        state.readiness.set(true);
        respond(&state, endpoints, &Method::GET, path).status()
    }

    #[test]
    fn each_listener_answers_only_its_endpoints() {
        for path in ["/health", "/ready", "/metrics"] {
            assert_eq!(status(Endpoints::All, path), StatusCode::OK, "{path}");
        }
        assert_eq!(status(Endpoints::Probes, "/health"), StatusCode::OK);
        assert_eq!(status(Endpoints::Probes, "/ready"), StatusCode::OK);
        assert_eq!(status(Endpoints::Probes, "/metrics"), StatusCode::NOT_FOUND);
        assert_eq!(status(Endpoints::Metrics, "/metrics"), StatusCode::OK);
        assert_eq!(status(Endpoints::Metrics, "/health"), StatusCode::NOT_FOUND);
        assert_eq!(status(Endpoints::Metrics, "/ready"), StatusCode::NOT_FOUND);
    }

    /// `[::]` takes IPv4 clients too (or, without IPv6, falls back to `0.0.0.0`).
    #[tokio::test]
    async fn unspecified_ipv6_takes_ipv4_connections() {
        let listener = bind("[::]:0".parse().unwrap()).await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (client, accepted) =
            tokio::join!(tokio::net::TcpStream::connect((Ipv4Addr::LOCALHOST, port)), listener.accept());
        client.unwrap();
        accepted.unwrap();
    }
}
