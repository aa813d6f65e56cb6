//! The HTTP side of the frame server: `GET /proxy?src=&time=&transparent=&toneMapped=` on
//! 127.0.0.1, answered like Remotion's renderer answers it (reference/remotion.md §3 G):
//! the image with `access-control-allow-origin: *` (the page fetches it cross-origin) and no
//! caching, or a 500 with `{"error": "<message>"}`, which the page turns into
//! `cancelRender(new Error(message))`: the frame fails at once with that message instead of
//! waiting for its delayRender timeout.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode, header};
use hyper_util::rt::TokioIo;
use remotion_protocol::payload::ErrorKind;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

use super::extract::ExtractError;
use super::image::Image;
use super::pool::Decoders;
use crate::assets::cache::AssetCache;
use crate::error::RenderError;
use remotion_protocol::page::PageSettings;

/// Longest wait for a source to be fetched (the fetch itself has connect and read timeouts; a
/// large file on a slow link is cut off here and reported instead of hanging the page).
const FETCH_TIMEOUT: Duration = Duration::from_secs(120);
/// Longest wait for one frame to be decoded and encoded (a seek in a long 4K file takes well
/// under a second; past this something is wrong with the file).
const DECODE_TIMEOUT: Duration = Duration::from_secs(60);
/// Failures remembered to explain the page's errors.
const FAILURES_KEPT: usize = 16;

/// A request the server could not answer.
#[derive(Clone, Debug)]
struct Failure {
    src: String,
    time: f64,
    /// What the page was told (it ends up in the page's error).
    message: String,
    /// The reason alone.
    reason: String,
    kind: ErrorKind,
}

struct State {
    assets: Arc<AssetCache>,
    decoders: Arc<Decoders>,
    /// Permits for decoding (the render's `offthreadVideoThreads`); `None`: no bound beyond
    /// the tabs asking.
    threads: Mutex<Option<Arc<Semaphore>>>,
    failures: Mutex<VecDeque<Failure>>,
}

/// Serves `<OffthreadVideo>` frames on a free port of 127.0.0.1 until dropped.
pub struct FrameServer {
    port: u16,
    state: Arc<State>,
    task: JoinHandle<()>,
}

impl FrameServer {
    /// Starts serving frames of sources fetched through `assets`.
    pub async fn start(assets: Arc<AssetCache>) -> Result<Self, RenderError> {
        let listener = TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
            .await
            .map_err(|e| RenderError::io("binding the OffthreadVideo frame server", e))?;
        let port = listener
            .local_addr()
            .map_err(|e| RenderError::io("reading the OffthreadVideo frame server address", e))?
            .port();
        let state = Arc::new(State {
            assets,
            decoders: Arc::new(Decoders::default()),
            threads: Mutex::new(None),
            failures: Mutex::new(VecDeque::new()),
        });
        let served = state.clone();
        let task = tokio::spawn(async move {
            loop {
                let stream = match listener.accept().await {
                    Ok((stream, _)) => stream,
                    Err(e) => {
                        // Out of file descriptors and the like: back off instead of spinning;
                        // the page's request waits and is answered once accepting works again.
                        tracing::warn!(error = %e, "OffthreadVideo frame server cannot accept a connection");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let state = served.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req| answer(state.clone(), req));
                    let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
                });
            }
        });
        Ok(Self { port, state, task })
    }

    /// The port the page's `window.remotion_proxyPort` names.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Applies a render's limits (Remotion's `offthreadVideoThreads` and
    /// `offthreadVideoCacheSizeInBytes`): the server outlives renders of one process, so each
    /// render sets its own, unset ones back to the defaults.
    pub fn set_limits(&self, page: &PageSettings) {
        let (threads, cache) = (page.offthread_video_threads, page.offthread_video_cache_size_in_bytes);
        if threads.is_some() || cache.is_some() {
            tracing::info!(threads, cache_bytes = cache, "OffthreadVideo limits");
        }
        self.state.decoders.set_budget(cache);
        let permits = threads.map(|n| Arc::new(Semaphore::new(n.max(1) as usize)));
        *self.state.threads.lock().unwrap_or_else(|e| e.into_inner()) = permits;
    }

    /// The open decoders.
    pub fn decoders(&self) -> &Decoders {
        &self.state.decoders
    }

    /// A page error caused by a frame this server could not give, as the typed error it is
    /// (the source, its time and the reason); any other error as it was.
    pub fn explain(&self, error: RenderError) -> RenderError {
        let RenderError::Page { composition, frame, message } = error else {
            return error;
        };
        let failures = self.state.failures.lock().unwrap_or_else(|e| e.into_inner());
        match failures.iter().rev().find(|f| message.contains(&f.message)) {
            Some(f) => RenderError::VideoSource {
                composition,
                frame,
                src: f.src.clone(),
                time: f.time,
                message: f.reason.clone(),
                kind: f.kind,
            },
            None => RenderError::Page { composition, frame, message },
        }
    }
}

