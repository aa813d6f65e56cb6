//! The operator's integration tests, one binary: the controllers run in-process against the
//! harness's stand-ins (a real Kubernetes API server, an S3-compatible store, a Lambda
//! emulator), which this binary starts once and its tests share. Each module names its own
//! namespaces, buckets and emulated functions so that they never meet.

// Helpers outside `#[test]` functions unwrap too: a panic is how a test fails.
#![allow(clippy::unwrap_used)]

mod artifacts;
mod common;
mod composition_defaults;
mod end_to_end;
mod faults;
mod hostile_jobs;
mod hostile_tenant;
mod iam_enforced;
mod iam_policy;
mod image_sequence;
mod invalid_objects;
mod job_world;
mod kubectl_plugin;
mod lambda_bucket;
mod leader;
mod media_options;
mod output_store;
mod page_environment;
mod queue;
mod remotion_site;
mod render_function;
mod render_job;
mod renderer_function;
mod site_bounds;
mod site_tenancy;
mod tracing;
mod webhooks;
