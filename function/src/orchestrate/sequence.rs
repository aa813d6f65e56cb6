//! The end of an image sequence: its chunks stored every frame under the render's
//! `frames/` folder as they captured it, so nothing is joined. The orchestrator checks that
//! every frame is there and, when asked, writes one ZIP archive of them beside the folder,
//! streaming frames from the bucket into it a few at a time.

use std::collections::HashSet;
use std::io::Write;
use std::path::Path;

use futures::{StreamExt, TryStreamExt};
use remotion_protocol::chunking::FrameSelection;
use remotion_protocol::keys::{self, RenderId};
use remotion_protocol::media::{DELETE_AFTER_TAG, VideoImageFormat};
use remotion_protocol::payload::{LaunchRequest, Privacy, SequenceTarget};
use remotion_protocol::progress::{OutputInfo, OutputObject};

use crate::error::RenderError;
use crate::storage::{self, UploadOptions};

/// Frames downloaded at once while the archive is written.
const DOWNLOADS: usize = 8;

/// Room on the function's disk the archive may not take (Chromium's profile, the site, logs).
const DISK_RESERVE_BYTES: u64 = 512 * 1024 * 1024;

/// Content-Type of the archive.
const ARCHIVE_TYPE: &str = "application/zip";

/// The frames' folder and names, for a render asked for as an image sequence whose last frame
/// is `last_frame`; none for a video.
pub fn target(request: &LaunchRequest, id: &RenderId, last_frame: u64) -> Result<Option<SequenceTarget>, RenderError> {
    let Some(sequence) = &request.encoding.image_sequence else {
        return Ok(None);
    };
    let format = request.encoding.image_format.unwrap_or(VideoImageFormat::Jpeg);
    let target = SequenceTarget::new(keys::sequence_frames(id), sequence, last_frame, format)
        .map_err(|e| RenderError::InvalidInput(e.to_string()))?;
    Ok(Some(SequenceTarget { privacy: request.output.privacy, delete_after: request.output.delete_after, ..target }))
}

/// Checks that every frame of `selection` is in the folder, writes the archive when asked, and
/// describes the result. `frame_bytes` is what the chunks stored.
pub async fn finish(
    s3: &aws_sdk_s3::Client,
    request: &LaunchRequest,
    id: &RenderId,
    target: &SequenceTarget,
    selection: FrameSelection,
    frame_bytes: u64,
) -> Result<OutputInfo, RenderError> {
    let bucket = request.bucket.as_str();
    let stored: HashSet<String> = storage::list_keys(s3, bucket, &target.prefix).await?.into_iter().collect();
    let frames: Vec<u64> = (0..selection.count()).map(|i| selection.frame(i)).collect();
    if let Some(missing) = frames.iter().find(|f| !stored.contains(&target.key(**f))) {
        return Err(RenderError::Storage(format!(
            "frame {missing} of the image sequence is not in s3://{bucket}/{} although its chunk reported it stored",
            target.prefix
        )));
    }
    let archive = match request.encoding.image_sequence.as_ref().is_some_and(|s| s.archive) {
        true => Some(archive(s3, request, id, target, &frames, frame_bytes).await?),
        false => None,
    };
    Ok(OutputInfo {
        bucket: bucket.to_owned(),
        key: target.prefix.clone(),
        size_bytes: frame_bytes,
        content_type: target.content_type().to_owned(),
        frames: Some(frames.len() as u64),
        sequence_pattern: Some(target.pattern.replace("[ext]", &target.extension)),
        archive,
        separate_audio: None,
    })
}

