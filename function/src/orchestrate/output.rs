//! Where the output goes, and after the chunks: fetch them, join them without re-encoding
//! video (their lossless audio is joined and encoded once), upload the output, and remove the
//! chunk objects.

use std::path::{Path, PathBuf};

use futures::{StreamExt, TryStreamExt};
use remotion_protocol::keys::{self, RenderId};
use remotion_protocol::media::DELETE_AFTER_TAG;
use remotion_protocol::media::{AudioCodec, Codec};
use remotion_protocol::output::{RENDER_ID_METADATA, check_metadata};
use remotion_protocol::payload::{LaunchRequest, OutputTarget, Privacy};
use remotion_protocol::progress::OutputObject;

use crate::encode::audio::AudioSettings;
use crate::encode::delivery::Delivery;
use crate::encode::stitch;
use crate::error::RenderError;
use crate::storage::{self, UploadOptions};

/// Chunk downloads in flight at once.
const DOWNLOADS: usize = 16;

/// Key of the output: the request's, else `renders/<id>/<name>.<extension>`, named after the
/// composition's `defaultOutName` (else `out`) and the codec or image format in effect, which
/// only the resolved composition tells.
pub fn output_key(
    request: &LaunchRequest,
    id: &RenderId,
    default_out_name: Option<&str>,
    extension: &str,
) -> Result<String, RenderError> {
    match (&request.output.key, default_out_name) {
        (Some(key), _) => Ok(key.clone()),
        (None, Some(name)) => {
            keys::named_output(id, name, extension).map_err(|e| RenderError::InvalidInput(e.to_string()))
        }
        (None, None) => Ok(keys::default_output(id, extension)),
    }
}

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

/// The output's extension and Content-Type: the codec's, or Matroska's when its audio is PCM
/// (Remotion's file extension map). Audio written to a separate file leaves the video
/// without audio, in the codec's own container.
pub fn output_format(
    encoding: &remotion_protocol::payload::EncodingSettings,
    separate_audio: bool,
) -> Result<(&'static str, &'static str), RenderError> {
    let audio = match separate_audio {
        true => None,
        false => AudioSettings::from_encoding(encoding)?.map(|a| a.codec),
    };
    Ok((encoding.codec.output_extension(audio), encoding.codec.output_content_type(audio)))
}

