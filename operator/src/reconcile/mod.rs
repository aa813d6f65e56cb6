//! Building blocks every controller uses:
//!
//! - [`status::apply_status`]: server-side apply of a status with the controller's field
//!   manager, skipped when the live status already says the same (timestamps aside);
//! - [`finalizer`]: add/remove the operator's finalizer by JSON patch;
//! - [`Error`]: typed reconcile errors, classified transient (retry with backoff) or
//!   terminal (the spec must change), and [`Backoffs`] turning them into requeue delays.

pub mod backoff;
pub mod error;
pub mod finalizer;
pub mod status;

pub use backoff::Backoffs;
pub use error::Error;
pub use finalizer::{FINALIZER, add_finalizer, has_finalizer, is_deleting, remove_finalizer};
pub use status::apply_status;
