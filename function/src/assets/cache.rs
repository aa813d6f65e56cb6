//! Media sources (what `<Audio>`/`<Video>` play, what `<OffthreadVideo>` shows), fetched once
//! per site into a temporary folder.
//!
//! The page reports each source as the absolute URL it loaded (`staticFile()` resolves against
//! the page's origin). For a private site that origin is the function's own server on
//! 127.0.0.1, which reads the bucket with the function's credentials
//! (`capture::site::SiteServer`), so fetching the same URL here goes through exactly the access
//! the page had — no public bucket, no second credential path. Other URLs are fetched as they
//! are, like Remotion does.
//! Sources are written to disk (not memory) and decoded from there, which lets the decoder seek.
//! A source must fit in the room left on that disk (`/tmp` on Lambda, see [`super::room`]);
//! one that does not fails with its size, the room and what to change, leaving nothing behind.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use base64::Engine;
use remotion_protocol::payload::ErrorKind;
use tokio::io::AsyncWriteExt;
use tokio::sync::OnceCell;

use super::room::{NoRoom, Room};
use crate::error::RenderError;

/// Attempts per source on network errors and 5xx answers.
const ATTEMPTS: u32 = 3;

type Entry = Arc<OnceCell<Result<PathBuf, (String, ErrorKind)>>>;

/// Every source of one render, downloaded at most once.
pub struct AssetCache {
    dir: tempfile::TempDir,
    page_url: reqwest::Url,
    client: reqwest::Client,
    entries: std::sync::Mutex<HashMap<String, Entry>>,
    counter: AtomicU64,
}

