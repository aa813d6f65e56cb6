//! What a `remotion bundle` output says about the Remotion that made it: its page protocol
//! (`window.siteVersion`) and its Remotion release.
//!
//! Recent bundles write both into `index.html` (`window.siteVersion = '11';`,
//! `window.remotion_version = '4.0.527';`). Older Remotion 4 bundles set them from
//! `bundle.js` at run time: the page protocol as a literal (`window.siteVersion = "11"`), the
//! release only through the core package's version module (`exports.VERSION = '4.0.150';`
//! under its doc comment), which is what is looked for there.

use std::fs;
use std::path::Path;

/// What the bundle declares; `None` where it does not say.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BundleVersions {
    /// `window.siteVersion`.
    pub site_version: Option<String>,
    /// The Remotion release.
    pub remotion_version: Option<String>,
}

impl BundleVersions {
    /// Reads `index.html` and, for what it does not say, `bundle.js` of the bundle at `root`
    /// (files that cannot be read say nothing: the bundle check has already required both).
    pub fn read(root: &Path) -> Self {
        let text = |name: &str| fs::read(root.join(name)).map(|b| String::from_utf8_lossy(&b).into_owned());
        let index = text("index.html").unwrap_or_default();
        let mut versions = Self {
            site_version: assigned_literal(&index, "window.siteVersion"),
            remotion_version: assigned_literal(&index, "window.remotion_version"),
        };
        if versions.site_version.is_none() || versions.remotion_version.is_none() {
            let script = text("bundle.js").unwrap_or_default();
            versions.site_version = versions.site_version.or_else(|| assigned_literal(&script, "window.siteVersion"));
            versions.remotion_version = versions.remotion_version.or_else(|| core_package_version(&script));
        }
        versions
    }
}

/// The string literal first assigned to `target` in `source` (`target = '…'` or `"…"`),
/// skipping reads and assignments of anything else. Only a plausible version string counts.
pub fn assigned_literal(source: &str, target: &str) -> Option<String> {
    source.match_indices(target).find_map(|(at, _)| {
        let after = source[at + target.len()..].trim_start();
        let after = after.strip_prefix('=').filter(|rest| !rest.starts_with('='))?.trim_start();
        quoted_version(after)
    })
}

/// Marks Remotion's core version module leaves in a bundle, just before its `VERSION`: the
/// doc comment of the CommonJS build, and the source-file comment of the ES build.
const VERSION_MODULE_MARKS: [&str; 2] = ["The current version of the remotion package", "// src/version.ts"];

/// How far after a mark the version assignment may be.
const VERSION_MODULE_REACH: usize = 200;

/// The Remotion release from the core package's version module inside `bundle.js`.
fn core_package_version(script: &str) -> Option<String> {
    VERSION_MODULE_MARKS.iter().find_map(|mark| {
        script.match_indices(mark).find_map(|(at, _)| {
            let near = &script[at..];
            let near = &near[..near.char_indices().nth(VERSION_MODULE_REACH).map_or(near.len(), |(i, _)| i)];
            assigned_literal(near, "VERSION")
        })
    })
}

/// A quoted version string at the start of `text`: letters, digits, `.`, `-`, `+`, at most
/// 64 characters.
fn quoted_version(text: &str) -> Option<String> {
    let quote = text.chars().next().filter(|c| matches!(c, '\'' | '"'))?;
    let value = &text[1..][..text[1..].find(quote)?];
    let plausible = !value.is_empty()
        && value.len() <= 64
        && value.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '+'));
    plausible.then(|| value.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_assigned_in_index_html_are_read() {
        let html = "<script>\n window.siteVersion = '11';\n window.remotion_version = '4.0.527';\n</script>";
        assert_eq!(assigned_literal(html, "window.remotion_version").as_deref(), Some("4.0.527"));
        assert_eq!(assigned_literal(html, "window.siteVersion").as_deref(), Some("11"));
        let beta = "window.remotion_version = \"5.0.0-beta.1\"";
        assert_eq!(assigned_literal(beta, "window.remotion_version").as_deref(), Some("5.0.0-beta.1"));
        for nothing in [
            "<html></html>",
            "window.remotion_version = '<script>';",
            "window.remotion_version = '4.0",
            "window.remotion_version = VERSION;",
            "if (window.siteVersion == '11') {}",
        ] {
            let target = if nothing.contains("siteVersion") { "window.siteVersion" } else { "window.remotion_version" };
            assert_eq!(assigned_literal(nothing, target), None, "{nothing}");
        }
        // A read before the assignment is skipped.
        let script = "if (window.siteVersion !== undefined) {}\nwindow.siteVersion = \"11\";";
        assert_eq!(assigned_literal(script, "window.siteVersion").as_deref(), Some("11"));
    }

    #[test]
    fn an_older_bundle_says_its_release_through_the_core_version_module() {
        let commonjs = "/**\n * @returns {string} The current version of the remotion package\n */\n\
                        exports.VERSION = '4.0.150';\n";
        assert_eq!(core_package_version(commonjs).as_deref(), Some("4.0.150"));
        let esm = "// src/version.ts\nvar VERSION = \"4.0.527\";\n";
        assert_eq!(core_package_version(esm).as_deref(), Some("4.0.527"));
        // Another library's VERSION is not Remotion's.
        assert_eq!(core_package_version("var VERSION = '1.2.3';"), None);
    }

    #[test]
    fn index_html_is_read_first_and_bundle_js_fills_in() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("index.html"), "<script>window.remotion_version = '4.0.527';</script>").unwrap();
        fs::write(dir.path().join("bundle.js"), "window.siteVersion = \"11\";\nexports.VERSION = '9.9.9';").unwrap();
        let versions = BundleVersions::read(dir.path());
        assert_eq!(versions.site_version.as_deref(), Some("11"));
        assert_eq!(versions.remotion_version.as_deref(), Some("4.0.527"));
        assert_eq!(BundleVersions::read(&dir.path().join("missing")), BundleVersions::default());
    }
}
