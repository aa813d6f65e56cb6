//! The RenderJob cases: transition rules, cross-field rules, and the schema's ranges and enums
//! (the spec has more rules than the other three kinds together).

use serde_json::json;

use super::Expect::{Field, Rule};
use super::Phase::{Create, Update};
use super::{Case, case};

const OUTPUT_KEY_FOLDERS: &str =
    "output.key may not be under sites/ or optimization/: those folders hold the bucket's sites and cost profiles";
const OUTPUT_KEY_SEGMENTS: &str = "output.key may not have empty, '.' or '..' segments";
const SPEC_IMMUTABLE: &str = "a RenderJob's spec is immutable except cancel, priority and ttlSecondsAfterFinished: create a new RenderJob to render again";
const CHUNKING: &str = "set framesPerLambda or concurrency, not both";
const PROPS: &str = "set inputProps or inputPropsFrom, not both";
const PROPS_FROM: &str = "inputPropsFrom needs exactly one of configMapKeyRef or secretKeyRef";
const STILL: &str = "a still renders one image: remove codec, imageFormat, crf, pixelFormat, x264Preset, audioCodec, audioBitrate, frameRange, everyNthFrame, framesPerLambda and concurrency (the still's own imageFormat and frame apply)";
const IMAGE_NONE: &str = "imageFormat 'none' goes with the audio-only codecs (mp3, aac, wav) and only with them";
const AUDIO_CODEC: &str = "audioCodec does not fit the codec: h264 takes aac, mp3 or pcm-16; h265 and prores take aac or pcm-16; vp8 and vp9 take opus or pcm-16; gif has no audio; mp3 takes mp3, aac takes aac and wav takes pcm-16";
const CRF: &str = "crf is for h264/h265 (0–51), vp8 (4–63) and vp9 (0–63) only";
const PIXEL_FORMAT: &str = "pixelFormat does not fit the codec: yuva420p needs vp8/vp9, yuva444p10le needs prores, 10-bit needs h264/h265/prores; gif and audio codecs take none";
const ALPHA_PNG: &str =
    "pixelFormat yuva420p and yuva444p10le are for transparent video, which needs PNG frames: set imageFormat png";
const X264: &str = "x264Preset applies to codec h264 only";
const NTH: &str = "everyNthFrame above 1 is only for codec gif";
const JPEG_QUALITY: &str = "jpegQuality applies to JPEG frames or stills only";
const GIF_AUDIO: &str = "gif has no audio: remove audioBitrate";
const FRAME_RANGE: &str = "frameRange.start must not be after frameRange.end";

