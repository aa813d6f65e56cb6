//! The S3 key layout of a bucket (Remotion Lambda's, with a folder per namespace):
//!
//! ```text
//! sites/<namespace>/<siteName>/…             bundle files; serveUrl = …/sites/<namespace>/<siteName>/index.html
//! sites/<namespace>/<siteName>/.remotion-operator-owner.json  who owns the folder (created once)
//! renders/<renderId>/progress.json           progress document
//! renders/<renderId>/input-props.json        when props are large
//! renders/<renderId>/chunks/<index>.<ext>    chunk outputs (deleted after stitching)
//! renders/<renderId>/timings/<index>.json    per-frame timings of each chunk
//! renders/<renderId>/chunk-progress/<index>.json  frames of a chunk so far (deleted at the end)
//! renders/<renderId>/cancel                  cancellation signal
//! renders/<renderId>/continuation.json       the render's state, handed to the orchestrator's next invocation
//! renders/<renderId>/continuation-claims/<n> taken by continuation n (exactly one runs)
//! renders/<renderId>/out.<ext>               default output key
//! renders/<renderId>/artifacts/<filename>    files the composition emitted with <Artifact>
//! optimization/<namespace>/<siteName>/<composition>.json  per-frame cost profile for chunk planning
//! ```
//!
//! Sites and cost profiles live in a folder of their namespace: RemotionSites are namespaced,
//! and two teams naming the same site must never read, replace or delete each other's files.
//! A namespace is a DNS label (no `/`), so `<namespace>/<siteName>` names one folder of one
//! namespace and no two namespaces share any. Remotion Lambda's own layout (`sites/<siteName>/`,
//! which versions of the operator before this one used) is [`legacy_site_prefix`].

use std::fmt;

use serde::{Deserialize, Serialize};

/// Prefix of all sites.
pub const SITES_PREFIX: &str = "sites/";
/// Prefix of all renders.
pub const RENDERS_PREFIX: &str = "renders/";
/// Prefix of all cost profiles.
pub const OPTIMIZATION_PREFIX: &str = "optimization/";
/// File name of a site's entry page.
pub const SITE_INDEX: &str = "index.html";
/// File name of a site folder's owner marker (see [`site_owner`]).
pub const SITE_OWNER_FILE: &str = ".remotion-operator-owner.json";
/// Digits of a chunk index in keys: zero-padded so that listings sort in frame order.
const CHUNK_INDEX_DIGITS: usize = 6;

/// A name or id could not be used in a key.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyError {
    /// The site name has characters outside Remotion's `[-0-9a-zA-Z!_.*'()]`.
    #[error("site name {0:?} must be 1–128 characters of letters, digits and -!_.*'()")]
    SiteName(String),
    /// The namespace is not a Kubernetes namespace name (a DNS label).
    #[error("namespace {0:?} must be 1–63 characters of lowercase letters, digits and dashes")]
    Namespace(String),
    /// The render id is not 1–64 characters of `[a-z0-9-]`.
    #[error("render id {0:?} must be 1–64 characters of lowercase letters, digits and dashes")]
    RenderId(String),
    /// The composition id cannot be used in a key.
    #[error(
        "composition id {0:?} cannot be used in an S3 key (empty, too long, or contains '/' or control characters)"
    )]
    CompositionId(String),
    /// A composition's `defaultOutName` cannot name an output in the render's folder.
    #[error(
        "defaultOutName {0:?} (from the composition's calculateMetadata) must be 1–200 characters of letters, \
         digits, '/' and -!_.*'() with no empty, '.' or '..' segment, as Remotion's outName"
    )]
    OutName(String),
    /// An `<Artifact>`'s filename cannot name a file in the render's artifacts folder.
    #[error(
        "artifact filename {0:?} must be 1–512 characters of letters, digits, '/' and -!_.*'():&$@=;+,? \
         with no empty, '.' or '..' segment (Remotion's rule, and it must stay inside the render's folder)"
    )]
    ArtifactFilename(String),
}

