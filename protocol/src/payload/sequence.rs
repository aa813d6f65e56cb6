//! Image sequences: every frame of a render as an image file under the render's folder
//! (Remotion's `--sequence` and `imageSequencePattern`), instead of a video.
//!
//! Frame files are named as Remotion names them: the pattern's `[frame]` becomes the frame's
//! number, zero-padded to the digits of the render's last frame, and `[ext]` the image format
//! (`jpeg` or `png`). The default pattern is Remotion's, `element-[frame].[ext]`. The key of a
//! frame depends on its number alone, so a chunk that runs again overwrites its frames instead
//! of adding others.

use serde::{Deserialize, Serialize};

use super::Privacy;
use crate::media::{DeleteAfter, VideoImageFormat};

/// Remotion's default name of a sequence's frame files.
pub const DEFAULT_PATTERN: &str = "element-[frame].[ext]";

/// Longest pattern accepted (the frame number and extension come on top).
pub const MAX_PATTERN_LENGTH: usize = 200;

/// A render asked for as an image sequence (the wire form of a RenderJob's `imageSequence`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageSequence {
    /// Name of each frame's file, with `[frame]` and `[ext]` (default
    /// [`DEFAULT_PATTERN`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
    /// Also write one ZIP archive of every frame beside the folder.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub archive: bool,
}

/// Why a sequence cannot be named.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SequenceError {
    /// The pattern would name frames badly.
    #[error(
        "imageSequence.pattern {0:?} is not usable: it needs [frame] (else every frame gets the same name), at most \
         {MAX_PATTERN_LENGTH} characters, and no '/', '\\\\' or control characters"
    )]
    Pattern(String),
    /// No picture to write.
    #[error("an image sequence needs imageFormat jpeg or png, not none")]
    NoImages,
}

/// Checks a pattern: it must name each frame differently and stay one file name.
pub fn check_pattern(pattern: &str) -> Result<(), SequenceError> {
    let ok = pattern.contains("[frame]")
        && pattern.len() <= MAX_PATTERN_LENGTH
        && !pattern.chars().any(|c| c == '/' || c == '\\' || c.is_control());
    if ok { Ok(()) } else { Err(SequenceError::Pattern(pattern.to_owned())) }
}

/// Where a render's frames go and how each is named: resolved by the orchestrator once the
/// frames are known, and sent to every chunk.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SequenceTarget {
    /// Folder of the frames, ending in `/`.
    pub prefix: String,
    /// The pattern in effect.
    pub pattern: String,
    /// Digits of a frame number (those of the render's last frame).
    pub digits: u32,
    /// The image format's extension: `jpeg` or `png`, as Remotion writes it.
    pub extension: String,
    /// Who may read the frames (the output's privacy).
    #[serde(default)]
    pub privacy: Privacy,
    /// Expiry tag of the frames (the output's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delete_after: Option<DeleteAfter>,
}

impl SequenceTarget {
    /// The target of a render whose last frame is `last_frame`.
    pub fn new(
        prefix: String,
        sequence: &ImageSequence,
        last_frame: u64,
        format: VideoImageFormat,
    ) -> Result<Self, SequenceError> {
        let pattern = sequence.pattern.clone().unwrap_or_else(|| DEFAULT_PATTERN.to_owned());
        check_pattern(&pattern)?;
        let extension = match format {
            VideoImageFormat::Jpeg => "jpeg",
            VideoImageFormat::Png => "png",
            VideoImageFormat::None => return Err(SequenceError::NoImages),
        };
        let digits = last_frame.to_string().len() as u32;
        let extension = extension.to_owned();
        Ok(Self { prefix, pattern, digits, extension, privacy: Privacy::Private, delete_after: None })
    }

    /// The file name of `frame`.
    pub fn name(&self, frame: u64) -> String {
        let number = format!("{frame:0width$}", width = self.digits as usize);
        self.pattern.replace("[frame]", &number).replace("[ext]", &self.extension)
    }

    /// The object key of `frame`.
    pub fn key(&self, frame: u64) -> String {
        format!("{}{}", self.prefix, self.name(frame))
    }

    /// Content-Type of the frames.
    pub fn content_type(&self) -> &'static str {
        if self.extension == "png" { "image/png" } else { "image/jpeg" }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_named_as_remotion_names_them() {
        let target =
            SequenceTarget::new("renders/r/frames/".into(), &ImageSequence::default(), 120, VideoImageFormat::Jpeg)
                .unwrap();
        assert_eq!(target.name(7), "element-007.jpeg");
        assert_eq!(target.key(120), "renders/r/frames/element-120.jpeg");
        let custom = ImageSequence { pattern: Some("f_[frame]_[frame].[ext]".into()), archive: true };
        let target = SequenceTarget::new("p/".into(), &custom, 9, VideoImageFormat::Png).unwrap();
        assert_eq!((target.name(3).as_str(), target.content_type()), ("f_3_3.png", "image/png"));
    }

    #[test]
    fn patterns_that_would_clash_or_escape_are_refused() {
        for bad in ["frame.[ext]", "a/[frame].png", "..\\[frame]", "x\n[frame]"] {
            assert!(check_pattern(bad).is_err(), "{bad:?}");
        }
        assert!(check_pattern(&format!("{}[frame]", "a".repeat(MAX_PATTERN_LENGTH))).is_err());
        let none = SequenceTarget::new("p/".into(), &ImageSequence::default(), 9, VideoImageFormat::None);
        assert_eq!(none.unwrap_err(), SequenceError::NoImages);
    }
}