impl AssetCache {
    /// A cache for sources of the page at `page_url` (relative sources resolve against it).
    pub fn new(page_url: &str) -> Result<Arc<Self>, RenderError> {
        let page_url = reqwest::Url::parse(page_url)
            .map_err(|e| RenderError::InvalidInput(format!("the site URL {page_url:?} is not a URL: {e}")))?;
        let dir = tempfile::Builder::new()
            .prefix("remotion-media-")
            .tempdir()
            .map_err(|e| RenderError::io("creating a folder for media sources", e))?;
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .read_timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| RenderError::Encoding(format!("cannot create an HTTP client: {e}")))?;
        Ok(Arc::new(Self {
            dir,
            page_url,
            client,
            entries: std::sync::Mutex::new(HashMap::new()),
            counter: AtomicU64::new(0),
        }))
    }

    /// Starts fetching `src` in the background (the mixer asks for it a few frames later).
    pub fn prefetch(self: &Arc<Self>, src: &str) {
        let (entry, fresh) = self.entry(src);
        if fresh {
            let (cache, src) = (self.clone(), src.to_owned());
            tokio::spawn(async move {
                let _ = entry.get_or_init(|| cache.download(&src)).await;
            });
        }
    }

    /// The local copy of `src`, fetched now unless already fetched or being fetched.
    pub async fn get(&self, src: &str) -> Result<PathBuf, RenderError> {
        self.fetch(src).await.map_err(|(message, kind)| RenderError::AudioSource { src: src.to_owned(), message, kind })
    }

    /// [`Self::get`] with the reason and its kind as they are, for callers that report a
    /// failed source in their own terms (the `<OffthreadVideo>` frame server).
    pub async fn fetch(&self, src: &str) -> Result<PathBuf, (String, ErrorKind)> {
        let (entry, _) = self.entry(src);
        entry.get_or_init(|| self.download(src)).await.clone()
    }

    fn entry(&self, src: &str) -> (Entry, bool) {
        let mut entries = self.entries.lock().expect("not poisoned");
        match entries.get(src) {
            Some(entry) => (entry.clone(), false),
            None => {
                let entry = Entry::default();
                entries.insert(src.to_owned(), entry.clone());
                (entry, true)
            }
        }
    }

    async fn download(&self, src: &str) -> Result<PathBuf, (String, ErrorKind)> {
        let path = self.dir.path().join(format!("source-{}", self.counter.fetch_add(1, Ordering::Relaxed)));
        if let Some(data) = src.strip_prefix("data:") {
            let (_, payload) = data
                .split_once("base64,")
                .ok_or_else(|| ("only base64 data: URLs are supported".to_owned(), ErrorKind::InvalidPayload))?;
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(payload)
                .map_err(|e| (format!("the data: URL is not base64: {e}"), ErrorKind::InvalidPayload))?;
            let room = Room::at(self.dir.path()).map_err(|e| (format!("writing it: {e}"), ErrorKind::Internal))?;
            self.fits(bytes.len() as u64, false, room)?;
            tokio::fs::write(&path, bytes).await.map_err(|e| (format!("writing it: {e}"), ErrorKind::Internal))?;
            return Ok(path);
        }
        let url = self
            .page_url
            .join(src)
            .map_err(|e| (format!("not a URL relative to the site: {e}"), ErrorKind::InvalidPayload))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err((
                format!("{} URLs cannot be fetched by the renderer; serve the file with the site", url.scheme()),
                ErrorKind::InvalidPayload,
            ));
        }
        let mut last = (String::new(), ErrorKind::Network);
        for attempt in 0..ATTEMPTS {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(500 << attempt)).await;
            }
            match self.download_once(&url, &path).await {
                Ok(()) => return Ok(path),
                Err(e) if e.1 == ErrorKind::Network => last = e,
                Err(e) => return Err(e),
            }
        }
        Err(last)
    }

    async fn download_once(&self, url: &reqwest::Url, path: &Path) -> Result<(), (String, ErrorKind)> {
        let network = |e: reqwest::Error| (format!("fetching it failed: {e}"), ErrorKind::Network);
        let response = self.client.get(url.clone()).send().await.map_err(network)?;
        let status = response.status();
        if !status.is_success() {
            // 5xx and throttling may pass; a missing or forbidden file will not.
            let kind = if status.is_server_error() || status.as_u16() == 429 {
                ErrorKind::Network
            } else {
                ErrorKind::SiteUnavailable
            };
            return Err((format!("the server answered {status}"), kind));
        }
        let written = self.write(response, path).await;
        if written.is_err() {
            // Nothing half-written stays behind to take the room of what comes next.
            let _ = tokio::fs::remove_file(path).await;
        }
        written
    }

    /// Writes a response's body to `path`, within the room the folder has: a body announced
    /// larger fails before its first byte, one that grows past the room (no length announced,
    /// or the room taken meanwhile) as soon as it does.
    async fn write(&self, mut response: reqwest::Response, path: &Path) -> Result<(), (String, ErrorKind)> {
        let network = |e: reqwest::Error| (format!("fetching it failed: {e}"), ErrorKind::Network);
        let local = |e: std::io::Error| (format!("writing it to {}: {e}", path.display()), ErrorKind::Internal);
        let room = Room::at(self.dir.path()).map_err(local)?;
        let announced = response.content_length();
        if let Some(size) = announced {
            self.fits(size, false, room)?;
        }
        let mut file = tokio::fs::File::create(path).await.map_err(local)?;
        let mut written = 0u64;
        while let Some(bytes) = response.chunk().await.map_err(network)? {
            written += bytes.len() as u64;
            let (size, at_least) = match announced {
                Some(announced) if announced >= written => (announced, false),
                _ => (written, true),
            };
            self.fits(size, at_least, room)?;
            match file.write_all(&bytes).await {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::StorageFull => {
                    let room = Room::at(self.dir.path()).unwrap_or(room);
                    return Err(no_room(NoRoom { size, at_least, room, folder: self.folder().to_owned() }));
                }
                Err(e) => return Err(local(e)),
            }
        }
        file.flush().await.map_err(local)?;
        Ok(())
    }

    /// Fails when `size` bytes (`at_least`: and maybe more) do not fit in `room`.
    fn fits(&self, size: u64, at_least: bool, room: Room) -> Result<(), (String, ErrorKind)> {
        NoRoom::check(size, at_least, room, self.folder()).map_err(no_room)
    }

    /// The folder the sources' own folder is in (`/tmp` on Lambda), as users know it.
    fn folder(&self) -> &Path {
        self.dir.path().parent().unwrap_or(self.dir.path())
    }
}

/// A source too large for the function's disk: a property of the source and the function's
/// size, which a retry does not change.
fn no_room(error: NoRoom) -> (String, ErrorKind) {
    (error.to_string(), ErrorKind::InvalidPayload)
}
