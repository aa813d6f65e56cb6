//! After the chunks: fetch them, join them without re-encoding video (their lossless audio is
//! joined and encoded once), upload the output, and remove the chunk objects.

use std::path::{Path, PathBuf};

use futures::{StreamExt, TryStreamExt};

use crate::encode::audio::AudioSettings;
use crate::encode::stitch;
use crate::error::RenderError;
use crate::storage::{self, UploadOptions};

/// Chunk downloads in flight at once.
const DOWNLOADS: usize = 16;

/// Downloads `keys` (in chunk order) into `dir`; returns the local paths in the same order.
pub async fn download_chunks(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    keys: &[String],
    dir: &Path,
) -> Result<Vec<PathBuf>, RenderError> {
    let paths: Vec<PathBuf> = (0..keys.len()).map(|i| dir.join(format!("{i:06}.chunk"))).collect();
    futures::stream::iter(keys.iter().zip(&paths))
        .map(|(key, path)| async move { storage::download(s3, bucket, key, path).await })
        .buffer_unordered(DOWNLOADS)
        .try_collect::<Vec<u64>>()
        .await?;
    Ok(paths)
}

/// What the joined output must hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expected {
    /// This many video frames.
    Frames(u64),
    /// This many 48 kHz audio samples (audio-only outputs).
    Samples(u64),
}

/// Joins chunk files into the output file (video copied, the chunks' audio encoded once in
/// the requested audio codec); checks that every frame is there once.
pub async fn stitch(
    chunks: Vec<PathBuf>,
    out: PathBuf,
    encoding: &remotion_protocol::payload::EncodingSettings,
    expected: Expected,
) -> Result<(), RenderError> {
    let codec = encoding.codec;
    let audio = AudioSettings::from_encoding(encoding)?;
    let joined = tokio::task::spawn_blocking(move || stitch::concat(&chunks, &out, codec, audio))
        .await
        .map_err(|e| RenderError::Encoding(format!("the stitching thread failed: {e}")))??;
    match expected {
        Expected::Frames(frames) if joined.frames != frames => {
            Err(RenderError::Encoding(format!("the joined video has {} frames, {frames} were rendered", joined.frames)))
        }
        Expected::Samples(samples) if joined.audio_samples != samples => Err(RenderError::Encoding(format!(
            "the joined audio has {} samples, the frames rendered have {samples}",
            joined.audio_samples
        ))),
        _ => Ok(()),
    }
}

/// Uploads the output.
pub async fn upload(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    file: &Path,
    options: &UploadOptions,
) -> Result<u64, RenderError> {
    storage::upload_file(s3, bucket, key, file, options).await
}

/// Removes every chunk object of the render and the chunks' progress objects (retries and
/// cut-off attempts may have left more than the plan names).
pub async fn delete_chunks(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    id: &remotion_protocol::keys::RenderId,
) -> Result<usize, RenderError> {
    let mut keys = storage::list_keys(s3, bucket, &remotion_protocol::keys::chunks_prefix(id)).await?;
    keys.extend(storage::list_keys(s3, bucket, &remotion_protocol::keys::chunk_progress_prefix(id)).await?);
    storage::delete_keys(s3, bucket, &keys).await?;
    Ok(keys.len())
}
