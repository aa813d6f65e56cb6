//! Limits and timings of the RemotionSite controller (chart values reach them through the
//! operator's flags).

use std::path::PathBuf;
use std::time::Duration;

use super::{archive, fetch, sync};

/// Limits and timings of the RemotionSite controller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SiteSettings {
    /// Download bounds.
    pub fetch: fetch::FetchLimits,
    /// Unpacked-site bounds.
    pub unpack: archive::UnpackLimits,
    /// Upload concurrency and timeouts.
    pub sync: sync::SyncOptions,
    /// How often sources that can change in place (ConfigMap, S3 object) are looked at again.
    /// A URL source is pinned by its digest and never polled.
    pub poll_interval: Duration,
    /// Longest wait for the function to list the compositions.
    pub compositions_timeout: Duration,
    /// Where archives are downloaded and unpacked (default: the system temp folder). Needs
    /// room for the largest archive plus its unpacked site per concurrent reconcile.
    pub scratch_dir: Option<PathBuf>,
}

impl Default for SiteSettings {
    fn default() -> Self {
        Self {
            fetch: fetch::FetchLimits::default(),
            unpack: archive::UnpackLimits::default(),
            sync: sync::SyncOptions::default(),
            poll_interval: Duration::from_secs(300),
            compositions_timeout: Duration::from_secs(120),
            scratch_dir: None,
        }
    }
}
