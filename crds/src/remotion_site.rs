//! `RemotionSite`: a bundled Remotion project uploaded to a LambdaBucket.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use crate::common::{KeyRef, LocalObjectRef};

/// A bundled Remotion project (`remotion bundle` output): fetched, verified, uploaded to
/// `sites/<siteName>/` of a bucket, and its compositions listed.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[kube(
    group = "remotion-operator.io",
    version = "v1alpha1",
    kind = "RemotionSite",
    namespaced,
    status = "RemotionSiteStatus",
    shortname = "rsite",
    category = "remotion",
    doc = "A bundled Remotion project uploaded to a LambdaBucket",
    printcolumn(name = "Site", type_ = "string", json_path = ".status.siteName"),
    printcolumn(name = "Files", type_ = "integer", json_path = ".status.files"),
    printcolumn(name = "Ready", type_ = "string", json_path = ".status.conditions[?(@.type==\"Ready\")].status"),
    printcolumn(
        name = "Reason",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].reason",
        priority = 1
    ),
    printcolumn(name = "ServeURL", type_ = "string", json_path = ".status.serveUrl", priority = 1),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("has(self.siteName) == has(oldSelf.siteName) && (!has(self.siteName) || self.siteName == oldSelf.siteName)").message("siteName is immutable: create a new RemotionSite for another site name"))]
pub struct RemotionSiteSpec {
    /// The LambdaBucket to upload to.
    pub bucket_ref: LocalObjectRef,

    /// Folder under `sites/` in the bucket. Default: the resource's name. Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[-0-9a-zA-Z!_.*'()]+$"), length(min = 1, max = 128))]
    pub site_name: Option<String>,

    /// Where the bundle archive comes from.
    pub source: SiteSource,

    /// RenderFunction used to list the site's compositions into the status (optional).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function_ref: Option<LocalObjectRef>,
}

/// The source of a bundle: a `.tar.gz` or `.zip` of a `remotion bundle` output folder.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("(has(self.url) ? 1 : 0) + (has(self.configMapRef) ? 1 : 0) + (has(self.s3) ? 1 : 0) == 1").message("source needs exactly one of url, configMapRef or s3"))]
#[x_kube(validation = Rule::new("!has(self.url) || has(self.sha256)").message("a url source needs sha256, the digest of the archive"))]
pub struct SiteSource {
    /// HTTP(S) URL of the archive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^https?://\S+$"), length(max = 4096))]
    pub url: Option<String>,

    /// Expected SHA-256 of the archive (lowercase hex). Required with `url`; checked for every
    /// source when given. Nothing is uploaded when it does not match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[0-9a-f]{64}$"))]
    pub sha256: Option<String>,

    /// A key of a ConfigMap (in `binaryData`) holding the archive, for small bundles.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_map_ref: Option<KeyRef>,

    /// An object in S3 (read with the bucketRef's credentials).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub s3: Option<S3ObjectRef>,
}

/// An S3 object.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct S3ObjectRef {
    /// Bucket name.
    #[schemars(regex(pattern = r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$"))]
    pub bucket: String,
    /// Object key.
    #[schemars(length(min = 1, max = 1024))]
    pub key: String,
}

/// Observed state of a RemotionSite.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct RemotionSiteStatus {
    /// The generation of the spec this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Ready` and, while work is under way, `Progressing`.
    #[serde(default)]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["type".into()]))]
    pub conditions: Vec<Condition>,
    /// The site folder in use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub site_name: Option<String>,
    /// The bucket the site lives in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bucket_name: Option<String>,
    /// URL of the site's `index.html` (what render payloads carry).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serve_url: Option<String>,
    /// SHA-256 over the bundle's paths and contents: changes exactly when the site does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_hash: Option<String>,
    /// Remotion version the bundle was made with (from its index.html).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remotion_version: Option<String>,
    /// Number of files in the site.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub files: Option<i64>,
    /// Total size of the site in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes: Option<i64>,
    /// Files uploaded by the last sync.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uploaded: Option<i64>,
    /// Stale files deleted by the last sync.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted: Option<i64>,
    /// Files already up to date at the last sync.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unchanged: Option<i64>,
    /// The site's compositions (listed through the functionRef).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 1000))]
    pub compositions: Vec<CompositionSummary>,
    /// Set while syncs of this generation fail (or stop half-way, as when the operator is
    /// restarted during one): the operator fetches the source again no sooner than
    /// `nextAttemptAt`, also after a restart. Cleared by a successful sync; a spec change
    /// starts afresh.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<SyncRetry>,
}

/// Consecutive sync attempts of a site that did not succeed, and when the next one may start.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct SyncRetry {
    /// The spec generation the attempts were for.
    pub generation: i64,
    /// Attempts of that generation that failed or did not finish (an attempt under way counts
    /// until it succeeds).
    pub failures: i32,
    /// No attempt starts before this time.
    pub next_attempt_at: Time,
}

/// One composition of a site, with metadata resolved for its default props.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct CompositionSummary {
    /// Composition id.
    pub id: String,
    /// Width in pixels.
    pub width: i32,
    /// Height in pixels.
    pub height: i32,
    /// Frames per second.
    pub fps: f64,
    /// Length in frames.
    pub duration_in_frames: i64,
}
