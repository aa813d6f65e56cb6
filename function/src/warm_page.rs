//! A loaded page kept between the chunk invocations of one render in one function process.
//!
//! Before its first frame, a chunk pays for a page: a new tab (0.26–0.43 s in Lambda's
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

use remotion_crds::protocol::SiteLocation;
use sha2::{Digest, Sha256};

use crate::page::{RemotionTab, ResolvedComposition};
use crate::render::VideoRequest;
use crate::site::SiteServer;
use crate::still::Site;

/// Everything a loaded page depends on, as a digest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PageKey([u8; 32]);

impl PageKey {
    /// The key of the page that renders `request`'s frames of `composition` for the render
    /// `render_id` from `site`. The request and the composition enter through their `Debug`
    /// form, every field but the frames: an option added to either later is part of the key
    /// without anyone having to remember it (input props, timeout, dimensions, scale, capture
    /// format and quality, audio, …); options that do not change the page (codec, CRF) only
    /// cost a reuse between renders that differ in them, which are different renders anyway.
    pub fn new(
        render_id: &str,
        site: &SiteLocation,
        composition: &ResolvedComposition,
        request: &VideoRequest,
    ) -> Self {
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
        let request = VideoRequest { frames: None, ..request.clone() };
        part(format!("{request:?}").as_bytes());
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

#[cfg(test)]
mod tests {
    use remotion_crds::protocol::{CompositionMetadata, RenderRequest, S3Prefix};
    use serde_json::{Value, json};

    use super::*;
    use crate::lambda::chunk_video;

    fn composition(width: u32, resolved_props: &str) -> ResolvedComposition {
        let metadata = CompositionMetadata {
            id: "Intro".into(),
            width,
            height: 1080,
            fps: 30.0,
            duration_in_frames: 300,
            default_codec: None,
            default_out_name: None,
        };
        ResolvedComposition::from_metadata(&metadata, resolved_props.into())
    }

    /// A chunk's video request: frames 0–9 and h264 unless `changes` say otherwise.
    fn request(props: &str, changes: Value) -> VideoRequest {
        let mut payload = json!({
            "protocolVersion": 1, "renderId": "r1", "bucket": "b",
            "site": {"serveUrl": "private", "s3": {"bucket": "b", "prefix": "sites/a/"}},
            "composition": {"id": "Intro", "width": 1920, "height": 1080, "fps": 30.0, "durationInFrames": 300},
            "inputProps": {"type": "inline", "serialized": props},
            "resolvedProps": {"type": "inline", "serialized": props},
            "encoding": {"codec": "h264"}, "chunk": 0, "frames": {"start": 0, "end": 9}, "attempt": 1,
            "timeoutMs": 30000, "chunkKey": "renders/r1/chunks/000000.ts", "timingsKey": "renders/r1/timings/000000.json",
        });
        merge(&mut payload, changes);
        let request: RenderRequest = serde_json::from_value(payload).unwrap();
        chunk_video(&request, props.to_owned()).unwrap()
    }

    fn merge(into: &mut Value, changes: Value) {
        match (into, changes) {
            (Value::Object(into), Value::Object(changes)) => {
                for (k, v) in changes {
                    merge(into.entry(k).or_insert(Value::Null), v);
                }
            }
            (into, changes) => *into = changes,
        }
    }

    fn site(prefix: &str) -> SiteLocation {
        SiteLocation { serve_url: "private".into(), s3: Some(S3Prefix { bucket: "b".into(), prefix: prefix.into() }) }
    }

    #[test]
    fn chunks_of_one_render_share_a_key_and_anything_else_does_not() {
        let intro = composition(1920, "{}");
        let base = PageKey::new("r1", &site("sites/a/"), &intro, &request("{}", json!({})));
        let later = json!({"chunk": 7, "frames": {"start": 150, "end": 199}, "attempt": 2});
        assert_eq!(
            PageKey::new("r1", &site("sites/a/"), &intro, &request("{}", later)),
            base,
            "other frames of the same render: the same page"
        );

        let differs = |key: PageKey, what: &str| assert_ne!(key, base, "{what} must change the key");
        differs(PageKey::new("r2", &site("sites/a/"), &intro, &request("{}", json!({}))), "render id");
        differs(PageKey::new("r1", &site("sites/b/"), &intro, &request("{}", json!({}))), "site");
        let (narrower, other_resolved) = (composition(1280, "{}"), composition(1920, "{\"a\":1}"));
        differs(PageKey::new("r1", &site("sites/a/"), &narrower, &request("{}", json!({}))), "width");
        differs(PageKey::new("r1", &site("sites/a/"), &other_resolved, &request("{}", json!({}))), "resolved props");
        differs(PageKey::new("r1", &site("sites/a/"), &intro, &request("{\"a\":1}", json!({}))), "input props");
        for (what, changes) in [
            ("timeout", json!({"timeoutMs": 31000})),
            ("jpeg quality", json!({"encoding": {"jpegQuality": 90}})),
            ("capture format", json!({"encoding": {"imageFormat": "png"}})),
            ("audio", json!({"encoding": {"muted": true}})),
        ] {
            differs(PageKey::new("r1", &site("sites/a/"), &intro, &request("{}", changes)), what);
        }
    }
}
