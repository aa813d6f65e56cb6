//! A loaded page kept between the chunk invocations of one render in one function process.
//!
//! Before its first frame, a chunk pays for a page: a new tab (0.26–0.43 s measured in a
//! single-process Chromium), the globals and viewport (0.04–0.12 s), navigation and bundle load
//! (0.22–0.28 s) and `setBundleMode` (0.03–0.04 s) — about 0.7 s of a 64×64 chunk's 0.8 s. The
//! next chunk of the same render needs exactly that page again, so a process keeps it (with the
//! site server it loads from) in its warm browser and the next chunk goes straight to
//! `remotion_setFrame`, which moves a page to any frame just as it moves a fresh page from its
//! initial frame.
//!
//! The page is only reused for the same [`PageKey`]: the same render, site, composition (props
//! resolved) and every option the page is set up with. It lives inside the warm browser, so it
//! goes when the browser is recycled, and one invocation holds the browser at a time, so two
//! invocations never share it. A page that reported an error or does not answer is not reused.
//!
//! What the render's pages stored (cookies, storage, caches) lives on with the kept page, in
//! its browser context: the key names the render, so only the same render's next chunk sees
//! it, and any other invocation gets the page closed with its context (see
//! [`crate::capture::browser`]).

use std::fmt::Debug;

use remotion_protocol::payload::SiteLocation;
use sha2::{Digest, Sha256};

use crate::capture::page::{RemotionTab, ResolvedComposition};
use crate::capture::site::{Site, SiteServer};

/// Everything a loaded page depends on, as a digest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PageKey([u8; 32]);

impl PageKey {
    /// The key of the page that renders frames of `composition` for the render `render_id` from
    /// `site`, set up with `options`: the render's options, all but which frames it renders (a
    /// page moves to any frame; `render::VideoRequest::page_key` leaves them out). The options
    /// and the composition enter through their `Debug` form: an option added to either later is
    /// part of the key without anyone having to remember it (input props, timeout, dimensions,
    /// scale, capture format and quality, audio, …); options that do not change the page (codec,
    /// CRF) only cost a reuse between renders that differ in them, which are different renders
    /// anyway.
    pub fn new(render_id: &str, site: &SiteLocation, composition: &ResolvedComposition, options: &impl Debug) -> Self {
        let mut hash = Sha256::new();
        let mut part = |bytes: &[u8]| {
            // Length-prefixed, so that parts cannot run into each other.
            hash.update((bytes.len() as u64).to_le_bytes());
            hash.update(bytes);
        };
        part(render_id.as_bytes());
        part(site.serve_url.as_bytes());
        if let Some(prefix) = &site.s3 {
            part(prefix.bucket.as_bytes());
            part(prefix.prefix.as_bytes());
        }
        part(format!("{composition:?}").as_bytes());
        part(format!("{options:?}").as_bytes());
        Self(hash.finalize().into())
    }
}

/// A page kept loaded for the next chunk, with the site it was loaded from.
pub struct WarmPage {
    /// What the page was loaded for.
    pub key: PageKey,
    /// The site as the page addresses it, with the `<OffthreadVideo>` frame server whose port
    /// the page's init script names and the media sources already fetched: kept with the page,
    /// so the next chunk's frames are served on the same port.
    pub site: Site,
    /// The server of a private site: the page goes on loading assets from it.
    pub server: Option<SiteServer>,
    /// The tab, in its composition's mode, at the last frame it rendered.
    pub tab: RemotionTab,
    /// That frame.
    pub frame: u64,
}

impl WarmPage {
    /// Closes the tab and stops the site server.
    pub async fn close(self) {
        self.tab.close().await;
    }
}
