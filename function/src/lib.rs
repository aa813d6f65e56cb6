//! The render function: renders Remotion bundles in headless Chromium and encodes them with
//! FFmpeg's libraries, as an AWS Lambda function or as a local command-line tool.
//!
//! # Code map
//!
//! The crate is in layers, by what flows through them: the entry points take invocations and
//! commands, the orchestrator fans a render out into chunks, a render has capture feed encode,
//! and all of them stand on a shared base. A module uses modules of its own layer and of the
//! layers below it, never of a layer above; capture and encode sit side by side and do not use
//! each other. `layers.rs`, a test, holds the code to this.
//!
//! **Entry points**
//! - [`lambda`]: the Lambda handler: one JSON payload per invocation, dispatched to the
//!   actions (info, compositions, still, a chunk's render, launch and its continuations).
//! - [`cli`]: the `remotion-function` binary: `compositions`, `still` and `render` on the
//!   command line, or the Lambda runtime when no command is given.
//!
//! **Orchestrate**
//! - [`orchestrate`]: the `launch` action: the composition resolved, chunks planned and
//!   rendered by invocations of their own (as many at once as the render's share of the
//!   function allows) and by the orchestrator itself, joined, uploaded, the progress document
//!   kept, handed over to a continuation of the orchestrator when the render outlasts the
//!   function's timeout; and one chunk's render, which a `render` invocation runs.
//!
//! **Render**
//! - [`render`]: a range of frames to a video: tabs capture while the encoder encodes (and
//!   mixes the audio) on its own thread; what a chunk renders, and the key of its page.
//!
//! **Capture** ([`capture`]): Chromium and what its pages load.
//! - [`capture::browser`]: Chromium, launched with Remotion's flags, kept warm between
//!   invocations.
//! - [`capture::page`]: Remotion's page protocol over DevTools: a tab's set-up, its
//!   composition, seeking, screenshots.
//! - [`capture::site`]: the site a page loads; a bundle folder or bucket prefix is served on
//!   127.0.0.1.
//! - [`capture::frame_server`]: the `<OffthreadVideo>` frame server, decoding with FFmpeg.
//! - [`capture::warm_page`]: a loaded page kept for the next chunk of the same render.
//! - [`capture::compositions`]: a site's compositions, metadata resolved for the props.
//! - [`capture::still`]: one frame captured as an image.
//!
//! **Encode** ([`encode`]), beside capture: screenshots and sound into files.
//! - [`encode::video`]: screenshots decoded, converted to video colours and encoded.
//! - [`encode::colour`]: the fast colour conversion of JPEG screenshots.
//! - [`encode::gif`]: GIFs, with one palette over all of their frames.
//! - [`encode::audio`]: each frame's media mixed on a 48 kHz timeline, and encoded.
//! - [`encode::stitch`]: chunks joined without re-encoding video; a video muxed with its audio.
//!
//! **Base**: shared by all layers.
//! - [`error`]: [`RenderError`], each variant mapped to a protocol error kind.
//! - [`storage`]: S3 reads, writes and uploads.
//! - [`props`]: input props from the command line or from a payload.
//! - [`versions`]: what the function is made of (its, the protocol's, Chromium's and FFmpeg's
//!   versions), and where Chromium is.
//! - [`ffmpeg`]: FFmpeg's libraries, set up once per process.
//! - [`assets`]: what each frame plays (`remotion_collectAssets`), and the sources it names,
//!   fetched once per site.

// Entry points.
pub mod cli;
pub mod lambda;

// Orchestrate.
pub mod orchestrate;

// Render.
pub mod render;

// Capture and encode, side by side.
pub mod capture;
pub mod encode;

// Base.
pub mod assets;
pub mod error;
pub mod ffmpeg;
pub mod props;
pub mod storage;
pub mod versions;

#[cfg(test)]
mod layers;

pub use error::RenderError;