/// Writes `renders/<id>/frames.zip`: every frame, in frame order, stored as is (images are
/// compressed already), named as in the folder.
async fn archive(
    s3: &aws_sdk_s3::Client,
    request: &LaunchRequest,
    id: &RenderId,
    target: &SequenceTarget,
    frames: &[u64],
    frame_bytes: u64,
) -> Result<OutputObject, RenderError> {
    let disk = u64::try_from(request.renderer.disk_mb).unwrap_or(0) * 1024 * 1024;
    // Each entry adds its name twice and about 100 bytes of headers.
    let overhead = frames.len() as u64 * (2 * target.name(0).len() as u64 + 100) + 1024;
    if frame_bytes + overhead + DISK_RESERVE_BYTES > disk {
        return Err(RenderError::InvalidInput(format!(
            "the archive of the image sequence ({} MB of frames) does not fit the function's {} MB of ephemeral \
             storage with room for the browser: raise the RenderFunction's diskMb or render without \
             imageSequence.archive (the frames are in s3://{}/{})",
            (frame_bytes + overhead).div_ceil(1024 * 1024),
            request.renderer.disk_mb,
            request.bucket,
            target.prefix
        )));
    }
    let dir = tempfile::tempdir().map_err(|e| RenderError::io("creating a folder for the archive", e))?;
    let path = dir.path().join("frames.zip");
    // The writer runs on its own thread; a bounded channel keeps a few frames in memory.
    let (tx, rx) = tokio::sync::mpsc::channel::<(String, Vec<u8>)>(DOWNLOADS);
    let writing = {
        let path = path.clone();
        tokio::task::spawn_blocking(move || write_zip(&path, rx))
    };
    let bucket = request.bucket.as_str();
    let fetched = futures::stream::iter(frames.iter().copied())
        .map(|frame| async move {
            let key = target.key(frame);
            match storage::get(s3, bucket, &key).await? {
                Some(bytes) => Ok((target.name(frame), bytes)),
                None => Err(RenderError::Storage(format!("frame {frame} vanished from s3://{bucket}/{key}"))),
            }
        })
        .buffered(DOWNLOADS)
        .try_for_each(|entry| {
            let tx = tx.clone();
            async move {
                // A send fails only when the writer stopped: its own error says why.
                let _ = tx.send(entry).await;
                Ok(())
            }
        })
        .await;
    drop(tx);
    let written = writing.await.map_err(|e| RenderError::Encoding(format!("the archive thread failed: {e}")))?;
    fetched?;
    written?;
    let key = keys::sequence_archive(id);
    let options = UploadOptions {
        content_type: ARCHIVE_TYPE.to_owned(),
        public_read: request.output.privacy == Privacy::Public,
        tagging: request.output.delete_after.map(|d| format!("{DELETE_AFTER_TAG}={}", d.as_str())),
        ..UploadOptions::default()
    };
    let size_bytes = storage::upload_file(s3, bucket, &key, &path, &options).await?;
    Ok(OutputObject { key, size_bytes, content_type: ARCHIVE_TYPE.to_owned() })
}

/// Writes the entries received, in order, into a ZIP file at `path`.
fn write_zip(path: &Path, mut entries: tokio::sync::mpsc::Receiver<(String, Vec<u8>)>) -> Result<(), RenderError> {
    let file = std::fs::File::create(path).map_err(|e| RenderError::io("creating the archive", e))?;
    let mut zip = zip::ZipWriter::new(std::io::BufWriter::new(file));
    let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    let failed = |e: zip::result::ZipError| RenderError::Encoding(format!("writing the archive: {e}"));
    while let Some((name, bytes)) = entries.blocking_recv() {
        zip.start_file(name, options).map_err(failed)?;
        zip.write_all(&bytes).map_err(|e| RenderError::io("writing the archive", e))?;
    }
    let mut file = zip.finish().map_err(failed)?;
    file.flush().map_err(|e| RenderError::io("writing the archive", e))?;
    Ok(())
}

/// Removes the frames of a render that did not finish (they are no use without the rest).
pub async fn delete_frames(s3: &aws_sdk_s3::Client, bucket: &str, id: &RenderId) -> Result<usize, RenderError> {
    let keys = storage::list_keys(s3, bucket, &keys::sequence_frames(id)).await?;
    storage::delete_keys(s3, bucket, &keys).await?;
    Ok(keys.len())
}
