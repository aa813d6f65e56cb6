//! The scratch volume site archives are downloaded and unpacked in, and who may use it.
//!
//! Everything a sync writes locally — the archive, then the unpacked site beside it — lives in
//! a folder of the scratch volume (the chart's `/tmp` emptyDir, `scratch.sizeLimit`; the kubelet
//! evicts the pod beyond it). So the limits of a site derive from that one size and the number
//! of syncs that may run at once ([`ScratchBudget`]), and a sync holds one of that many permits
//! from before its folder is made until after it is removed ([`Scratch::claim`]): a site
//! waiting for a permit holds no scratch space.
//!
//! The derivation, per sync (`S` the scratch size, `N` the syncs at once):
//!
//! ```text
//! share     = S / N
//! overhead  = 2 × maxFiles × (4 KiB + 264 B) + 4 KiB   files and folders each round up to a
//!                                                       block and take a directory entry
//! usable    = share − overhead
//! archive   = usable / 3                                the download
//! site      = usable − archive                          the unpacked files, together
//! file      = min(site, 5 GiB)                          one file (one S3 PUT)
//! ```
//!
//! so `N × (archive + site + overhead) ≤ S` whatever the archives hold. With the defaults
//! (1 GiB, one sync, 10,000 files) an archive may have 313 MiB and unpack to 627 MiB.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use remotion_crds::Reason;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::archive::UnpackLimits;
use crate::reconcile::Error;

/// Default scratch size: the chart's default `scratch.sizeLimit`, 1 GiB.
pub const DEFAULT_SCRATCH_BYTES: u64 = 1 << 30;
/// Default number of site syncs at once.
pub const DEFAULT_SITE_SYNCS: u16 = 1;
/// Most files in a site (and, separately, most folders).
pub const MAX_FILES: u64 = 10_000;
/// Filesystem block: every file's last block and every folder take a whole one.
const BLOCK_BYTES: u64 = 4096;
/// Room a name takes in its folder's listing (ext4: 8 bytes and a name of up to 255).
const DIRECTORY_ENTRY_BYTES: u64 = 264;
/// Largest object a single S3 PUT may write (what the sync uploads files with).
const MAX_SINGLE_PUT_BYTES: u64 = 5 << 30;
/// Smallest download and site worth running with.
const MIN_USABLE_BYTES: u64 = 3 << 20;

/// The scratch volume's size and how many syncs share it: every site limit derives from these.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScratchBudget {
    /// Size of the scratch volume, bytes (the chart's `scratch.sizeLimit`).
    pub bytes: u64,
    /// Syncs at once (each downloads, unpacks and uploads one site).
    pub syncs: u16,
}

impl Default for ScratchBudget {
    fn default() -> Self {
        Self { bytes: DEFAULT_SCRATCH_BYTES, syncs: DEFAULT_SITE_SYNCS }
    }
}

/// The scratch volume cannot hold even a small site per sync.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "a scratch volume of {bytes} bytes shared by {syncs} site syncs leaves {usable} bytes per sync for the archive and its files, less than {minimum}: raise scratch.sizeLimit or lower scratch.siteSyncs"
)]
pub struct ScratchTooSmall {
    /// The scratch size.
    pub bytes: u64,
    /// Syncs at once.
    pub syncs: u16,
    /// What one sync would get after the filesystem overhead.
    pub usable: u64,
    /// The least that is useful.
    pub minimum: u64,
}

impl ScratchBudget {
    /// The budget, refused when a sync's share would be too small to be of use.
    pub fn new(bytes: u64, syncs: u16) -> Result<Self, ScratchTooSmall> {
        let budget = Self { bytes, syncs: syncs.max(1) };
        let usable = budget.usable_per_sync();
        if usable < MIN_USABLE_BYTES {
            return Err(ScratchTooSmall { bytes, syncs: budget.syncs, usable, minimum: MIN_USABLE_BYTES });
        }
        Ok(budget)
    }

    /// What the filesystem takes beyond the bytes of the files, at most, per sync.
    pub fn overhead_per_sync() -> u64 {
        2 * MAX_FILES * (BLOCK_BYTES + DIRECTORY_ENTRY_BYTES) + BLOCK_BYTES
    }

    /// Bytes of one sync's share left for the archive and the site's files.
    pub fn usable_per_sync(&self) -> u64 {
        (self.bytes / u64::from(self.syncs.max(1))).saturating_sub(Self::overhead_per_sync())
    }

    /// Largest archive to download.
    pub fn archive_bytes(&self) -> u64 {
        self.usable_per_sync() / 3
    }

    /// Bounds of the unpacked site: what is left of the share after the archive.
    pub fn unpack_limits(&self) -> UnpackLimits {
        let site = self.usable_per_sync() - self.archive_bytes();
        UnpackLimits { max_file_bytes: site.min(MAX_SINGLE_PUT_BYTES), max_total_bytes: site, max_files: MAX_FILES }
    }
}

