//! Which Remotion bundles the renderer renders: the page protocol a site speaks (Remotion's
//! `window.siteVersion`), and the range of Remotion releases the renderer is tested with.
//!
//! Remotion itself refuses a site whose `siteVersion` is not its own ("Incompatible site") and
//! only warns when the bundle's Remotion version differs from the renderer's. The same split
//! holds here: another site version is refused; a Remotion 4 release outside the tested range
//! is rendered, with a warning that names the version.
//!
//! The tested range is what CI renders: the fixture under `tests/fixtures/remotion-versions/`
//! (the oldest) and the main fixture (the newest); a test keeps these constants and the
//! fixtures' `package.json` files in step.

use std::fmt;
use std::str::FromStr;

/// The page protocol of the sites this renderer renders (`window.siteVersion`), the same for
/// every Remotion release from 4.0.147 on.
pub const SITE_VERSION: &str = "11";

/// The oldest Remotion release the renderer is tested with.
pub const OLDEST_TESTED: RemotionVersion = RemotionVersion::new(4, 0, 150);

/// The newest Remotion release the renderer is tested with.
pub const NEWEST_TESTED: RemotionVersion = RemotionVersion::new(4, 0, 529);

/// A Remotion release, `major.minor.patch` (Remotion publishes no other shapes as releases).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RemotionVersion {
    /// Major.
    pub major: u32,
    /// Minor.
    pub minor: u32,
    /// Patch.
    pub patch: u32,
}

impl RemotionVersion {
    /// `major.minor.patch`.
    pub const fn new(major: u32, minor: u32, patch: u32) -> Self {
        Self { major, minor, patch }
    }
}

impl fmt::Display for RemotionVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// Not a `major.minor.patch` release number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a Remotion release number (major.minor.patch)")]
pub struct InvalidVersion(pub String);

impl FromStr for RemotionVersion {
    type Err = InvalidVersion;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let invalid = || InvalidVersion(s.to_owned());
        let mut parts = s.split('.').map(|part| {
            let digits = !part.is_empty() && part.len() <= 9 && part.bytes().all(|b| b.is_ascii_digit());
            digits.then(|| part.parse::<u32>().ok()).flatten()
        });
        let mut next = || parts.next().flatten().ok_or_else(invalid);
        let version = Self::new(next()?, next()?, next()?);
        match parts.next() {
            None => Ok(version),
            Some(_) => Err(invalid()),
        }
    }
}

/// What the renderer makes of a site, from what its bundle declares.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Compatibility {
    /// The site speaks this renderer's page protocol, and its Remotion release is tested.
    Tested(RemotionVersion),
    /// The site speaks this renderer's page protocol, but its Remotion release (or what the
    /// bundle says instead of one) is outside the tested range: rendered, with a warning.
    Untested(String),
    /// The site speaks this renderer's page protocol and does not say which release made it.
    Unknown,
    /// The site speaks another page protocol: the renderer refuses it, as Remotion does.
    Incompatible {
        /// The bundle's `siteVersion`.
        site_version: String,
        /// The bundle's Remotion version, when it says.
        remotion_version: Option<String>,
    },
}

impl Compatibility {
    /// Judges a bundle by its `siteVersion` and Remotion version. A bundle that declares no
    /// `siteVersion` is judged by its version alone (the page check refuses it if it is not a
    /// Remotion bundle at all).
    pub fn of(site_version: Option<&str>, remotion_version: Option<&str>) -> Self {
        if let Some(site_version) = site_version.filter(|v| *v != SITE_VERSION) {
            return Self::Incompatible {
                site_version: site_version.to_owned(),
                remotion_version: remotion_version.map(str::to_owned),
            };
        }
        let Some(declared) = remotion_version else { return Self::Unknown };
        match declared.parse::<RemotionVersion>() {
            Ok(version) if (OLDEST_TESTED..=NEWEST_TESTED).contains(&version) => Self::Tested(version),
            _ => Self::Untested(declared.to_owned()),
        }
    }

    /// Whether the renderer refuses the site.
    pub fn is_incompatible(&self) -> bool {
        matches!(self, Self::Incompatible { .. })
    }

    /// One sentence for a condition message or an error.
    pub fn describe(&self) -> String {
        let range = format!("Remotion {OLDEST_TESTED} to {NEWEST_TESTED}");
        match self {
            Self::Tested(version) => format!("bundled with Remotion {version}, within the tested range ({range})"),
            Self::Untested(version) => format!(
                "bundled with Remotion {version}, outside the tested range ({range}): it is rendered, but \
                 differences from Remotion's own output are possible; rebundle with a release in the range \
                 to be sure"
            ),
            Self::Unknown => format!("the bundle does not say which Remotion release made it (tested: {range})"),
            Self::Incompatible { site_version, remotion_version } => {
                let made = remotion_version.as_deref().map(|v| format!(" (Remotion {v})")).unwrap_or_default();
                format!(
                    "its bundle{made} speaks page protocol {site_version:?}, and this renderer \
                     renders page protocol {SITE_VERSION:?} (Remotion 4.0.147 and later; tested: {range}); \
                     rebundle it with a Remotion release in the tested range"
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn release_numbers_parse_and_order_numerically() {
        assert_eq!("4.0.150".parse(), Ok(RemotionVersion::new(4, 0, 150)));
        assert!(RemotionVersion::new(4, 0, 99) < "4.0.150".parse().unwrap());
        for bad in ["", "4", "4.0", "4.0.x", "4.0.1.2", "4.0.1-beta", "v4.0.1", "4..1", "4.0.9999999999"] {
            assert!(bad.parse::<RemotionVersion>().is_err(), "{bad:?}");
        }
        assert_eq!(NEWEST_TESTED.to_string(), "4.0.529");
        assert!(OLDEST_TESTED < NEWEST_TESTED);
    }

    #[test]
    fn a_site_is_judged_by_its_page_protocol_then_its_release() {
        let tested = Compatibility::of(Some("11"), Some("4.0.527"));
        assert_eq!(tested, Compatibility::Tested(RemotionVersion::new(4, 0, 527)));
        assert_eq!(Compatibility::of(None, Some("4.0.150")), Compatibility::Tested(OLDEST_TESTED));
        assert_eq!(Compatibility::of(Some("11"), Some("4.0.600")), Compatibility::Untested("4.0.600".into()));
        assert_eq!(Compatibility::of(Some("11"), Some("4.0.148")), Compatibility::Untested("4.0.148".into()));
        assert_eq!(Compatibility::of(Some("11"), Some("next")), Compatibility::Untested("next".into()));
        assert_eq!(Compatibility::of(Some("11"), None), Compatibility::Unknown);
        let old = Compatibility::of(Some("10"), Some("4.0.100"));
        assert!(old.is_incompatible());
        let message = old.describe();
        assert!(message.contains("4.0.100") && message.contains("\"10\"") && message.contains("\"11\""), "{message}");
        let unnamed = Compatibility::of(Some("7"), None).describe();
        assert!(unnamed.starts_with("its bundle speaks page protocol \"7\""), "{unnamed}");
        assert!(Compatibility::Untested("4.0.600".into()).describe().contains("4.0.150 to 4.0.529"));
    }
}
