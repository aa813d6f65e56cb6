//! Remotion's `<OffthreadVideo>` frame server. While rendering, `<OffthreadVideo src>` plays
//! no `<video>`: it fetches `http://localhost:${window.remotion_proxyPort}/proxy?src=&time=…`
//! and shows the image it gets, holding a delayRender until then. Remotion's renderer answers
//! with its compositor binary; this module answers the same requests in-process with FFmpeg's
//! libraries:
//!
//! - [`server`]: the HTTP endpoint on 127.0.0.1 (query, CORS, errors the page understands);
//! - [`pool`]: open decoders kept between requests, bounded;
//! - [`extract`]: a source's frame at a time, decoding forward, seeking only when needed;
//! - [`image`]: the frame as the BMP (or PNG with alpha) the compositor would return.
//!
//! Sources are fetched through the site's [`AssetCache`](crate::assets::cache::AssetCache), the
//! same access (and the same downloaded files) the audio mixer uses.

pub mod extract;
pub mod image;
pub mod pool;
pub mod server;

pub use server::FrameServer;
