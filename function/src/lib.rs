//! The render function: renders Remotion bundles in headless Chromium and encodes them with
//! FFmpeg's libraries, as an AWS Lambda function or as a local command-line tool.

pub mod audio;
pub mod browser;
pub mod colour;
pub mod encode;
pub mod error;
pub mod gif;
pub mod lambda;
pub mod launch;
pub mod page;
pub mod props;
pub mod proxy;
pub mod render;
pub mod site;
pub mod still;
pub mod stitch;
pub mod storage;
pub mod versions;
pub mod warm_page;

pub use error::RenderError;