/// A validated site name (the folder under `sites/`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SiteName(String);

impl SiteName {
    /// Validates a site name against Remotion's rule.
    pub fn new(name: impl Into<String>) -> Result<Self, KeyError> {
        let name = name.into();
        let ok = !name.is_empty()
            && name.len() <= 128
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"-!_.*'()".contains(&b))
            && name != "."
            && name != "..";
        if ok { Ok(Self(name)) } else { Err(KeyError::SiteName(name)) }
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for SiteName {
    type Error = KeyError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::new(value)
    }
}

impl From<SiteName> for String {
    fn from(value: SiteName) -> Self {
        value.0
    }
}

impl fmt::Display for SiteName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where a site lives in a bucket: its namespace and its name (`sites/<namespace>/<name>/`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SiteFolder {
    namespace: String,
    name: SiteName,
}

impl SiteFolder {
    /// The folder of site `name` of `namespace`, which must be a Kubernetes namespace name:
    /// 1–63 characters of `[a-z0-9-]`, never `/`, so that it is one folder of its own.
    pub fn new(namespace: impl Into<String>, name: SiteName) -> Result<Self, KeyError> {
        let namespace = namespace.into();
        let ok = (1..=63).contains(&namespace.len())
            && namespace.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if ok { Ok(Self { namespace, name }) } else { Err(KeyError::Namespace(namespace)) }
    }

    /// The namespace.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The site name.
    pub fn name(&self) -> &SiteName {
        &self.name
    }
}

impl fmt::Display for SiteFolder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// A validated render id (the folder under `renders/`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RenderId(String);

impl RenderId {
    /// Validates a render id.
    pub fn new(id: impl Into<String>) -> Result<Self, KeyError> {
        let id = id.into();
        let ok = !id.is_empty()
            && id.len() <= 64
            && id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if ok { Ok(Self(id)) } else { Err(KeyError::RenderId(id)) }
    }

    /// The render id of a RenderJob: its UID without dashes, lowercased. Derived, not random,
    /// so that an operator restarted mid-launch finds the same render again.
    pub fn from_uid(uid: &str) -> Result<Self, KeyError> {
        Self::new(uid.chars().filter(|c| *c != '-').flat_map(char::to_lowercase).collect::<String>())
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for RenderId {
    type Error = KeyError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::new(value)
    }
}

impl From<RenderId> for String {
    fn from(value: RenderId) -> Self {
        value.0
    }
}

impl fmt::Display for RenderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// `sites/<namespace>/<site>/`
pub fn site_prefix(site: &SiteFolder) -> String {
    format!("{SITES_PREFIX}{site}/")
}

/// `sites/<namespace>/<site>/<path>` for a path relative to the bundle root (no leading slash).
pub fn site_object(site: &SiteFolder, relative_path: &str) -> String {
    format!("{SITES_PREFIX}{site}/{}", relative_path.trim_start_matches('/'))
}

/// `sites/<namespace>/<site>/index.html`
pub fn site_index(site: &SiteFolder) -> String {
    site_object(site, SITE_INDEX)
}

/// `sites/<namespace>/<site>/.remotion-operator-owner.json`: which resource of which cluster
/// owns the folder. Created once, conditionally, before the first file is uploaded, and kept
/// by every sync (it is no file of the bundle, yet never stale).
pub fn site_owner(site: &SiteFolder) -> String {
    site_object(site, SITE_OWNER_FILE)
}

/// `sites/<site>/`: where versions of the operator before the namespaced layout put a site
/// (Remotion Lambda's layout). Named in notes only: the operator never writes there.
pub fn legacy_site_prefix(site: &SiteName) -> String {
    format!("{SITES_PREFIX}{site}/")
}

/// `renders/<id>/`
pub fn render_prefix(id: &RenderId) -> String {
    format!("{RENDERS_PREFIX}{id}/")
}

/// `renders/<id>/progress.json`
pub fn progress(id: &RenderId) -> String {
    format!("{RENDERS_PREFIX}{id}/progress.json")
}

/// `renders/<id>/input-props.json`
pub fn input_props(id: &RenderId) -> String {
    format!("{RENDERS_PREFIX}{id}/input-props.json")
}

/// `renders/<id>/resolved-props.json` (props after `calculateMetadata`, when large)
pub fn resolved_props(id: &RenderId) -> String {
    format!("{RENDERS_PREFIX}{id}/resolved-props.json")
}

/// `renders/<id>/chunks/`
pub fn chunks_prefix(id: &RenderId) -> String {
    format!("{RENDERS_PREFIX}{id}/chunks/")
}

/// `renders/<id>/chunks/<index>.<ext>`, the index zero-padded to 6 digits.
pub fn chunk(id: &RenderId, index: u32, extension: &str) -> String {
    format!("{RENDERS_PREFIX}{id}/chunks/{index:0CHUNK_INDEX_DIGITS$}.{extension}")
}

/// The chunk index of a key made by [`chunk`].
pub fn parse_chunk_index(key: &str) -> Option<u32> {
    let name = key.rsplit('/').next()?;
    let (stem, _ext) = name.split_once('.')?;
    stem.parse().ok()
}

/// `renders/<id>/timings/`
pub fn timings_prefix(id: &RenderId) -> String {
    format!("{RENDERS_PREFIX}{id}/timings/")
}

/// `renders/<id>/timings/<index>.json`
pub fn timings(id: &RenderId, index: u32) -> String {
    format!("{RENDERS_PREFIX}{id}/timings/{index:0CHUNK_INDEX_DIGITS$}.json")
}

/// `renders/<id>/chunk-progress/`
pub fn chunk_progress_prefix(id: &RenderId) -> String {
    format!("{RENDERS_PREFIX}{id}/chunk-progress/")
}

/// `renders/<id>/chunk-progress/<index>.json`: the frames a running chunk has rendered and
/// encoded so far, which its renderer rewrites while it works.
pub fn chunk_progress(id: &RenderId, index: u32) -> String {
    format!("{RENDERS_PREFIX}{id}/chunk-progress/{index:0CHUNK_INDEX_DIGITS$}.json")
}

/// `renders/<id>/cancel`
pub fn cancel(id: &RenderId) -> String {
    format!("{RENDERS_PREFIX}{id}/cancel")
}

/// `renders/<id>/continuation.json`: the state an orchestrator nearing its function's timeout
/// hands to its continuation (see [`crate::payload::ContinueRequest`]).
pub fn continuation(id: &RenderId) -> String {
    format!("{RENDERS_PREFIX}{id}/continuation.json")
}

/// `renders/<id>/continuation-claims/`
pub fn continuation_claims_prefix(id: &RenderId) -> String {
    format!("{RENDERS_PREFIX}{id}/continuation-claims/")
}

/// `renders/<id>/continuation-claims/<n>`: created (conditionally) by continuation `n` before
/// it takes the render over, so that of two deliveries of its event only one does.
pub fn continuation_claim(id: &RenderId, number: u32) -> String {
    format!("{RENDERS_PREFIX}{id}/continuation-claims/{number:0CHUNK_INDEX_DIGITS$}")
}

/// `renders/<id>/allotment.json` (see [`crate::payload::Allotment`])
pub fn allotment(id: &RenderId) -> String {
    format!("{RENDERS_PREFIX}{id}/allotment.json")
}

/// `renders/<id>/frames/`: the frames of an image sequence.
pub fn sequence_frames(id: &RenderId) -> String {
    format!("{RENDERS_PREFIX}{id}/frames/")
}

/// `renders/<id>/frames.zip`: the archive of an image sequence's frames, beside them.
pub fn sequence_archive(id: &RenderId) -> String {
    format!("{RENDERS_PREFIX}{id}/frames.zip")
}

/// `renders/<id>/out.<ext>`
pub fn default_output(id: &RenderId, extension: &str) -> String {
    format!("{RENDERS_PREFIX}{id}/out.{extension}")
}

/// `renders/<id>/<name>.<ext>`: the output named by a composition's `defaultOutName` (a name
/// without extension, as Remotion's CLI takes it), kept inside the render's folder.
pub fn named_output(id: &RenderId, name: &str, extension: &str) -> Result<String, KeyError> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || "-!_.*'()/".contains(c);
    let segments_ok = name.split('/').all(|s| !s.is_empty() && s != "." && s != "..");
    if name.is_empty() || name.len() > 200 || !name.chars().all(allowed) || !segments_ok {
        return Err(KeyError::OutName(name.to_owned()));
    }
    Ok(format!("{RENDERS_PREFIX}{id}/{name}.{extension}"))
}

/// `renders/<id>/artifacts/`
pub fn artifacts_prefix(id: &RenderId) -> String {
    format!("{RENDERS_PREFIX}{id}/artifacts/")
}

/// `renders/<id>/artifacts/<filename>` (where Remotion Lambda saves an `<Artifact>`): the
/// filename in Remotion's characters, and no segment that would climb out of the folder.
pub fn artifact(id: &RenderId, filename: &str) -> Result<String, KeyError> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || "-!_.*'()/:&$@=;+,?".contains(c);
    let segments_ok = filename.split('/').all(|s| !s.is_empty() && s != "." && s != "..");
    if filename.is_empty() || filename.len() > 512 || !filename.chars().all(allowed) || !segments_ok {
        return Err(KeyError::ArtifactFilename(filename.to_owned()));
    }
    Ok(format!("{}{filename}", artifacts_prefix(id)))
}