/// The scratch volume: a permit per sync, and where their folders go.
#[derive(Clone, Debug)]
pub struct Scratch {
    permits: Arc<Semaphore>,
    root: Option<PathBuf>,
}

/// One sync's folder and its permit; dropping it removes the folder, then frees the permit.
#[derive(Debug)]
pub struct ScratchClaim {
    // Fields drop in order: the folder goes before the permit lets the next sync in.
    dir: tempfile::TempDir,
    _permit: OwnedSemaphorePermit,
}

impl ScratchClaim {
    /// The sync's folder.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Scratch {
    /// `syncs` permits over folders in `root` (default: the system temp folder).
    pub fn new(syncs: u16, root: Option<PathBuf>) -> Self {
        Self { permits: Arc::new(Semaphore::new(usize::from(syncs.max(1)))), root }
    }

    /// Waits for a permit, then makes the sync's folder.
    pub async fn claim(&self) -> Result<ScratchClaim, Error> {
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| Error::caused_by(Reason::InternalError, "waiting for a site sync permit", e))?;
        let builder = {
            let mut builder = tempfile::Builder::new();
            builder.prefix("remotion-site-");
            builder
        };
        let made = match &self.root {
            Some(root) => builder.tempdir_in(root),
            None => builder.tempdir(),
        };
        let dir = made
            .map_err(|e| Error::caused_by(Reason::ScratchSpaceError, "creating a scratch folder for the archive", e))?;
        Ok(ScratchClaim { dir, _permit: permit })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    const MIB: u64 = 1 << 20;

    #[test]
    fn the_limits_of_every_sync_together_fit_the_scratch_volume() {
        for (bytes, syncs) in [(1 << 30, 1), (1 << 30, 4), (3 << 30, 2), (128 * MIB, 1), (100 << 30, 7)] {
            let budget = ScratchBudget::new(bytes, syncs).unwrap();
            let limits = budget.unpack_limits();
            let per_sync = budget.archive_bytes() + limits.max_total_bytes + ScratchBudget::overhead_per_sync();
            assert!(u64::from(syncs) * per_sync <= bytes, "{bytes} bytes, {syncs} syncs: {per_sync} each");
            assert!(limits.max_file_bytes <= limits.max_total_bytes);
            assert_eq!(limits.max_files, MAX_FILES);
        }
    }

    #[test]
    fn the_limits_follow_the_scratch_size() {
        let default = ScratchBudget::default();
        assert_eq!(default, ScratchBudget::new(1 << 30, 1).unwrap());
        // 2 × 10,000 × 4360 + 4096 bytes of overhead.
        assert_eq!(ScratchBudget::overhead_per_sync(), 87_204_096);
        let usable = (1 << 30) - 87_204_096;
        assert_eq!(default.archive_bytes(), usable / 3);
        assert_eq!(default.unpack_limits().max_total_bytes, usable - usable / 3);
        assert_eq!(default.archive_bytes() / MIB, 313);
        assert_eq!(default.unpack_limits().max_total_bytes / MIB, 627);

        let bigger = ScratchBudget::new(4 << 30, 1).unwrap();
        assert!(bigger.archive_bytes() > 3 * default.archive_bytes());
        let shared = ScratchBudget::new(4 << 30, 4).unwrap();
        assert_eq!(shared.archive_bytes(), default.archive_bytes());
        assert_eq!(shared.unpack_limits(), default.unpack_limits());
        // One file is one PUT: at most 5 GiB, however large the volume.
        assert_eq!(ScratchBudget::new(64 << 30, 1).unwrap().unpack_limits().max_file_bytes, 5 << 30);
    }

    #[test]
    fn a_volume_too_small_for_its_syncs_is_refused() {
        let err = ScratchBudget::new(100 * MIB, 4).unwrap_err();
        assert_eq!((err.syncs, err.usable), (4, 0));
        assert!(err.to_string().contains("raise scratch.sizeLimit or lower scratch.siteSyncs"), "{err}");
        assert!(ScratchBudget::new(100 * MIB, 1).is_ok());
    }

    #[tokio::test]
    async fn a_claim_waits_for_a_permit_and_its_folder_goes_first() {
        let root = tempfile::tempdir().unwrap();
        let scratch = Scratch::new(1, Some(root.path().to_path_buf()));
        let first = scratch.claim().await.unwrap();
        assert!(first.path().starts_with(root.path()) && first.path().is_dir());
        let waiting = tokio::time::timeout(Duration::from_millis(100), scratch.claim()).await;
        assert!(waiting.is_err(), "a second sync got a permit while the first held it");
        // Nothing was made for the sync that waited.
        assert_eq!(std::fs::read_dir(root.path()).unwrap().count(), 1);
        let first_path = first.path().to_path_buf();
        drop(first);
        assert!(!first_path.exists());
        let second = tokio::time::timeout(Duration::from_secs(1), scratch.claim()).await.unwrap().unwrap();
        assert!(second.path().is_dir());
    }
}
