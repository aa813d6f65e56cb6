//! The RenderJob pipeline as pure steps, free of Kubernetes and AWS clients so that each is
//! unit-tested on its own; `controllers::render_job` does the I/O between them:
//!
//! 1. [`references`]: the site, function and bucket a job points at are usable (or why not);
//! 2. [`props`]: the input props, inline or read from a ConfigMap/Secret key, placed inline in
//!    the payload or offloaded to the bucket when large;
//! 3. [`estimate`]: a cost estimate before launch from the composition's cost profile;
//! 4. [`launch`]: the `launch` payload;
//! 5. [`stall`]: whether a launched render still shows signs of life;
//! 6. [`status`]: the status a progress document (or the operator's own verdict) stands for;
//! 7. [`throttle`]: at most one status write every 2 s per job.

pub mod estimate;
pub mod launch;
pub mod props;
pub mod references;
pub mod stall;
pub mod status;
pub mod throttle;
