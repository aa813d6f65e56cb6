//! The files a composition emits with `<Artifact>`: reported by the page among a frame's render
//! assets (`type: 'artifact'`), decoded as Remotion's renderer decodes them, kept unique by
//! filename across the frames of a render, and saved in the bucket beside the render.

use std::collections::BTreeMap;

use base64::Engine;
use remotion_protocol::keys::{self, RenderId};
use remotion_protocol::output::DownloadBehavior;
use remotion_protocol::progress::ArtifactInfo;
use serde::Deserialize;
use serde_json::Value;

use crate::error::RenderError;
use crate::storage::{self, UploadOptions};

/// A file emitted on one frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Artifact {
    /// The filename the composition gave it.
    pub filename: String,
    /// The frame that emitted it.
    pub frame: u64,
    /// Its bytes.
    pub content: Vec<u8>,
    /// The `downloadBehavior` the composition gave it (its object's `Content-Disposition`).
    pub download_behavior: Option<DownloadBehavior>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawArtifact {
    filename: String,
    frame: f64,
    content_type: String,
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    download_behavior: Option<DownloadBehavior>,
}

fn unexpected(e: impl std::fmt::Display) -> RenderError {
    RenderError::IncompatibleSite(format!("unexpected artifact asset from remotion_collectAssets(): {e}"))
}

/// The artifacts among a frame's `remotion_collectAssets()` result. `frame_image` is the
/// frame's capture, the content of an `<Artifact content={Artifact.Thumbnail}>`; without one
/// (no picture captured) such an artifact is dropped, as Remotion drops it.
pub fn parse(assets: &Value, frame_image: Option<&[u8]>) -> Result<Vec<Artifact>, RenderError> {
    let Value::Array(items) = assets else {
        return Err(unexpected("the page did not return a list"));
    };
    let mut artifacts = Vec::new();
    for item in items.iter().filter(|i| i.get("type").and_then(Value::as_str) == Some("artifact")) {
        let raw = RawArtifact::deserialize(item).map_err(unexpected)?;
        let content = match (raw.content_type.as_str(), raw.content) {
            ("text", Some(text)) => text.into_bytes(),
            ("binary", Some(encoded)) => binary_content(&encoded).map_err(unexpected)?,
            ("thumbnail", _) => match frame_image {
                Some(image) => image.to_vec(),
                None => continue,
            },
            (kind, _) => return Err(unexpected(format!("{kind:?} content of {:?}", raw.filename))),
        };
        artifacts.push(Artifact {
            filename: raw.filename,
            frame: raw.frame.max(0.0).round() as u64,
            content,
            download_behavior: raw.download_behavior,
        });
    }
    Ok(artifacts)
}

/// The bytes of a `Uint8Array` artifact. The page sends `btoa()` of the array decoded as
/// UTF-8, and Remotion's renderer takes `atob()` of it (one character per byte value) encoded
/// as UTF-8 again: the same here, so the file holds exactly what Remotion would save.
fn binary_content(encoded: &str) -> Result<Vec<u8>, base64::DecodeError> {
    let latin1 = base64::engine::general_purpose::STANDARD.decode(encoded)?;
    Ok(latin1.into_iter().map(char::from).collect::<String>().into_bytes())
}

/// The artifacts of a render so far, one per filename.
#[derive(Debug, Default)]
pub struct ArtifactSet {
    by_filename: BTreeMap<String, Artifact>,
}

impl ArtifactSet {
    /// Adds a frame's artifact; a filename already emitted fails the render, as in Remotion.
    pub fn add(&mut self, artifact: Artifact, composition: Option<&str>) -> Result<(), RenderError> {
        if let Some(earlier) = self.by_filename.get(&artifact.filename) {
            return Err(duplicate(&artifact.filename, earlier.frame, artifact.frame, composition));
        }
        self.by_filename.insert(artifact.filename.clone(), artifact);
        Ok(())
    }

    /// The artifacts, in frame order.
    pub fn into_sorted(self) -> Vec<Artifact> {
        let mut all: Vec<Artifact> = self.by_filename.into_values().collect();
        all.sort_by(|a, b| (a.frame, &a.filename).cmp(&(b.frame, &b.filename)));
        all
    }
}

/// The error of a filename emitted twice (Remotion's wording).
pub fn duplicate(filename: &str, first: u64, again: u64, composition: Option<&str>) -> RenderError {
    RenderError::Page {
        composition: composition.map(str::to_owned),
        frame: Some(again),
        message: format!(
            "an artifact with output {filename:?} was already registered at frame {first}, but now registered \
             again at frame {again}: artifacts must have unique names (https://remotion.dev/docs/artifacts)"
        ),
    }
}

/// The artifacts of several chunks as one list in frame order, failing on a filename that two
/// of them emitted.
pub fn merge(
    lists: impl IntoIterator<Item = Vec<ArtifactInfo>>,
    composition: &str,
) -> Result<Vec<ArtifactInfo>, RenderError> {
    let mut by_filename: BTreeMap<String, ArtifactInfo> = BTreeMap::new();
    for info in lists.into_iter().flatten() {
        if let Some(earlier) = by_filename.get(&info.filename) {
            let (first, again) = (earlier.frame.min(info.frame), earlier.frame.max(info.frame));
            return Err(duplicate(&info.filename, first, again, Some(composition)));
        }
        by_filename.insert(info.filename.clone(), info);
    }
    let mut all: Vec<ArtifactInfo> = by_filename.into_values().collect();
    all.sort_by(|a, b| (a.frame, &a.filename).cmp(&(b.frame, &b.filename)));
    Ok(all)
}

