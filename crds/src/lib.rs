//! The Kubernetes API of remotion-operator: the four custom resources and their validation.
//!
//! Code map:
//! - one module per kind ([`lambda_bucket`], [`render_function`], [`remotion_site`],
//!   [`render_job`]): spec, status and the CEL rules the API server enforces;
//! - [`reason`]: every condition and Event reason, and whether it is terminal;
//! - [`common`]: AWS access, references to other objects, API group and version;
//! - [`generate`] (and the `crdgen` binary): the CRD manifests under `config/crd/`;
//! - [`validation`]: the same schema and CEL rules checked client-side, for tests and tools.
//!
//! What the operator and the render function exchange (payloads, progress, keys, prices) is in
//! `remotion-protocol`, which has no Kubernetes in it.

// kube-derive takes one `printcolumn(name = …, type_ = …)` per column; clippy reads the repeated
// keys as duplicated attributes.
#![allow(clippy::duplicated_attributes)]

pub mod common;
pub mod generate;
pub mod lambda_bucket;
pub mod reason;
pub mod remotion_site;
pub mod render_function;
pub mod render_job;
#[cfg(feature = "validation")]
pub mod validation;

pub use common::{AwsAccess, AwsCredentials, CATEGORY, GROUP, KeyRef, LocalObjectRef, VERSION};
pub use lambda_bucket::{LambdaBucket, LambdaBucketSpec, LambdaBucketStatus};
pub use reason::Reason;
pub use remotion_site::{RemotionSite, RemotionSiteSpec, RemotionSiteStatus};
pub use render_function::{RenderFunction, RenderFunctionSpec, RenderFunctionStatus};
pub use render_job::{RenderJob, RenderJobSpec, RenderJobStatus};
