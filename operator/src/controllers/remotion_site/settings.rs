//! Limits and timings of the RemotionSite controller (chart values reach them through the
//! operator's flags). The size limits derive from the scratch volume ([`ScratchBudget`]): see
//! [`super::scratch`] for the formula.

use std::path::PathBuf;
use std::time::Duration;

use super::scratch::{ScratchBudget, ScratchTooSmall};
use super::{archive, fetch, sync};

/// Limits and timings of the RemotionSite controller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SiteSettings {
    /// The scratch volume's size and the syncs that share it (one permit each).
    pub scratch: ScratchBudget,
    /// Download bounds; `max_archive_bytes` comes from `scratch`.
    pub fetch: fetch::FetchLimits,
    /// Unpacked-site bounds, from `scratch`.
    pub unpack: archive::UnpackLimits,
    /// Upload concurrency and timeouts.
    pub sync: sync::SyncOptions,
    /// How often sources that can change in place (ConfigMap, S3 object) are looked at again.
    /// A URL source is pinned by its digest and never polled.
    pub poll_interval: Duration,
    /// Longest wait for the function to list the compositions.
    pub compositions_timeout: Duration,
    /// Where archives are downloaded and unpacked (default: the system temp folder, the
    /// chart's scratch volume).
    pub scratch_dir: Option<PathBuf>,
}

impl SiteSettings {
    /// The settings for a scratch volume of `bytes` shared by `syncs` syncs at once.
    pub fn for_scratch(bytes: u64, syncs: u16) -> Result<Self, ScratchTooSmall> {
        Ok(Self::with_budget(ScratchBudget::new(bytes, syncs)?))
    }

    fn with_budget(scratch: ScratchBudget) -> Self {
        Self {
            scratch,
            fetch: fetch::FetchLimits { max_archive_bytes: scratch.archive_bytes(), ..fetch::FetchLimits::default() },
            unpack: scratch.unpack_limits(),
            sync: sync::SyncOptions::default(),
            poll_interval: Duration::from_secs(300),
            compositions_timeout: Duration::from_secs(120),
            scratch_dir: None,
        }
    }
}

impl Default for SiteSettings {
    /// The chart's defaults: a 1 GiB scratch volume, one sync at a time.
    fn default() -> Self {
        Self::with_budget(ScratchBudget::default())
    }
}

/// Parses a Kubernetes quantity as the chart's `scratch.sizeLimit` holds it (`1Gi`, `1.5G`,
/// `500Mi`, `2000000000`) into bytes.
pub fn parse_quantity(text: &str) -> Result<u64, String> {
    const SUFFIXES: [(&str, u64); 10] = [
        ("Ki", 1 << 10),
        ("Mi", 1 << 20),
        ("Gi", 1 << 30),
        ("Ti", 1 << 40),
        ("Pi", 1 << 50),
        ("k", 1_000),
        ("M", 1_000_000),
        ("G", 1_000_000_000),
        ("T", 1_000_000_000_000),
        ("P", 1_000_000_000_000_000),
    ];
    let text = text.trim();
    let (number, unit) =
        SUFFIXES.iter().find_map(|(suffix, unit)| text.strip_suffix(suffix).map(|n| (n, *unit))).unwrap_or((text, 1));
    let bad = || format!("{text:?} is not a size like 1Gi, 1500Mi or 2G");
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(whole) || !(fraction.is_empty() || digits(fraction)) || number.ends_with('.') {
        return Err(bad());
    }
    let whole: u64 = whole.parse().map_err(|_| bad())?;
    // Fractions to the byte, rounded down: 1.5Gi is 1610612736.
    let fraction_bytes = if fraction.is_empty() {
        0
    } else {
        let digits = &fraction[..fraction.len().min(18)];
        let scale = 10u128.pow(digits.len() as u32);
        let value: u128 = digits.parse().map_err(|_| bad())?;
        u64::try_from(value * u128::from(unit) / scale).map_err(|_| bad())?
    };
    whole.checked_mul(unit).and_then(|b| b.checked_add(fraction_bytes)).ok_or_else(bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_parse_as_kubernetes_writes_them() {
        assert_eq!(parse_quantity("1Gi"), Ok(1 << 30));
        assert_eq!(parse_quantity("3Gi"), Ok(3 << 30));
        assert_eq!(parse_quantity("1500Mi"), Ok(1500 << 20));
        assert_eq!(parse_quantity("1.5Gi"), Ok(1_610_612_736));
        assert_eq!(parse_quantity("2G"), Ok(2_000_000_000));
        assert_eq!(parse_quantity("0.5k"), Ok(500));
        assert_eq!(parse_quantity("123456"), Ok(123_456));
        for bad in ["", "Gi", "1.Gi", ".5Gi", "1 Gi", "1GB", "-1Gi", "1e9", "99999999999Pi"] {
            assert!(parse_quantity(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_size_limits_come_from_the_scratch_volume() {
        let settings = SiteSettings::for_scratch(4 << 30, 2).unwrap();
        assert_eq!(settings.scratch, ScratchBudget { bytes: 4 << 30, syncs: 2 });
        assert_eq!(settings.fetch.max_archive_bytes, settings.scratch.archive_bytes());
        assert_eq!(settings.unpack, settings.scratch.unpack_limits());
        assert_eq!(SiteSettings::default(), SiteSettings::for_scratch(1 << 30, 1).unwrap());
        assert!(SiteSettings::for_scratch(1 << 20, 1).is_err());
    }
}
