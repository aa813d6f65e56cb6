//! What the remotion-operator and its render function say to each other, with no Kubernetes
//! in it: the render function depends on this crate alone.
//!
//! Code map:
//! - [`payload`]: one JSON payload per invocation (`info`, `compositions`, `launch`, `render`,
//!   `still`), the responses, and the function's error kinds;
//! - [`progress`]: `renders/<id>/progress.json`, the document the orchestrator writes and the
//!   operator follows;
//! - [`chunking`]: which frames a render selects and how they are cut into chunks;
//! - [`keys`]: the S3 key layout of sites and renders, and the names that go into keys;
//! - [`pricing`] and [`money`]: Lambda and S3 list prices, billed duration, exact dollars;
//! - [`page`]: how a render's pages and browser are set up (environment variables, Chromium
//!   options, log level);
//! - [`media`]: codecs, formats and what each implies; [`content_type`]: content types by path;
//! - [`lambda`]: the architecture of a function;
//! - [`output`]: how the output object is written (store, overwrite, headers, metadata);
//! - [`remotion_version`]: which Remotion bundles the renderer renders, and the tested range.
//!
//! With the `schemars` feature (turned on by `remotion-crds`), the types the custom resources
//! embed also derive `JsonSchema`.

pub mod chunking;
pub mod content_type;
pub mod keys;
pub mod lambda;
pub mod media;
pub mod money;
pub mod output;
pub mod page;
pub mod payload;
pub mod pricing;
pub mod progress;
pub mod remotion_version;

pub use money::Usd;