impl Drop for FrameServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// What a request asks for.
#[derive(Debug, PartialEq)]
struct Query {
    src: String,
    time: f64,
    transparent: bool,
}

/// Reads the query the page builds (`URLSearchParams` rules, like Remotion's server).
fn parse_query(uri: &hyper::Uri) -> Result<Query, String> {
    let url = reqwest::Url::parse(&format!("http://localhost{uri}")).map_err(|e| format!("bad request URL: {e}"))?;
    let param = |name: &str| url.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned());
    let src = param("src").filter(|s| !s.is_empty()).ok_or("Did not pass `src` parameter")?;
    let time = param("time").ok_or("Did not get `time` parameter")?;
    let time: f64 = time.parse().map_err(|_| format!("`time` is not a number: {time:?}"))?;
    if !time.is_finite() {
        return Err(format!("`time` is not a finite number: {time}"));
    }
    // `toneMapped` only matters for HDR sources, which are converted without tone mapping.
    param("toneMapped").ok_or("Did not get `toneMapped` parameter")?;
    Ok(Query { src, time, transparent: param("transparent").as_deref() == Some("true") })
}

fn reply(status: StatusCode, content_type: &str, body: Bytes) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    if let Ok(value) = content_type.parse() {
        headers.insert(header::CONTENT_TYPE, value);
    }
    // The page's origin is the site's, not this server's.
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, header::HeaderValue::from_static("*"));
    // A warm browser must never answer a later render's request from its cache.
    headers.insert(header::CACHE_CONTROL, header::HeaderValue::from_static("no-cache, no-store, must-revalidate"));
    response
}

fn error_reply(status: StatusCode, message: &str) -> Response<Full<Bytes>> {
    let body = serde_json::json!({ "error": message }).to_string();
    reply(status, "application/json", Bytes::from(body))
}

async fn answer(state: Arc<State>, req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    if req.method() == Method::OPTIONS {
        // Chromium's Private Network Access preflight (Remotion answers it the same way).
        let mut response = reply(StatusCode::OK, "text/plain", Bytes::new());
        if req.headers().contains_key("access-control-request-private-network") {
            response
                .headers_mut()
                .insert("access-control-allow-private-network", header::HeaderValue::from_static("true"));
        }
        return Ok(response);
    }
    if req.uri().path() != "/proxy" {
        return Ok(reply(StatusCode::NOT_FOUND, "text/plain", Bytes::from_static(b"not found")));
    }
    let query = match parse_query(req.uri()) {
        Ok(query) => query,
        Err(message) => return Ok(error_reply(StatusCode::BAD_REQUEST, &message)),
    };
    match frame(&state, &query).await {
        Ok(image) => Ok(reply(StatusCode::OK, image.content_type, image.bytes)),
        Err((reason, kind)) => {
            let message = format!("<OffthreadVideo> could not show {} at {} s: {reason}", query.src, query.time);
            tracing::warn!(src = %query.src, time = query.time, %reason, "OffthreadVideo frame failed");
            let mut failures = state.failures.lock().unwrap_or_else(|e| e.into_inner());
            failures.push_back(Failure {
                src: query.src.clone(),
                time: query.time,
                message: message.clone(),
                reason,
                kind,
            });
            if failures.len() > FAILURES_KEPT {
                failures.pop_front();
            }
            Ok(error_reply(StatusCode::INTERNAL_SERVER_ERROR, &message))
        }
    }
}

