//! RenderJob cases of `output.separateAudioTo`: what it may be combined with, its extension and
//! its key.

use serde_json::json;

use super::Expect::Rule;
use super::Phase::Create;
use super::{Case, case};

const NEEDS_VIDEO_WITH_AUDIO: &str = "output.separateAudioTo takes the audio out of a video: remove it from a still, an imageSequence, a muted render, a gif or an audio-only codec (mp3, aac, wav: the output is the audio already)";
const EXTENSION: &str = "output.separateAudioTo must end in the audio codec's extension: .aac for aac (the default of h264, h265 and prores), .opus for opus (the default of vp8 and vp9), .mp3 for mp3, .wav for pcm-16";
const OWN_KEY: &str = "output.separateAudioTo and output.key name the same object: give the audio a key of its own";
const FOLDERS: &str = "output.separateAudioTo may not be under sites/ or optimization/: those folders hold the bucket's sites and cost profiles";
const SEGMENTS: &str = "output.separateAudioTo may not have empty, '.' or '..' segments";

/// The sample video is h264 with `audioCodec: aac`.
pub(super) fn cases() -> Vec<Case> {
    vec![
        case(
            "rj-separate-audio-muted",
            "renderjob-video.yaml",
            Create,
            json!({"spec": {"output": {"separateAudioTo": "outputs/default/welcome.aac"}}}),
            json!({"spec": {"muted": true, "audioCodec": null, "output": {"separateAudioTo": "outputs/default/welcome.aac"}}}),
            Rule(NEEDS_VIDEO_WITH_AUDIO),
        ),
        case(
            "rj-separate-audio-gif",
            "renderjob-gif.yaml",
            Create,
            json!({"spec": {"codec": "h264", "everyNthFrame": null, "output": {"separateAudioTo": "outputs/default/a.aac"}}}),
            json!({"spec": {"output": {"separateAudioTo": "outputs/default/a.aac"}}}),
            Rule(NEEDS_VIDEO_WITH_AUDIO),
        ),
        case(
            "rj-separate-audio-audio-only",
            "renderjob-video.yaml",
            Create,
            json!({"spec": {"codec": "h265", "crf": null, "x264Preset": null, "output": {"separateAudioTo": "outputs/default/a.aac"}}}),
            json!({"spec": {"codec": "aac", "crf": null, "x264Preset": null, "imageFormat": "none",
                            "output": {"separateAudioTo": "outputs/default/a.aac"}}}),
            Rule(NEEDS_VIDEO_WITH_AUDIO),
        ),
        case(
            "rj-separate-audio-extension",
            "renderjob-video.yaml",
            Create,
            json!({"spec": {"audioCodec": "pcm-16", "output": {"separateAudioTo": "outputs/default/a.wav"}}}),
            json!({"spec": {"audioCodec": "pcm-16", "output": {"separateAudioTo": "outputs/default/a.aac"}}}),
            Rule(EXTENSION),
        ),
        case(
            "rj-separate-audio-default-extension",
            "renderjob-video.yaml",
            Create,
            json!({"spec": {"codec": "vp9", "crf": null, "x264Preset": null, "audioCodec": null,
                            "output": {"separateAudioTo": "outputs/default/a.opus"}}}),
            json!({"spec": {"codec": "vp9", "crf": null, "x264Preset": null, "audioCodec": null,
                            "output": {"separateAudioTo": "outputs/default/a.aac"}}}),
            Rule(EXTENSION),
        ),
        case(
            "rj-separate-audio-own-key",
            "renderjob-video.yaml",
            Create,
            json!({"spec": {"output": {"key": "outputs/default/a.mp4", "separateAudioTo": "outputs/default/a.aac"}}}),
            json!({"spec": {"output": {"key": "outputs/default/a.aac", "separateAudioTo": "outputs/default/a.aac"}}}),
            Rule(OWN_KEY),
        ),
        case(
            "rj-separate-audio-folders",
            "renderjob-video.yaml",
            Create,
            json!({"spec": {"output": {"separateAudioTo": "renders/x/a.aac"}}}),
            json!({"spec": {"output": {"separateAudioTo": "sites/x/a.aac"}}}),
            Rule(FOLDERS),
        ),
        case(
            "rj-separate-audio-segments",
            "renderjob-video.yaml",
            Create,
            json!({"spec": {"output": {"separateAudioTo": "outputs/default/audio/a.aac"}}}),
            json!({"spec": {"output": {"separateAudioTo": "outputs/default/../a.aac"}}}),
            Rule(SEGMENTS),
        ),
    ]
}
