//! Where a render's output goes and who may read it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::media::DeleteAfter;
use crate::output::{DownloadBehavior, OutputStore, StorageClass};

/// Who may read an output.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum Privacy {
    /// Readable with credentials or a presigned URL.
    #[default]
    Private,
    /// Readable by anyone with the URL.
    Public,
    /// Remotion's `no-acl`, for buckets whose ACLs are disabled (S3 Object Ownership "bucket
    /// owner enforced"): written without an ACL and read as `private` is. Private outputs are
    /// written without an ACL here already (Remotion's send the `private` canned ACL), so the
    /// two behave the same.
    #[serde(rename = "no-acl")]
    NoAcl,
}

/// Where the output goes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OutputTarget {
    /// Object key in the render's bucket. Absent: the function names it once the composition is
    /// resolved, `renders/<id>/<defaultOutName or out>.<extension of the codec in effect>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Who may read it.
    #[serde(default)]
    pub privacy: Privacy,
    /// Expiry tag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delete_after: Option<DeleteAfter>,
    /// Bucket of the output. Absent: the render's bucket, or the store's when `store` is set
    /// (there it is required).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bucket: Option<String>,
    /// A store outside the function's account, written with its own keys (the render's other
    /// files stay in the render's bucket).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store: Option<OutputStore>,
    /// Replace an object already at the key. `false` (Remotion's default): the write is
    /// conditional and the render fails when the key is taken.
    #[serde(default)]
    pub overwrite: bool,
    /// `Content-Disposition` of the object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub download_behavior: Option<DownloadBehavior>,
    /// Storage class of the object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_class: Option<StorageClass>,
    /// User metadata of the object (`x-amz-meta-*`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
    /// Remotion's `separateAudioTo`: key (in the output's bucket) of a file holding the
    /// render's audio alone, in the audio codec's own format; the output then has no audio.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub separate_audio_key: Option<String>,
}

impl OutputTarget {
    /// The output's bucket: its own, else the render's.
    pub fn bucket_or<'a>(&'a self, render_bucket: &'a str) -> &'a str {
        self.bucket.as_deref().unwrap_or(render_bucket)
    }
}
