//! RenderJob cases of `gopSize`, `preferLossless` and the media limits
//! (`mediaCacheSizeInBytes`, `offthreadVideoCacheSizeInBytes`, `offthreadVideoThreads`):
//! their ranges, the codecs keyframes and PCM apply to, and the conflict of `preferLossless`
//! with another `audioCodec`.

use serde_json::json;

use super::Expect::{Field, Rule};
use super::Phase::Create;
use super::{Case, case};

const GOP: &str = "gopSize applies to videos of codec h264, h265, vp8 or vp9";
const LOSSLESS: &str = "preferLossless picks pcm-16 audio: stills, GIFs and image sequences have none, and for lossless audio alone use codec wav instead of mp3 or aac";
const LOSSLESS_CONFLICT: &str = "preferLossless asks for pcm-16 audio: remove audioCodec or preferLossless";

pub(super) fn cases() -> Vec<Case> {
    vec![
        case(
            "rj-gop-size-range",
            "renderjob-video.yaml",
            Create,
            json!({"spec": {"gopSize": 1}}),
            json!({"spec": {"gopSize": 0}}),
            Field("spec.gopSize"),
        ),
        case(
            "rj-gop-size-prores",
            "renderjob-video.yaml",
            Create,
            json!({"spec": {"codec": "vp9", "crf": null, "x264Preset": null, "audioCodec": null, "gopSize": 30}}),
            json!({"spec": {"codec": "prores", "crf": null, "x264Preset": null, "audioCodec": null, "gopSize": 30}}),
            Rule(GOP),
        ),
        case(
            "rj-gop-size-still",
            "renderjob-still.yaml",
            Create,
            json!({"spec": {"offthreadVideoThreads": 2}}),
            json!({"spec": {"gopSize": 30}}),
            Rule(GOP),
        ),
        case(
            "rj-prefer-lossless-gif",
            "renderjob-gif.yaml",
            Create,
            json!({"spec": {"codec": "h264", "everyNthFrame": null, "preferLossless": true}}),
            json!({"spec": {"preferLossless": true}}),
            Rule(LOSSLESS),
        ),
        case(
            "rj-prefer-lossless-still",
            "renderjob-still.yaml",
            Create,
            json!({"spec": {"preferLossless": false}}),
            json!({"spec": {"preferLossless": true}}),
            Rule(LOSSLESS),
        ),
        case(
            "rj-prefer-lossless-audio-codec",
            "renderjob-video.yaml",
            Create,
            json!({"spec": {"codec": "prores", "crf": null, "x264Preset": null, "audioCodec": "pcm-16",
                            "preferLossless": true}}),
            json!({"spec": {"codec": "prores", "crf": null, "x264Preset": null, "audioCodec": "aac",
                            "preferLossless": true}}),
            Rule(LOSSLESS_CONFLICT),
        ),
        case(
            "rj-media-cache-range",
            "renderjob-video.yaml",
            Create,
            json!({"spec": {"mediaCacheSizeInBytes": 600_000_000u64}}),
            json!({"spec": {"mediaCacheSizeInBytes": 0}}),
            Field("spec.mediaCacheSizeInBytes"),
        ),
        case(
            "rj-offthread-video-cache-range",
            "renderjob-video.yaml",
            Create,
            json!({"spec": {"offthreadVideoCacheSizeInBytes": 0}}),
            json!({"spec": {"offthreadVideoCacheSizeInBytes": -1}}),
            Field("spec.offthreadVideoCacheSizeInBytes"),
        ),
        case(
            "rj-offthread-video-threads-range",
            "renderjob-video.yaml",
            Create,
            json!({"spec": {"offthreadVideoThreads": 64}}),
            json!({"spec": {"offthreadVideoThreads": 0}}),
            Field("spec.offthreadVideoThreads"),
        ),
    ]
}