/// The image of `query`, or why not.
async fn frame(state: &State, query: &Query) -> Result<Image, (String, ErrorKind)> {
    let path = match tokio::time::timeout(FETCH_TIMEOUT, state.assets.fetch(&query.src)).await {
        Ok(fetched) => fetched?,
        Err(_) => {
            return Err((format!("fetching it took longer than {} s", FETCH_TIMEOUT.as_secs()), ErrorKind::Network));
        }
    };
    let (decoders, time, transparent) = (state.decoders.clone(), query.time, query.transparent);
    let threads = state.threads.lock().unwrap_or_else(|e| e.into_inner()).clone();
    // Waiting for a thread counts towards the decode's time: the page waits either way.
    let decoding = async move {
        let permit = match threads {
            Some(threads) => Some(threads.acquire_owned().await.expect("the semaphore is never closed")),
            None => None,
        };
        tokio::task::spawn_blocking(move || {
            let image = decoders.image(&path, time, transparent);
            drop(permit);
            image
        })
        .await
    };
    match tokio::time::timeout(DECODE_TIMEOUT, decoding).await {
        Ok(Ok(Ok(image))) => Ok(image),
        Ok(Ok(Err(ExtractError::Unreadable(reason)))) => Err((reason, ErrorKind::InvalidPayload)),
        Ok(Ok(Err(e @ ExtractError::Decode(_)))) => Err((e.to_string(), ErrorKind::InvalidPayload)),
        Ok(Err(e)) => Err((format!("the decoding thread failed: {e}"), ErrorKind::Internal)),
        Err(_) => {
            Err((format!("decoding the frame took longer than {} s", DECODE_TIMEOUT.as_secs()), ErrorKind::Internal))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_are_read_like_remotion_builds_them() {
        // getOffthreadVideoSource: encodeURIComponent(src), encodeURIComponent(time).
        let uri: hyper::Uri = "/proxy?src=http%3A%2F%2F127.0.0.1%3A4000%2Fpublic%2Fa%20b%2Bc.mp4&time=0.03333333333333333&transparent=false&toneMapped=true"
            .parse()
            .unwrap();
        assert_eq!(
            parse_query(&uri).unwrap(),
            Query { src: "http://127.0.0.1:4000/public/a b+c.mp4".into(), time: 1.0 / 30.0, transparent: false }
        );
        let transparent: hyper::Uri = "/proxy?src=x&time=2&transparent=true&toneMapped=false".parse().unwrap();
        assert!(parse_query(&transparent).unwrap().transparent);
        for bad in
            ["/proxy?time=1&toneMapped=true", "/proxy?src=x&toneMapped=true", "/proxy?src=x&time=abc&toneMapped=true"]
        {
            assert!(parse_query(&bad.parse().unwrap()).is_err(), "{bad}");
        }
    }
}

#[cfg(test)]
mod http_tests {
    use std::time::Instant;

    use super::*;
    use crate::capture::site::SiteServer;

    fn fixture_public() -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/remotion-project/public")
    }

    /// The URL the page would build for `src` at `time`.
    fn proxy_url(server: &FrameServer, src: &str, time: f64) -> String {
        let mut url = reqwest::Url::parse(&format!("http://localhost:{}/proxy", server.port())).unwrap();
        url.query_pairs_mut()
            .append_pair("src", src)
            .append_pair("time", &time.to_string())
            .append_pair("transparent", "false")
            .append_pair("toneMapped", "true");
        url.into()
    }

    #[tokio::test]
    async fn serves_frames_and_explains_failures() {
        // The clip served over HTTP the way a site serves its public/ folder.
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("index.html"), "<html></html>").unwrap();
        std::fs::copy(fixture_public().join("clip.mp4"), dir.path().join("clip.mp4")).unwrap();
        let site = SiteServer::serve_dir(dir.path()).await.unwrap();
        let server = FrameServer::start(AssetCache::new(&site.index_url()).unwrap()).await.unwrap();
        let src = format!("{}clip.mp4", site.base_url);
        let client = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap();

        let started = Instant::now();
        for frame in 0..60 {
            let response = client.get(proxy_url(&server, &src, f64::from(frame) / 30.0)).send().await.unwrap();
            assert_eq!(response.status(), 200);
            let headers = response.headers();
            assert_eq!(headers["content-type"], "image/bmp");
            assert_eq!(headers["access-control-allow-origin"], "*");
            assert!(headers["cache-control"].to_str().unwrap().contains("no-store"));
            let bytes = response.bytes().await.unwrap();
            assert_eq!(bytes.len(), 54 + 320 * 180 * 3);
        }
        let per_frame = started.elapsed() / 60;
        eprintln!("320x180 frames over HTTP, in order: {per_frame:?} a frame (first includes fetching the clip)");
        assert_eq!(server.decoders().idle(), 1, "one decoder went through the clip");

        let missing = format!("{}missing.mp4", site.base_url);
        let response = client.get(proxy_url(&server, &missing, 0.5)).send().await.unwrap();
        assert_eq!(response.status(), 500);
        assert_eq!(response.headers()["access-control-allow-origin"], "*");
        let body: serde_json::Value = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
        let message = body["error"].as_str().unwrap().to_owned();
        assert!(message.contains(&missing) && message.contains("0.5 s") && message.contains("404"), "{message}");

        // The page rethrows the message; the error it fails with names the source and frame.
        let page = RenderError::Page {
            composition: Some("OffthreadClip".into()),
            frame: Some(15),
            message: format!("Error: {message}\n    at execute (bundle.js:1:2)"),
        };
        match server.explain(page) {
            RenderError::VideoSource { src, frame, time, kind, .. } => {
                assert_eq!(
                    (src.as_str(), frame, time, kind),
                    (missing.as_str(), Some(15), 0.5, ErrorKind::SiteUnavailable)
                );
            }
            other => panic!("not explained: {other}"),
        }
        let unrelated = RenderError::Page { composition: None, frame: Some(1), message: "Error: thrown".into() };
        assert!(matches!(server.explain(unrelated), RenderError::Page { .. }));

        let bad = client.get(format!("http://127.0.0.1:{}/proxy?src=x", server.port())).send().await.unwrap();
        assert_eq!(bad.status(), 400);
        let elsewhere = client.get(format!("http://127.0.0.1:{}/other", server.port())).send().await.unwrap();
        assert_eq!(elsewhere.status(), 404);
    }

    #[tokio::test]
    async fn offthread_video_threads_bound_the_decodes_at_once() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("index.html"), "<html></html>").unwrap();
        for i in 0..4 {
            std::fs::copy(fixture_public().join("clip.mp4"), dir.path().join(format!("clip-{i}.mp4"))).unwrap();
        }
        let site = SiteServer::serve_dir(dir.path()).await.unwrap();
        let server = FrameServer::start(AssetCache::new(&site.index_url()).unwrap()).await.unwrap();
        let client = reqwest::Client::builder().timeout(Duration::from_secs(60)).build().unwrap();
        let page = PageSettings { offthread_video_threads: Some(1), ..Default::default() };
        server.set_limits(&page);
        // Four tabs asking at once, each its own source and times: one decodes at a time,
        // and each still gets its frames.
        let asks = (0..4).map(|i| {
            let (client, src) = (client.clone(), format!("{}clip-{i}.mp4", site.base_url));
            let urls: Vec<String> = (0..10).map(|f| proxy_url(&server, &src, f64::from(f * 5 + i) / 30.0)).collect();
            async move {
                for url in urls {
                    let response = client.get(url).send().await.unwrap();
                    assert_eq!(response.status(), 200);
                    assert_eq!(response.bytes().await.unwrap().len(), 54 + 320 * 180 * 3);
                }
            }
        });
        futures::future::join_all(asks).await;
        assert_eq!(server.decoders().peak_decoding(), 1, "offthreadVideoThreads: 1");
        assert_eq!(server.decoders().idle(), 4);
        // The next render without the option: no bound again, and a cache budget closes
        // decoders that do not fit.
        server.set_limits(&PageSettings { offthread_video_cache_size_in_bytes: Some(1), ..Default::default() });
        assert_eq!(server.decoders().idle(), 0);
        assert!(server.state.threads.lock().unwrap().is_none());
    }
}
