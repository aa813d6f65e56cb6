//! Building blocks every controller uses:
//!
//! - [`shell`]: one reconcile's timing, metrics, backoff, `Ready` condition, Warning Events and
//!   finalizer, generic over the kind; a controller supplies only its own steps;
//! - [`conditions`]: conditions set the Kubernetes way; [`guard`]: objects that do not read,
//!   read by [`readable`] without ever failing a watch;
//! - [`status::apply_status`]: server-side apply of a status with the controller's field
//!   manager, skipped when the live status already says the same (timestamps aside);
//! - [`finalizer`]: add/remove the operator's finalizer by JSON patch;
//! - [`span`]: the `reconcile` tracing span every reconcile runs in (the object, the outcome);
//! - [`Error`]: reconcile errors with a [`remotion_crds::Reason`] that classifies them
//!   transient (retry with backoff) or terminal (the spec must change), and [`Backoffs`]
//!   turning them into requeue delays.

pub mod abandon;
pub mod backoff;
pub mod conditions;
pub mod error;
pub mod finalizer;
pub mod guard;
pub mod kstatus;
pub mod readable;
pub mod shell;
pub mod span;
pub mod status;

pub use backoff::Backoffs;
pub use error::Error;
pub use finalizer::{FINALIZER, add_finalizer, has_finalizer, is_deleting, remove_finalizer};
pub use status::{apply_status, apply_status_unchanged};
