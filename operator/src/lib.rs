//! The remotion-operator: controllers that turn LambdaBucket, RenderFunction, RemotionSite and
//! RenderJob resources into AWS state and write the truth back to their statuses.

pub mod conditions;
pub mod job;
