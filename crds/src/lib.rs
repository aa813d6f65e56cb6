//! The contract shared by the remotion-operator and its render function.
//!
//! - the four custom resources ([`LambdaBucket`], [`RenderFunction`], [`RemotionSite`],
//!   [`RenderJob`]) with their validation rules;
//! - the render function's [`protocol`], its [`progress`] document and [`chunking`] plan;
//! - the S3 [`keys`] layout;
//! - [`pricing`] and exact [`money`].
//!
//! No AWS SDK, browser or FFmpeg here: both sides depend on this crate.

// kube-derive takes one `printcolumn(name = …, type_ = …)` per column; clippy reads the repeated
// keys as duplicated attributes.
#![allow(clippy::duplicated_attributes)]

pub mod chunking;
pub mod common;
pub mod content_type;
pub mod generate;
pub mod keys;
pub mod lambda_bucket;
pub mod media;
pub mod money;
pub mod pricing;
pub mod progress;
pub mod protocol;
pub mod remotion_site;
pub mod render_function;
pub mod render_job;
#[cfg(feature = "validation")]
pub mod validation;

pub use common::{AwsAccess, AwsCredentials, CATEGORY, GROUP, KeyRef, LocalObjectRef, VERSION};
pub use lambda_bucket::{LambdaBucket, LambdaBucketSpec, LambdaBucketStatus};
pub use money::Usd;
pub use remotion_site::{RemotionSite, RemotionSiteSpec, RemotionSiteStatus};
pub use render_function::{RenderFunction, RenderFunctionSpec, RenderFunctionStatus};
pub use render_job::{RenderJob, RenderJobSpec, RenderJobStatus};
