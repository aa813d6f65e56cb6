//! The remotion-operator: controllers that turn LambdaBucket, RenderFunction, RemotionSite and
//! RenderJob resources into AWS state and write the truth back to their statuses.

pub mod aws;
pub mod conditions;
pub mod config;
pub mod controllers;
pub mod events;
pub mod http;
pub mod iam;
pub mod job;
pub mod leader;
pub mod metrics;
pub mod reconcile;
pub mod site;
pub mod telemetry;
