//! RenderJob cases of `sampleRate`: its range, the renders that have no audio to sample, and
//! the rates Opus takes.

use serde_json::json;

use super::Expect::{Field, Rule};
use super::Phase::Create;
use super::{Case, case};

const GIF: &str = "gif has no audio: remove sampleRate";
const OPUS: &str = "opus audio (the default of vp8 and vp9) takes sampleRate 8000, 12000, 16000, 24000 or 48000";
const STILL: &str = "a still renders one image: remove videoBitrate, encodingMaxRate, encodingBufferSize, colorSpace, proResProfile, numberOfGifLoops, enforceAudioTrack and sampleRate";
const SEQUENCE: &str = "an imageSequence writes every frame as an image, with no video or audio: remove still, codec, crf, pixelFormat, x264Preset, audioCodec, audioBitrate, videoBitrate, encodingMaxRate, encodingBufferSize, colorSpace, proResProfile, numberOfGifLoops, enforceAudioTrack and sampleRate";

pub(super) fn cases() -> Vec<Case> {
    vec![
        case(
            "rj-sample-rate-range",
            "renderjob-video.yaml",
            Create,
            json!({"spec": {"sampleRate": 44100}}),
            json!({"spec": {"sampleRate": 4000}}),
            Field("spec.sampleRate"),
        ),
        case(
            "rj-sample-rate-gif",
            "renderjob-gif.yaml",
            Create,
            json!({"spec": {"codec": "h264", "everyNthFrame": null, "sampleRate": 44100}}),
            json!({"spec": {"sampleRate": 44100}}),
            Rule(GIF),
        ),
        case(
            "rj-sample-rate-opus-default",
            "renderjob-webm.yaml",
            Create,
            json!({"spec": {"audioCodec": null, "sampleRate": 24000}}),
            json!({"spec": {"audioCodec": null, "sampleRate": 44100}}),
            Rule(OPUS),
        ),
        case(
            "rj-sample-rate-opus-named",
            "renderjob-webm.yaml",
            Create,
            json!({"spec": {"audioCodec": "pcm-16", "sampleRate": 44100}}),
            json!({"spec": {"audioCodec": "opus", "sampleRate": 44100}}),
            Rule(OPUS),
        ),
        case(
            "rj-sample-rate-still",
            "renderjob-still.yaml",
            Create,
            json!({"spec": {"enforceAudioTrack": false}}),
            json!({"spec": {"sampleRate": 44100}}),
            Rule(STILL),
        ),
        case(
            "rj-sample-rate-sequence",
            "renderjob-video.yaml",
            Create,
            json!({"spec": {"codec": null, "crf": null, "x264Preset": null, "audioCodec": null,
                            "imageSequence": {"archive": false}}}),
            json!({"spec": {"codec": null, "crf": null, "x264Preset": null, "audioCodec": null,
                            "imageSequence": {"archive": false}, "sampleRate": 44100}}),
            Rule(SEQUENCE),
        ),
    ]
}
