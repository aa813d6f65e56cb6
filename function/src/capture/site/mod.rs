//! The site a page loads: an http(s) URL, or a bundle served to the page on 127.0.0.1 only,
//! from a local folder or a bucket prefix ([`SiteServer`]).
//!
//! Remotion bundles load their scripts and assets by relative URL, so serving the bundle root
//! under any origin works; no bucket ever has to be public.
//!
//! * [`server`]: the server, one request at a time: path rules, method, logging.
//! * [`request`]: what a request asks (a byte range, headers only, a version it holds).
//! * [`folder`], [`bucket`]: the two sources, each answering with the part asked for.
//! * [`answer`]: a source's answer as an HTTP response, its body streamed.

mod answer;
mod bucket;
mod folder;
mod request;
mod server;

pub use server::SiteServer;

use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use remotion_protocol::payload::SiteLocation;

use crate::assets::cache::AssetCache;
use crate::capture::frame_server::FrameServer;
use crate::error::RenderError;

/// A site ready to be opened: an http(s) URL, or a local bundle folder served on 127.0.0.1.
///
/// The site also owns what its pages use while rendering: the media sources fetched from it
/// (audio, `<OffthreadVideo>`) and the `<OffthreadVideo>` frame server whose port its pages
/// are given. Both start on first use and live as long as the site, so a page kept loaded
/// for the next chunk (with its site, see [`crate::capture::warm_page`]) finds its frame server
/// still on the port its init script names, with the sources already fetched.
pub struct Site {
    /// URL the page loads.
    pub url: String,
    _server: Option<SiteServer>,
    assets: std::sync::OnceLock<Arc<AssetCache>>,
    frames: tokio::sync::OnceCell<FrameServer>,
}

impl Site {
    /// A site at an http(s) URL served by someone else (e.g. a [`SiteServer`] the caller keeps).
    pub fn at_url(url: String) -> Self {
        Self::with_server(url, None)
    }

    fn with_server(url: String, server: Option<SiteServer>) -> Self {
        Self { url, _server: server, assets: Default::default(), frames: Default::default() }
    }

    /// `serve_url` is an `http(s)://` URL or a local bundle folder.
    pub async fn open(serve_url: &str) -> Result<Self, RenderError> {
        if serve_url.starts_with("http://") || serve_url.starts_with("https://") {
            return Ok(Self::at_url(serve_url.to_owned()));
        }
        let dir = Path::new(serve_url);
        if !dir.is_dir() {
            return Err(RenderError::InvalidInput(format!(
                "--serve-url {serve_url:?} is neither an http(s) URL nor a folder"
            )));
        }
        let server = SiteServer::serve_dir(dir).await?;
        Ok(Self::with_server(server.index_url(), Some(server)))
    }

    /// The media sources of this site's pages, each fetched at most once.
    pub fn assets(&self) -> Result<Arc<AssetCache>, RenderError> {
        if let Some(assets) = self.assets.get() {
            return Ok(assets.clone());
        }
        let assets = AssetCache::new(&self.url)?;
        Ok(self.assets.get_or_init(|| assets).clone())
    }

    /// The `<OffthreadVideo>` frame server of this site's pages, started on first use.
    pub async fn frame_server(&self) -> Result<&FrameServer, RenderError> {
        self.frames.get_or_try_init(|| async { FrameServer::start(self.assets()?).await }).await
    }
}

/// A site as the page will load it: private bucket prefixes are served on 127.0.0.1.
pub(crate) async fn open_site(
    location: &SiteLocation,
    s3: &aws_sdk_s3::Client,
) -> Result<(Site, Option<SiteServer>), RenderError> {
    match &location.s3 {
        Some(prefix) => {
            let server = SiteServer::serve_s3(s3.clone(), &prefix.bucket, &prefix.prefix).await?;
            Ok((Site::at_url(server.index_url()), Some(server)))
        }
        None => Ok((Site::open(&location.serve_url).await?, None)),
    }
}

/// Content-Type by file extension (the table the operator uploads sites with).
pub use remotion_protocol::content_type::for_path as content_type;

/// Decodes `%XX` escapes of a URL path; `None` when malformed.
fn percent_decode(path: &str) -> Option<String> {
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The file a request path names inside `root`, refusing anything that leaves it.
pub fn resolve(root: &Path, request_path: &str) -> Option<PathBuf> {
    let path = percent_decode(request_path.split(['?', '#']).next().unwrap_or_default())?;
    let relative = path.trim_start_matches('/');
    let relative = if relative.is_empty() || relative.ends_with('/') {
        format!("{relative}index.html")
    } else {
        relative.to_owned()
    };
    let relative = Path::new(&relative);
    if relative.components().any(|c| !matches!(c, Component::Normal(_))) {
        return None;
    }
    Some(root.join(relative))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_stay_inside_the_root() {
        let root = Path::new("/site");
        assert_eq!(resolve(root, "/"), Some(PathBuf::from("/site/index.html")));
        assert_eq!(resolve(root, "/bundle.js?x=1"), Some(PathBuf::from("/site/bundle.js")));
        assert_eq!(resolve(root, "/public/a%20b.png"), Some(PathBuf::from("/site/public/a b.png")));
        assert_eq!(resolve(root, "/../etc/passwd"), None);
        assert_eq!(resolve(root, "/a/%2e%2e/%2e%2e/etc"), None);
        assert_eq!(resolve(root, "/bad%zz"), None);
    }

    #[test]
    fn content_types_cover_bundle_files() {
        assert_eq!(content_type("index.html"), "text/html; charset=utf-8");
        assert_eq!(content_type("bundle.js"), "application/javascript; charset=utf-8");
        assert_eq!(content_type("public/logo.PNG"), "image/png");
        assert_eq!(content_type("tone.wav"), "audio/wav");
        assert_eq!(content_type("unknown.bin"), "application/octet-stream");
    }
}
