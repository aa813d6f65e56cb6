//! The remotion-operator: controllers that turn LambdaBucket, RenderFunction, RemotionSite and
//! RenderJob resources into AWS state and write the truth back to their statuses.
//!
//! Code map:
//! - [`controllers`]: one folder per kind, whose files are that kind's pipeline (each folder's
//!   `mod.rs` lists its steps): [`controllers::lambda_bucket`],
//!   [`controllers::render_function`], [`controllers::remotion_site`],
//!   [`controllers::render_job`]; `controllers/mod.rs` starts them all and holds the shared
//!   [`controllers::Context`];
//! - [`reconcile`]: what every controller shares: the reconcile [`reconcile::shell`] (timing,
//!   metrics, backoff, `Ready`, Events, finalizer), typed [`reconcile::Error`]s with their
//!   reasons, conditions, server-side-applied status, and the guard against unreadable objects;
//! - [`aws`]: every AWS client (S3, Lambda), built per [`remotion_crds::AwsAccess`], and the
//!   synchronous `invoke` of the render function; [`aws_metrics`] counts their calls, errors
//!   and throttles;
//! - [`events`], [`metrics`], [`telemetry`]: Kubernetes Events, Prometheus metrics, logs;
//! - [`http`]: `/health`, `/ready`, `/metrics`; [`leader`]: Lease leader election;
//! - [`config`]: the binary's flags; [`iam`]: the least-privilege IAM policies;
//! - [`tenancy`]: what each namespace may make the operator do (identity, network, output
//!   keys), by the cluster admin's policy.
//!
//! Condition reasons are [`remotion_crds::Reason`]; what the operator sends to and reads from
//! the render function is in `remotion-protocol`.

pub mod aws;
pub mod aws_metrics;
pub mod config;
pub mod controllers;
pub mod events;
pub mod http;
pub mod iam;
pub mod leader;
pub mod metrics;
pub mod reconcile;
pub mod telemetry;
pub mod tenancy;
