//! Test harness of remotion-operator: real stand-ins for Kubernetes, S3 and Lambda on
//! 127.0.0.1 (see `../shared/standins/README.md`), started once per test binary on free ports
//! and stopped by PID when the binary exits, even when a test fails or panics.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! let env = remotion_tests::TestEnv::get();
//! let client = env.kube_client().await?;          // a fresh client for this test's runtime
//! let ns = env.unique_name("my-test");            // a namespace of its own
//! let bucket = env.s3().create_test_bucket("my-test").await?; // a bucket of its own
//! # Ok(()) }
//! ```
//!
//! Code map: [`env`](mod@env) (the stand-ins of one test binary), [`kube_api`], [`s3`] and [`lambda`]
//! (each stand-in; [`lambda_front`] makes the emulator answer as AWS does, [`lambda_report`] bills
//! its invocations as Lambda does), [`process`] (spawning, logging and reaping processes), [`recording_proxy`] (a proxy in front of a
//! stand-in that records requests and, with a [`fault_proxy`] plan, fails them as AWS would), [`cases`] and
//! [`samples`] (resources valid and invalid, for client- and server-side validation),
//! [`source_scan`] (reading Rust sources, for the RBAC and IAM derivations), [`paths`] and
//! [`merge`]; [`moto`] is the AWS control-plane stand-in, and [`sandbox`] runs function processes
//! as Lambda runs a container image. The tests themselves are in `tests/it/`, one binary.

pub mod cases;
pub mod env;
pub mod fault_proxy;
pub mod kube_api;
pub mod lambda;
pub mod lambda_front;
pub mod lambda_report;
pub mod merge;
pub mod moto;
pub mod paths;
pub mod process;
pub mod recording_proxy;
pub mod s3;
pub mod samples;
pub mod sandbox;
pub mod source_scan;

pub use env::TestEnv;