/// Saves the artifacts at `renders/<id>/artifacts/<filename>` with the output's privacy and
/// expiry; what was saved, in frame order.
pub async fn upload(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    id: &RenderId,
    artifacts: Vec<Artifact>,
    public_read: bool,
    tagging: Option<String>,
) -> Result<Vec<ArtifactInfo>, RenderError> {
    if artifacts.is_empty() {
        return Ok(Vec::new());
    }
    let dir = tempfile::tempdir().map_err(|e| RenderError::io("creating a folder for the artifacts", e))?;
    let mut saved = Vec::with_capacity(artifacts.len());
    for (i, artifact) in artifacts.into_iter().enumerate() {
        // A filename the page accepted may still climb out of the folder: refused, naming it.
        let key = keys::artifact(id, &artifact.filename).map_err(|e| RenderError::Page {
            composition: None,
            frame: Some(artifact.frame),
            message: e.to_string(),
        })?;
        let file = dir.path().join(format!("{i}.artifact"));
        tokio::fs::write(&file, &artifact.content)
            .await
            .map_err(|e| RenderError::io(format!("writing {}", file.display()), e))?;
        // Remotion sets the artifact's downloadBehavior as its object's Content-Disposition.
        let content_disposition = match &artifact.download_behavior {
            Some(behavior) => behavior.content_disposition().map_err(|e| RenderError::Page {
                composition: None,
                frame: Some(artifact.frame),
                message: format!("<Artifact filename={:?}>: {e}", artifact.filename),
            })?,
            None => None,
        };
        let options = UploadOptions {
            content_type: remotion_protocol::content_type::for_path(&artifact.filename).to_owned(),
            content_disposition,
            public_read,
            tagging: tagging.clone(),
            ..UploadOptions::default()
        };
        let size_bytes = storage::upload_file(s3, bucket, &key, &file, &options).await?;
        let _ = tokio::fs::remove_file(&file).await;
        saved.push(ArtifactInfo {
            filename: artifact.filename,
            key,
            size_bytes,
            content_type: options.content_type,
            frame: artifact.frame,
        });
    }
    Ok(saved)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn artifacts_decode_as_remotion_decodes_them() {
        // `btoa(new TextDecoder('utf8').decode(Uint8Array [0x00, 0x41, 0xC3, 0xA9, 0x7F]))`.
        let page = json!([
            {"type": "audio", "src": "http://x/a.mp3", "id": "a", "frame": 3},
            {"type": "artifact", "id": "1", "filename": "notes.txt", "frame": 3, "contentType": "text",
             "content": "héllo", "downloadBehavior": null},
            {"type": "artifact", "id": "2", "filename": "data/blob.bin", "frame": 3, "contentType": "binary",
             "content": "AEHpfw==", "downloadBehavior": {"type": "download", "fileName": "blob.bin"}},
            {"type": "artifact", "id": "3", "filename": "thumb.jpeg", "frame": 3, "contentType": "thumbnail",
             "downloadBehavior": null},
        ]);
        let artifacts = parse(&page, Some(b"JPEG")).unwrap();
        let contents: Vec<(&str, &[u8])> =
            artifacts.iter().map(|a| (a.filename.as_str(), a.content.as_slice())).collect();
        assert_eq!(
            contents,
            [
                ("notes.txt", "héllo".as_bytes()),
                ("data/blob.bin", &[0x00, 0x41, 0xC3, 0xA9, 0x7F][..]),
                ("thumb.jpeg", b"JPEG".as_slice())
            ]
        );
        assert!(artifacts.iter().all(|a| a.frame == 3));
        let behaviors: Vec<Option<String>> = artifacts
            .iter()
            .map(|a| a.download_behavior.as_ref().and_then(|b| b.content_disposition().unwrap()))
            .collect();
        assert_eq!(behaviors, [None, Some("attachment; filename=\"blob.bin\"".into()), None]);
        // Without a captured picture a thumbnail has nothing to hold, and is dropped.
        assert_eq!(parse(&page, None).unwrap().len(), 2);
    }

    #[test]
    fn a_filename_emitted_twice_fails_naming_both_frames() {
        let artifact =
            |frame| Artifact { filename: "a.txt".into(), frame, content: b"x".to_vec(), download_behavior: None };
        let mut set = ArtifactSet::default();
        set.add(artifact(2), Some("C")).unwrap();
        let message = set.add(artifact(7), Some("C")).unwrap_err().to_string();
        assert!(message.contains("already registered at frame 2") && message.contains("again at frame 7"), "{message}");

        let info = |frame| ArtifactInfo {
            filename: "a.txt".into(),
            key: "renders/r/artifacts/a.txt".into(),
            size_bytes: 1,
            content_type: "text/plain".into(),
            frame,
        };
        let merged = merge([vec![info(9)], vec![]], "C").unwrap();
        assert_eq!(merged.len(), 1);
        let message = merge([vec![info(9)], vec![info(4)]], "C").unwrap_err().to_string();
        assert!(message.contains("at frame 4, but now registered again at frame 9"), "{message}");
    }
}