/// Every RenderJob case.
pub(super) fn cases() -> Vec<Case> {
    vec![
        // RenderJob: transition rules
        case(
            "rj-immutable-crf",
            "renderjob-video.yaml",
            Update,
            json!({"spec": {"cancel": true}}),
            json!({"spec": {"crf": 30}}),
            Rule(SPEC_IMMUTABLE),
        ),
        case(
            "rj-immutable-props",
            "renderjob-video.yaml",
            Update,
            json!({"spec": {"cancel": true}}),
            json!({"spec": {"inputProps": {"titleText": "Changed"}}}),
            Rule(SPEC_IMMUTABLE),
        ),
        case(
            "rj-immutable-remove",
            "renderjob-video.yaml",
            Update,
            json!({"spec": {"cancel": false}}),
            json!({"spec": {"output": null}}),
            Rule(SPEC_IMMUTABLE),
        ),
        case(
            "rj-immutable-add",
            "renderjob-still.yaml",
            Update,
            json!({"spec": {"cancel": true}}),
            json!({"spec": {"deleteAfter": "1-day"}}),
            Rule(SPEC_IMMUTABLE),
        ),
        case(
            "rj-priority",
            "renderjob-video.yaml",
            Update,
            json!({"spec": {"priority": -5}}),
            json!({"spec": {"priority": 5000}}),
            Field("spec.priority"),
        ),
        case(
            "rj-ttl",
            "renderjob-video.yaml",
            Update,
            json!({"spec": {"ttlSecondsAfterFinished": 3600}}),
            json!({"spec": {"ttlSecondsAfterFinished": -1}}),
            Field("spec.ttlSecondsAfterFinished"),
        ),
        // RenderJob: cross-field rules
        case(
            "rj-chunking",
            "renderjob-video.yaml",
            Create,
            json!({"spec": {"concurrency": 10}}),
            json!({"spec": {"concurrency": 10, "framesPerLambda": 20}}),
            Rule(CHUNKING),
        ),
        case(
            "rj-props",
            "renderjob-video.yaml",
            Create,
            json!({"spec": {"inputProps": {"a": [1, {"b": null}]}}}),
            json!({"spec": {"inputPropsFrom": {"secretKeyRef": {"name": "s", "key": "props.json"}}}}),
            Rule(PROPS),
        ),
        case(
            "rj-props-from",
            "renderjob-still.yaml",
            Create,
            json!({"spec": {"inputPropsFrom": {"configMapKeyRef": null, "secretKeyRef": {"name": "s", "key": "p.json"}}}}),
            json!({"spec": {"inputPropsFrom": {"secretKeyRef": {"name": "s", "key": "p.json"}}}}),
            Rule(PROPS_FROM),
        ),
        case(
            "rj-still-codec",
            "renderjob-still.yaml",
            Create,
            json!({"spec": {"still": {"imageFormat": "webp"}}}),
            json!({"spec": {"codec": "h264"}}),
            Rule(STILL),
        ),
        case(
            "rj-still-chunks",
            "renderjob-still.yaml",
            Create,
            json!({"spec": {"still": {"frame": 0}}}),
            json!({"spec": {"concurrency": 2}}),
            Rule(STILL),
        ),
        case(
            "rj-image-none",
            "renderjob-video.yaml",
            Create,
            json!({"spec": {"codec": "mp3", "imageFormat": "none", "crf": null, "x264Preset": null, "audioCodec": "mp3"}}),
            json!({"spec": {"imageFormat": "none"}}),
            Rule(IMAGE_NONE),
        ),
        case(
            "rj-audio-only-frames",
            "renderjob-video.yaml",
            Create,
            json!({"spec": {"codec": "wav", "crf": null, "x264Preset": null, "audioCodec": "pcm-16"}}),
            json!({"spec": {"codec": "wav", "imageFormat": "jpeg", "crf": null, "x264Preset": null, "audioCodec": null}}),
            Rule(IMAGE_NONE),
        ),
        case(
            "rj-audio-codec",
            "renderjob-video.yaml",
            Create,
            json!({"spec": {"audioCodec": "mp3"}}),
            json!({"spec": {"audioCodec": "opus"}}),
            Rule(AUDIO_CODEC),
        ),
        case(
            "rj-audio-gif",
            "renderjob-gif.yaml",
            Create,
            json!({"spec": {"muted": true}}),
            json!({"spec": {"audioCodec": "aac"}}),
            Rule(AUDIO_CODEC),
        ),
        case(
            "rj-crf-range",
            "renderjob-video.yaml",
            Create,
            json!({"spec": {"crf": 51}}),
            json!({"spec": {"crf": 52}}),
            Rule(CRF),
        ),
        case(
            "rj-crf-vp8",
            "renderjob-webm.yaml",
            Create,
            json!({"spec": {"codec": "vp8", "crf": 4}}),
            json!({"spec": {"codec": "vp8", "crf": 3}}),
            Rule(CRF),
        ),
        case(
            "rj-crf-gif",
            "renderjob-gif.yaml",
            Create,
            json!({"spec": {"scale": 1}}),
            json!({"spec": {"crf": 10}}),
            Rule(CRF),
        ),
        case(
            "rj-pixel-format",
            "renderjob-video.yaml",
            Create,
            json!({"spec": {"pixelFormat": "yuv420p10le"}}),
            json!({"spec": {"pixelFormat": "yuva420p"}}),
            Rule(PIXEL_FORMAT),
        ),
        case(
            "rj-pixel-prores",
            "renderjob-video.yaml",
            Create,
            json!({"spec": {"codec": "prores", "crf": null, "x264Preset": null, "pixelFormat": "yuva444p10le", "imageFormat": "png"}}),
            json!({"spec": {"codec": "prores", "crf": null, "x264Preset": null, "pixelFormat": "yuv420p"}}),
            Rule(PIXEL_FORMAT),
        ),
        case(
            "rj-alpha-png",
            "renderjob-webm.yaml",
            Create,
            json!({"spec": {"imageFormat": "jpeg", "pixelFormat": "yuv420p"}}),
            json!({"spec": {"imageFormat": "jpeg"}}),
            Rule(ALPHA_PNG),
        ),
        case(
            "rj-x264",
            "renderjob-webm.yaml",
            Create,
            json!({"spec": {"codec": "h264", "pixelFormat": "yuv420p", "audioCodec": "aac", "x264Preset": "fast", "imageFormat": "jpeg"}}),
            json!({"spec": {"x264Preset": "fast"}}),
            Rule(X264),
        ),
        case(
            "rj-nth",
            "renderjob-video.yaml",
            Create,
            json!({"spec": {"everyNthFrame": 1}}),
            json!({"spec": {"everyNthFrame": 2}}),
            Rule(NTH),
        ),
        case(
            "rj-jpeg-quality",
            "renderjob-video.yaml",
            Create,
            json!({"spec": {"jpegQuality": 90}}),
            json!({"spec": {"imageFormat": "png", "jpegQuality": 90}}),
            Rule(JPEG_QUALITY),
        ),
        case(
            "rj-jpeg-quality-still",
            "renderjob-still.yaml",
            Create,
            json!({"spec": {"still": {"imageFormat": "jpeg"}, "jpegQuality": 70}}),
            json!({"spec": {"jpegQuality": 70}}),
            Rule(JPEG_QUALITY),
        ),
        case(
            "rj-gif-bitrate",
            "renderjob-gif.yaml",
            Create,
            json!({"spec": {"muted": false}}),
            json!({"spec": {"audioBitrate": "128k"}}),
            Rule(GIF_AUDIO),
        ),
        case(
            "rj-frame-range",
            "renderjob-gif.yaml",
            Create,
            json!({"spec": {"frameRange": {"start": 59, "end": 59}}}),
            json!({"spec": {"frameRange": {"start": 60, "end": 59}}}),
            Rule(FRAME_RANGE),
        ),
        // RenderJob: schema ranges and enums
        case(
            "rj-scale",
            "renderjob-gif.yaml",
            Create,
            json!({"spec": {"scale": 16}}),
            json!({"spec": {"scale": 17}}),
            Field("spec.scale"),
        ),
        case(
            "rj-retries",
            "renderjob-video.yaml",
            Create,
            json!({"spec": {"maxRetries": 10}}),
            json!({"spec": {"maxRetries": 11}}),
            Field("spec.maxRetries"),
        ),
        case(
            "rj-timeout",
            "renderjob-video.yaml",
            Create,
            json!({"spec": {"timeoutSeconds": 1}}),
            json!({"spec": {"timeoutSeconds": 0}}),
            Field("spec.timeoutSeconds"),
        ),
        case(
            "rj-presign",
            "renderjob-video.yaml",
            Create,
            json!({"spec": {"output": {"presignSeconds": 604800}}}),
            json!({"spec": {"output": {"presignSeconds": 604801}}}),
            Field("spec.output.presignSeconds"),
        ),
        case(
            "rj-delete-after",
            "renderjob-video.yaml",
            Create,
            json!({"spec": {"deleteAfter": "30-days"}}),
            json!({"spec": {"deleteAfter": "2-days"}}),
            Field("spec.deleteAfter"),
        ),
        case(
            "rj-concurrency",
            "renderjob-video.yaml",
            Create,
            json!({"spec": {"concurrency": 100000}}),
            json!({"spec": {"concurrency": 0}}),
            Field("spec.concurrency"),
        ),
        case(
            "rj-fpl",
            "renderjob-video.yaml",
            Create,
            json!({"spec": {"framesPerLambda": 1}}),
            json!({"spec": {"framesPerLambda": 0}}),
            Field("spec.framesPerLambda"),
        ),
        case(
            "rj-nth-min",
            "renderjob-gif.yaml",
            Create,
            json!({"spec": {"everyNthFrame": 1}}),
            json!({"spec": {"everyNthFrame": 0}}),
            Field("spec.everyNthFrame"),
        ),
        case(
            "rj-composition",
            "renderjob-video.yaml",
            Create,
            json!({"spec": {"composition": "Other-Comp"}}),
            json!({"spec": {"composition": ""}}),
            Field("spec.composition"),
        ),
        case(
            "rj-codec-enum",
            "renderjob-video.yaml",
            Create,
            json!({"spec": {"codec": "h265", "x264Preset": null}}),
            json!({"spec": {"codec": "av1"}}),
            Field("spec.codec"),
        ),
        case(
            "rj-still-frame",
            "renderjob-still.yaml",
            Create,
            json!({"spec": {"still": {"frame": 0}}}),
            json!({"spec": {"still": {"frame": -1}}}),
            Field("spec.still.frame"),
        ),
        case(
            "rj-output-key",
            "renderjob-video.yaml",
            Create,
            json!({"spec": {"output": {"key": "videos/alice.mp4"}}}),
            json!({"spec": {"output": {"key": "/absolute.mp4"}}}),
            Field("spec.output.key"),
        ),
        case(
            "rj-output-key-sites",
            "renderjob-video.yaml",
            Create,
            json!({"spec": {"output": {"key": "outputs/team/sites/x.mp4"}}}),
            json!({"spec": {"output": {"key": "sites/other-team/index.html"}}}),
            Rule(OUTPUT_KEY_FOLDERS),
        ),
        case(
            "rj-output-key-dots",
            "renderjob-video.yaml",
            Create,
            json!({"spec": {"output": {"key": "outputs/team/a..b.mp4"}}}),
            json!({"spec": {"output": {"key": "outputs/team/../other/x.mp4"}}}),
            Rule(OUTPUT_KEY_SEGMENTS),
        ),
        case(
            "rj-site-ref",
            "renderjob-video.yaml",
            Create,
            json!({"spec": {"siteRef": {"name": "s"}}}),
            json!({"spec": {"siteRef": null}}),
            Field("spec.siteRef"),
        ),
    ]
}