/// Joins chunk files into the output file (video copied, the chunks' audio encoded once in
/// the requested audio codec, into `separate_audio` instead when given); checks that every
/// frame is there once.
pub async fn stitch(
    chunks: Vec<PathBuf>,
    out: PathBuf,
    separate_audio: Option<PathBuf>,
    encoding: &remotion_protocol::payload::EncodingSettings,
    expected: Expected,
) -> Result<(), RenderError> {
    let codec = encoding.codec;
    let audio = AudioSettings::from_encoding(encoding)?;
    let delivery = Delivery::from_encoding(encoding)?;
    let joined = tokio::task::spawn_blocking(move || {
        stitch::concat_with(&chunks, &out, codec, audio, &delivery, separate_audio.as_deref())
    })
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

/// Checks `output.separateAudioKey` against the encoding in effect (the composition may have
/// chosen the codec): the render must be a video with audio, and the key must end in the audio
/// codec's extension, as Remotion expects. Returns the audio codec the file will hold.
pub fn check_separate_audio(
    key: &str,
    encoding: &remotion_protocol::payload::EncodingSettings,
    output_key: &str,
) -> Result<AudioCodec, RenderError> {
    let refuse = |why: String| RenderError::InvalidInput(format!("output.separateAudioTo {key:?}: {why}"));
    if encoding.image_sequence.is_some() {
        return Err(refuse("an image sequence has no audio to separate".into()));
    }
    if encoding.codec.is_audio_only() || encoding.codec == Codec::Gif {
        return Err(refuse(format!("a {} render has no video to separate the audio from", encoding.codec.as_str())));
    }
    let settings =
        AudioSettings::from_encoding(encoding)?.ok_or_else(|| refuse("the render is muted: it has no audio".into()))?;
    let extension = settings.codec.file_extension();
    if !key.ends_with(&format!(".{extension}")) {
        return Err(refuse(format!(
            "the audio is {}, whose files end in .{extension} (set audioCodec, or name the file .{extension})",
            settings.codec.as_str()
        )));
    }
    if key == output_key {
        return Err(refuse("it is the output's own key".into()));
    }
    Ok(settings.codec)
}

/// Where the output object is written: the render's bucket, another bucket the function's
/// role reaches, or a store of the job's own with its own keys.
#[derive(Clone, Debug)]
pub struct Destination {
    /// A client of the store.
    pub s3: aws_sdk_s3::Client,
    /// The bucket.
    pub bucket: String,
    /// The store is the job's own (not the function's account).
    pub own_store: bool,
}

impl Destination {
    /// The destination `target` names; `s3` is the client of the render's bucket.
    pub fn of(target: &OutputTarget, render_bucket: &str, s3: &aws_sdk_s3::Client) -> Result<Self, RenderError> {
        match &target.store {
            Some(store) => {
                let bucket = target.bucket.clone().ok_or_else(|| {
                    RenderError::InvalidInput("output.store names no bucket: the payload needs output.bucket".into())
                })?;
                Ok(Self { s3: storage::store_client(store), bucket, own_store: true })
            }
            None => Ok(Self { s3: s3.clone(), bucket: target.bucket_or(render_bucket).to_owned(), own_store: false }),
        }
    }

    /// The upload options `target` asks for, for an object of `content_type` written by render
    /// `id`. The expiry tag is the render bucket's lifecycle rule: it is not set in a store of
    /// the job's own, which may not take tags at all.
    pub fn upload_options(
        &self,
        target: &OutputTarget,
        content_type: &str,
        id: &RenderId,
    ) -> Result<UploadOptions, RenderError> {
        check_target(target)?;
        let tagging = match self.own_store {
            true => None,
            false => target.delete_after.map(|d| format!("{DELETE_AFTER_TAG}={}", d.as_str())),
        };
        Ok(UploadOptions {
            content_type: content_type.to_owned(),
            public_read: target.privacy == Privacy::Public,
            tagging,
            only_new: (!target.overwrite).then(|| id.as_str().to_owned()),
            content_disposition: match &target.download_behavior {
                Some(behavior) => {
                    behavior.content_disposition().map_err(|e| RenderError::InvalidInput(e.to_string()))?
                }
                None => None,
            },
            storage_class: target.storage_class,
            metadata: target.metadata.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        })
    }

    /// Fails with [`RenderError::OutputExists`] when the key is taken and may not be replaced
    /// by render `id`: checked before rendering, as Remotion does, so a render that cannot land
    /// is not paid for (the upload's conditional write still decides races).
    pub async fn check_free(&self, target: &OutputTarget, key: &str, id: &RenderId) -> Result<(), RenderError> {
        if target.overwrite || !storage::exists(&self.s3, &self.bucket, key).await? {
            return Ok(());
        }
        let head = self.s3.head_object().bucket(&self.bucket).key(key).send().await;
        let writer = head.ok().and_then(|h| h.metadata().and_then(|m| m.get(RENDER_ID_METADATA).cloned()));
        match writer {
            Some(writer) if writer == id.as_str() => Ok(()),
            _ => Err(RenderError::OutputExists { bucket: self.bucket.clone(), key: key.to_owned() }),
        }
    }

    /// Uploads the output.
    pub async fn upload(&self, key: &str, file: &Path, options: &UploadOptions) -> Result<u64, RenderError> {
        storage::upload_file(&self.s3, &self.bucket, key, file, options).await
    }
}

/// Uploads the separate audio file (`output.separateAudioKey`) beside the output, written as
/// the output is (privacy, storage class, metadata, expiry tag, the conditional write) but
/// without its `Content-Disposition`, whose file name is the video's.
pub async fn upload_separate_audio(
    destination: &Destination,
    request: &LaunchRequest,
    id: &RenderId,
    key: &str,
    file: &Path,
) -> Result<OutputObject, RenderError> {
    let codec = check_separate_audio(key, &request.encoding, "")?;
    let mut options = destination.upload_options(&request.output, codec.file_content_type(), id)?;
    options.content_disposition = None;
    let size_bytes = destination.upload(key, file, &options).await?;
    Ok(OutputObject { key: key.to_owned(), size_bytes, content_type: options.content_type })
}

/// Refuses a target whose headers or metadata S3 would refuse (the CRD checks them already;
/// this guards the payload itself).
pub fn check_target(target: &OutputTarget) -> Result<(), RenderError> {
    let invalid = |e: &dyn std::fmt::Display| RenderError::InvalidInput(e.to_string());
    check_metadata(&target.metadata).map_err(|e| invalid(&e))?;
    if let Some(behavior) = &target.download_behavior {
        behavior.content_disposition().map_err(|e| invalid(&e))?;
    }
    if target.store.is_some() && target.bucket.is_none() {
        return Err(RenderError::InvalidInput("output.store names no bucket".into()));
    }
    Ok(())
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