/// `optimization/<namespace>/<site>/<composition>.json`
pub fn optimization(site: &SiteFolder, composition: &str) -> Result<String, KeyError> {
    let ok = !composition.is_empty()
        && composition.len() <= 256
        && !composition.contains('/')
        && !composition.chars().any(char::is_control)
        && composition != "."
        && composition != "..";
    if !ok {
        return Err(KeyError::CompositionId(composition.to_owned()));
    }
    Ok(format!("{OPTIMIZATION_PREFIX}{site}/{composition}.json"))
}

/// The serve URL of a site under a bucket base URL (`…/sites/<namespace>/<site>/index.html`).
pub fn serve_url(bucket_base_url: &str, site: &SiteFolder) -> String {
    format!("{}/{}", bucket_base_url.trim_end_matches('/'), site_index(site))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_matches_the_design() {
        let site = SiteFolder::new("team-a", SiteName::new("my-site").unwrap()).unwrap();
        let id = RenderId::new("abc123").unwrap();
        assert_eq!(site_prefix(&site), "sites/team-a/my-site/");
        assert_eq!(site_object(&site, "/public/logo.png"), "sites/team-a/my-site/public/logo.png");
        assert_eq!(site_index(&site), "sites/team-a/my-site/index.html");
        assert_eq!(site_owner(&site), "sites/team-a/my-site/.remotion-operator-owner.json");
        assert_eq!(legacy_site_prefix(site.name()), "sites/my-site/");
        assert_eq!(progress(&id), "renders/abc123/progress.json");
        assert_eq!(input_props(&id), "renders/abc123/input-props.json");
        assert_eq!(chunk(&id, 7, "ts"), "renders/abc123/chunks/000007.ts");
        assert_eq!(timings(&id, 12345), "renders/abc123/timings/012345.json");
        assert_eq!(chunk_progress(&id, 42), "renders/abc123/chunk-progress/000042.json");
        assert!(chunk_progress(&id, 42).starts_with(&chunk_progress_prefix(&id)));
        assert!(chunk_progress(&id, 999_999).starts_with(&render_prefix(&id)));
        assert_eq!(cancel(&id), "renders/abc123/cancel");
        assert_eq!(continuation(&id), "renders/abc123/continuation.json");
        assert_eq!(continuation_claim(&id, 3), "renders/abc123/continuation-claims/000003");
        assert!(continuation_claim(&id, 3).starts_with(&continuation_claims_prefix(&id)));
        assert_eq!(default_output(&id, "mp4"), "renders/abc123/out.mp4");
        assert_eq!(named_output(&id, "weekly/recap", "webm").unwrap(), "renders/abc123/weekly/recap.webm");
        for bad in ["", "../escape", "a//b", "/abs", "sp ace", "dot/./x"] {
            assert_eq!(named_output(&id, bad, "mp4"), Err(KeyError::OutName(bad.into())), "{bad:?}");
        }
        assert_eq!(optimization(&site, "Intro").unwrap(), "optimization/team-a/my-site/Intro.json");
        assert_eq!(artifact(&id, "captions/en.srt").unwrap(), "renders/abc123/artifacts/captions/en.srt");
        for bad in ["", "../escape", "a//b", "/abs", "sp ace", "dot/./x", "a\\b"] {
            assert_eq!(artifact(&id, bad), Err(KeyError::ArtifactFilename(bad.into())), "{bad:?}");
        }
        assert_eq!(
            serve_url("http://127.0.0.1:8333/bucket/", &site),
            "http://127.0.0.1:8333/bucket/sites/team-a/my-site/index.html"
        );
    }

    #[test]
    fn sites_of_different_namespaces_never_share_a_folder() {
        let name = SiteName::new("promo").unwrap();
        let a = SiteFolder::new("team-a", name.clone()).unwrap();
        let b = SiteFolder::new("team-b", name.clone()).unwrap();
        // Neither folder is the other's, nor inside it.
        assert!(!site_prefix(&a).starts_with(&site_prefix(&b)) && !site_prefix(&b).starts_with(&site_prefix(&a)));
        assert_ne!(optimization(&a, "Intro").unwrap(), optimization(&b, "Intro").unwrap());
        // A namespace is one folder: it cannot reach into another's.
        assert_eq!(SiteFolder::new("team-a/promo", name.clone()), Err(KeyError::Namespace("team-a/promo".into())));
        for bad in ["", "Team", "..", "a.b", &"x".repeat(64)] {
            assert!(SiteFolder::new(bad, name.clone()).is_err(), "{bad:?}");
        }
        assert_eq!(a.to_string(), "team-a/promo");
    }

    #[test]
    fn chunk_keys_sort_in_frame_order_and_parse_back() {
        let id = RenderId::new("r").unwrap();
        let mut keys: Vec<String> = [10, 2, 100_000, 999_999].iter().map(|i| chunk(&id, *i, "ts")).collect();
        keys.sort();
        let parsed: Vec<u32> = keys.iter().map(|k| parse_chunk_index(k).unwrap()).collect();
        assert_eq!(parsed, vec![2, 10, 100_000, 999_999]);
    }

    #[test]
    fn names_are_validated() {
        assert!(SiteName::new("a.b_c-(d)!*'").is_ok());
        assert!(SiteName::new("").is_err());
        assert!(SiteName::new("a/b").is_err());
        assert!(SiteName::new("..").is_err());
        assert!(RenderId::new("Abc").is_err());
        assert!(optimization(&SiteFolder::new("n", SiteName::new("s").unwrap()).unwrap(), "a/b").is_err());
        assert_eq!(
            RenderId::from_uid("6F1E2D3C-0000-4000-8000-00000000ABCD").unwrap().as_str(),
            "6f1e2d3c00004000800000000000abcd"
        );
        assert!(serde_json::from_str::<SiteName>("\"bad/name\"").is_err());
    }
}
