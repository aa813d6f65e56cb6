//! Validation cases for every rule of the CRD schemas: a sample, a variant the rule accepts and
//! a variant it rejects, with what the rejection must say. The same table is checked
//! client-side (`remotion_crds::validation`) and server-side (the real API server).

use serde_json::{Value, json};

/// When a rule applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// On create: both variants are created from the sample.
    Create,
    /// On update (transition rules): the sample is created, updated with the valid patch
    /// (accepted), and that state updated with the invalid patch (rejected).
    Update,
}

/// What a rejection must mention.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expect {
    /// A CEL rule: its exact message.
    Rule(&'static str),
    /// A schema constraint (range, pattern, enum, required): the field's path.
    Field(&'static str),
}

/// One validation case.
#[derive(Clone, Debug)]
pub struct Case {
    /// Short unique name (also used in object names).
    pub name: &'static str,
    /// Sample file the variants derive from.
    pub sample: &'static str,
    /// Create or update.
    pub phase: Phase,
    /// Merge patch giving a variant the rule accepts.
    pub valid: Value,
    /// Merge patch giving a variant the rule rejects.
    pub invalid: Value,
    /// What the rejection says.
    pub expect: Expect,
}

fn case(name: &'static str, sample: &'static str, phase: Phase, valid: Value, invalid: Value, expect: Expect) -> Case {
    Case { name, sample, phase, valid, invalid, expect }
}

use Expect::{Field, Rule};
use Phase::{Create, Update};

const OUTPUT_KEY_FOLDERS: &str =
    "output.key may not be under sites/ or optimization/: those folders hold the bucket's sites and cost profiles";
const OUTPUT_KEY_SEGMENTS: &str = "output.key may not have empty, '.' or '..' segments";
const REGION_IMMUTABLE: &str = "region is immutable: create a new resource for another region";
const BUCKET_IMMUTABLE: &str = "bucketName is immutable once set";
const CREDENTIALS: &str = "credentials need a secretRef, a roleArn, or both";
const MANAGED: &str = "a Managed function needs image and roleArn";
const EXISTING: &str = "an Existing function needs functionName";
const FUNCTION_NAME_IMMUTABLE: &str = "functionName is immutable once set";
const ONE_SOURCE: &str = "source needs exactly one of url, configMapRef or s3";
const URL_SHA: &str = "a url source needs sha256, the digest of the archive";
const SITE_NAME_IMMUTABLE: &str = "siteName is immutable: create a new RemotionSite for another site name";
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

/// Every case.
pub fn all() -> Vec<Case> {
    vec![
        // LambdaBucket
        case(
            "lb-region",
            "lambdabucket-adopt.yaml",
            Update,
            json!({"spec": {"expiry": {"enabled": false}}}),
            json!({"spec": {"region": "us-west-2"}}),
            Rule(REGION_IMMUTABLE),
        ),
        case(
            "lb-name-set",
            "lambdabucket-adopt.yaml",
            Update,
            json!({"spec": {"bucketName": "remotionlambda-useast1-abcdefghij"}}),
            json!({"spec": {"bucketName": "remotionlambda-useast1-zzzzzzzzzz"}}),
            Rule(BUCKET_IMMUTABLE),
        ),
        case(
            "lb-name-change",
            "lambdabucket-named.yaml",
            Update,
            json!({"spec": {"deletionPolicy": "Retain"}}),
            json!({"spec": {"bucketName": "another-bucket"}}),
            Rule(BUCKET_IMMUTABLE),
        ),
        case(
            "lb-name-unset",
            "lambdabucket-named.yaml",
            Update,
            json!({"spec": {"publicOutputs": false}}),
            json!({"spec": {"bucketName": null}}),
            Rule(BUCKET_IMMUTABLE),
        ),
        case(
            "lb-credentials",
            "lambdabucket-named.yaml",
            Create,
            json!({"spec": {"credentials": {"roleArn": "arn:aws:iam::123456789012:role/renders"}}}),
            json!({"spec": {"credentials": {"secretRef": null}}}),
            Rule(CREDENTIALS),
        ),
        case(
            "lb-region-pattern",
            "lambdabucket-adopt.yaml",
            Create,
            json!({"spec": {"region": "ap-southeast-5"}}),
            json!({"spec": {"region": "Mars-North"}}),
            Field("spec.region"),
        ),
        case(
            "lb-endpoint-pattern",
            "lambdabucket-named.yaml",
            Create,
            json!({"spec": {"endpoint": "http://127.0.0.1:8333"}}),
            json!({"spec": {"endpoint": "ftp://storage"}}),
            Field("spec.endpoint"),
        ),
        case(
            "lb-bucket-pattern",
            "lambdabucket-named.yaml",
            Create,
            json!({"spec": {"bucketName": "my.bucket-1"}}),
            json!({"spec": {"bucketName": "Bad_Bucket"}}),
            Field("spec.bucketName"),
        ),
        case(
            "lb-policy-enum",
            "lambdabucket-named.yaml",
            Create,
            json!({"spec": {"deletionPolicy": "Retain"}}),
            json!({"spec": {"deletionPolicy": "Orphan"}}),
            Field("spec.deletionPolicy"),
        ),
        // RenderFunction
        case(
            "rfn-managed",
            "renderfunction-managed.yaml",
            Create,
            json!({"spec": {"timeoutSeconds": 120}}),
            json!({"spec": {"image": null}}),
            Rule(MANAGED),
        ),
        case(
            "rfn-managed-role",
            "renderfunction-managed.yaml",
            Create,
            json!({"spec": {"roleArn": "arn:aws:iam::123456789012:role/other"}}),
            json!({"spec": {"roleArn": null}}),
            Rule(MANAGED),
        ),
        case(
            "rfn-existing",
            "renderfunction-existing.yaml",
            Create,
            json!({"spec": {"functionName": "renderer_2"}}),
            json!({"spec": {"functionName": null}}),
            Rule(EXISTING),
        ),
        case(
            "rfn-name-immutable",
            "renderfunction-existing.yaml",
            Update,
            json!({"spec": {"memorySizeMb": 4096}}),
            json!({"spec": {"functionName": "another"}}),
            Rule(FUNCTION_NAME_IMMUTABLE),
        ),
        case(
            "rfn-name-first-set",
            "renderfunction-managed.yaml",
            Update,
            json!({"spec": {"functionName": "pinned-name"}}),
            json!({"spec": {"functionName": "other-name"}}),
            Rule(FUNCTION_NAME_IMMUTABLE),
        ),
        case(
            "rfn-region",
            "renderfunction-managed.yaml",
            Update,
            json!({"spec": {"memorySizeMb": 2048}}),
            json!({"spec": {"region": "eu-west-1"}}),
            Rule(REGION_IMMUTABLE),
        ),
        case(
            "rfn-memory-low",
            "renderfunction-managed.yaml",
            Create,
            json!({"spec": {"memorySizeMb": 512}}),
            json!({"spec": {"memorySizeMb": 511}}),
            Field("spec.memorySizeMb"),
        ),
        case(
            "rfn-memory-high",
            "renderfunction-managed.yaml",
            Create,
            json!({"spec": {"memorySizeMb": 10240}}),
            json!({"spec": {"memorySizeMb": 10241}}),
            Field("spec.memorySizeMb"),
        ),
        case(
            "rfn-disk",
            "renderfunction-managed.yaml",
            Create,
            json!({"spec": {"diskSizeMb": 512}}),
            json!({"spec": {"diskSizeMb": 20000}}),
            Field("spec.diskSizeMb"),
        ),
        case(
            "rfn-timeout-low",
            "renderfunction-managed.yaml",
            Create,
            json!({"spec": {"timeoutSeconds": 1}}),
            json!({"spec": {"timeoutSeconds": 0}}),
            Field("spec.timeoutSeconds"),
        ),
        case(
            "rfn-timeout-high",
            "renderfunction-managed.yaml",
            Create,
            json!({"spec": {"timeoutSeconds": 900}}),
            json!({"spec": {"timeoutSeconds": 901}}),
            Field("spec.timeoutSeconds"),
        ),
        case(
            "rfn-arch",
            "renderfunction-managed.yaml",
            Create,
            json!({"spec": {"architecture": "x86_64"}}),
            json!({"spec": {"architecture": "sparc"}}),
            Field("spec.architecture"),
        ),
        case(
            "rfn-role-pattern",
            "renderfunction-managed.yaml",
            Create,
            json!({"spec": {"roleArn": "arn:aws-cn:iam::123456789012:role/path/r"}}),
            json!({"spec": {"roleArn": "renders-role"}}),
            Field("spec.roleArn"),
        ),
        // RemotionSite
        case(
            "rsite-two-sources",
            "remotionsite-url.yaml",
            Create,
            json!({"spec": {"source": {"sha256": "0000000000000000000000000000000000000000000000000000000000000000"}}}),
            json!({"spec": {"source": {"configMapRef": {"name": "b", "key": "bundle.tar.gz"}}}}),
            Rule(ONE_SOURCE),
        ),
        case(
            "rsite-no-source",
            "remotionsite-configmap.yaml",
            Create,
            json!({"spec": {"source": {"configMapRef": {"key": "other.zip"}}}}),
            json!({"spec": {"source": {"configMapRef": null}}}),
            Rule(ONE_SOURCE),
        ),
        case(
            "rsite-url-sha",
            "remotionsite-url.yaml",
            Create,
            json!({"spec": {"source": {"url": "http://127.0.0.1:8000/b.tar.gz"}}}),
            json!({"spec": {"source": {"sha256": null}}}),
            Rule(URL_SHA),
        ),
        case(
            "rsite-name-change",
            "remotionsite-configmap.yaml",
            Update,
            json!({"spec": {"functionRef": {"name": "renderer"}}}),
            json!({"spec": {"siteName": "lower-thirds-v3"}}),
            Rule(SITE_NAME_IMMUTABLE),
        ),
        case(
            "rsite-name-add",
            "remotionsite-url.yaml",
            Update,
            json!({"spec": {"functionRef": null}}),
            json!({"spec": {"siteName": "marketing"}}),
            Rule(SITE_NAME_IMMUTABLE),
        ),
        case(
            "rsite-sha-pattern",
            "remotionsite-s3.yaml",
            Create,
            json!({"spec": {"source": {"sha256": "ab".repeat(32)}}}),
            json!({"spec": {"source": {"sha256": "ABC"}}}),
            Field("spec.source.sha256"),
        ),
        case(
            "rsite-name-pattern",
            "remotionsite-url.yaml",
            Create,
            json!({"spec": {"siteName": "a.b_c-(d)"}}),
            json!({"spec": {"siteName": "bad/name"}}),
            Field("spec.siteName"),
        ),
        case(
            "rsite-bucket-ref",
            "remotionsite-url.yaml",
            Create,
            json!({"spec": {"bucketRef": {"name": "x"}}}),
            json!({"spec": {"bucketRef": {"name": ""}}}),
            Field("spec.bucketRef.name"),
        ),
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

/// Every CEL rule message declared in the CRDs.
pub fn declared_rule_messages(
    crds: &[k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition],
) -> Vec<String> {
    fn walk(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(map) => {
                if let Some(Value::Array(rules)) = map.get("x-kubernetes-validations") {
                    for rule in rules {
                        if let Some(m) = rule.get("message").and_then(Value::as_str) {
                            out.push(m.to_owned());
                        }
                    }
                }
                map.values().for_each(|v| walk(v, out));
            }
            Value::Array(items) => items.iter().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    for crd in crds {
        walk(&serde_json::to_value(crd).unwrap_or_default(), &mut out);
    }
    out.sort();
    out.dedup();
    out
}

/// Whether a client-side violation list satisfies an expectation.
pub fn client_side_matches(expect: Expect, violations: &[remotion_crds::validation::Violation]) -> bool {
    violations.iter().any(|v| match expect {
        Expect::Rule(message) => v.message == message,
        Expect::Field(field) => {
            let last = field.rsplit('.').next().unwrap_or(field);
            v.path == field || (field.starts_with(&v.path) && v.message.contains(last))
        }
    })
}

/// Whether a server-side rejection message satisfies an expectation.
pub fn server_side_matches(expect: Expect, message: &str) -> bool {
    match expect {
        Expect::Rule(rule) => message.contains(rule),
        Expect::Field(field) => message.contains(field),
    }
}
