//! The harness's own tests and the packaging tests, one binary: the CRDs against a real API
//! server, client-side validation, the stand-ins themselves, and the Helm charts, kustomize
//! overlays, RBAC and Argo CD health checks as shipped.

// Helpers outside `#[test]` functions unwrap too: a panic is how a test fails.
#![allow(clippy::unwrap_used)]

mod crds_server;
mod harness;
mod packaging_argocd;
mod packaging_argocd_apps;
mod packaging_helm;
mod packaging_helm_values;
mod packaging_kustomize;
mod packaging_prometheus;
mod packaging_rbac;
mod packaging_support;
mod sandbox;
mod validation;
