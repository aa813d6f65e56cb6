//! Remotion's composition overrides and defaults, end to end through the protocol: `launch`
//! payloads rendered by the orchestrator and its renderers on the Lambda emulator, the outputs
//! checked with ffprobe and on the pixels.
//!
//! * `forceWidth`/`forceHeight`/`forceFps`/`forceDurationInFrames`: the video has the forced
//!   size, rate and length, in every chunk;
//! * the `Defaults` composition's `calculateMetadata` defaults (`defaultCodec`,
//!   `defaultOutName`, `defaultPixelFormat`, `defaultSampleRate`) apply when the payload leaves
//!   them to it, and the job's own options win over them;
//! * a still's frame `-1` is the last frame, of the forced length when one is forced.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use remotion_protocol::media::Codec;
use remotion_protocol::progress::{ProgressDocument, Stage};
use remotion_tests::TestEnv;
use serde_json::{Value, json};

use crate::common::{self, bucket_and_functions, decode_png};

/// Launches `payload` on `orchestrator`, waits for its answer and returns the final document.
async fn run(s3: &aws_sdk_s3::Client, bucket: &str, orchestrator: &str, payload: &Value) -> ProgressDocument {
    let env = TestEnv::get();
    let answer = remotion_tests::lambda::invoke(&env.lambda().client(), orchestrator, payload).await.unwrap();
    answer.unwrap_or_else(|e| panic!("the launch of {} failed: {e:?}", payload["renderId"]));
    let key = format!("renders/{}/progress.json", payload["renderId"].as_str().unwrap());
    let object = s3.get_object().bucket(bucket).key(key).send().await.unwrap();
    let doc: ProgressDocument = serde_json::from_slice(&object.body.collect().await.unwrap().into_bytes()).unwrap();
    assert_eq!(doc.stage, Stage::Done, "{doc:?}");
    doc
}

/// The output a document names, downloaded into `dir` under its own file name.
async fn download_output(s3: &aws_sdk_s3::Client, doc: &ProgressDocument, dir: &Path) -> std::path::PathBuf {
    let output = doc.output.as_ref().expect("an output");
    let object = s3.get_object().bucket(&output.bucket).key(&output.key).send().await.unwrap();
    let path = dir.join(output.key.rsplit('/').next().unwrap());
    std::fs::write(&path, object.body.collect().await.unwrap().into_bytes()).unwrap();
    path
}

/// ffprobe's `entries` of the first video stream, as CSV.
fn probe(path: &Path, entries: &str) -> String {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v:0", "-count_frames", "-show_entries", entries, "-of", "csv=p=0"])
        .arg(path)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// Codec, sample rate, channels and decoded samples of the first audio stream.
fn probe_audio(path: &Path) -> String {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "a:0", "-show_entries"])
        .args(["stream=codec_name,sample_rate,channels,duration_ts", "-of", "csv=p=0"])
        .arg(path)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[tokio::test]
async fn forced_size_rate_and_length_are_what_ffprobe_measures() {
    let (orchestrator, renderer) = ("test-fn-10", "test-fn-11");
    let (s3, bucket, mut processes) = bucket_and_functions("overrides", orchestrator, 1).await;
    processes.extend(common::spawn_functions(renderer, 1));
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    // Tiny is 64×64 at 30 fps for 10,000 frames: rendered at 96×48, 15 fps, 20 frames, in two
    // chunks, so that the renderers' pages take the forced composition too.
    let forced = json!({"overrides": {"width": 96, "height": 48, "fps": 15, "durationInFrames": 20}});
    let doc =
        run(&s3, &bucket, orchestrator, &common::launch_payload(&bucket, renderer, "forcedtiny", "Tiny", forced)).await;
    let video = download_output(&s3, &doc, dir.path()).await;
    assert_eq!(doc.output.as_ref().unwrap().key, "renders/forcedtiny/out.mp4", "Tiny has no defaultOutName");
    assert_eq!(probe(&video, "stream=codec_name,width,height,r_frame_rate,nb_read_frames"), "h264,96,48,15/1,20");
    let resolved = doc.resolved.expect("the document says what was resolved");
    assert_eq!((resolved.width, resolved.height, resolved.fps, resolved.duration_in_frames), (96, 48, 15.0, 20));
    // The page laid out at the forced size: Tiny fills it, so no frame has an unpainted edge.
    let last = common::video_frame(&video, 19, dir.path());
    let corner = &last[(96 * 47 + 95) * 4..(96 * 47 + 95) * 4 + 3];
    assert!(corner.iter().any(|c| *c > 40), "the bottom-right corner is painted: {corner:?}");
    for p in &mut processes {
        p.check_alive("render function").unwrap();
    }
    eprintln!("forced Tiny: {:.1} s", started.elapsed().as_secs_f64());
}

#[tokio::test]
async fn calculate_metadata_defaults_apply_when_unset_and_yield_to_the_job() {
    let (orchestrator, renderer) = ("test-fn-12", "test-fn-13");
    let (s3, bucket, mut processes) = bucket_and_functions("defaults", orchestrator, 1).await;
    processes.extend(common::spawn_functions(renderer, 1));
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();

    // Nothing chosen: vp9 (defaultCodec) in 4:4:4 (defaultPixelFormat) at renders/<id>/recap.webm.
    let unset = common::launch_payload(&bucket, renderer, "defaultsunset", "Defaults", json!({"codecChosen": false}));
    let doc = run(&s3, &bucket, orchestrator, &unset).await;
    assert_eq!(doc.output.as_ref().unwrap().key, "renders/defaultsunset/recap.webm");
    assert_eq!(doc.output.as_ref().unwrap().content_type, "video/webm");
    let resolved = doc.resolved.clone().expect("resolved");
    assert_eq!((resolved.codec, resolved.output_key.as_str()), (Some(Codec::Vp9), "renders/defaultsunset/recap.webm"));
    let video = download_output(&s3, &doc, dir.path()).await;
    assert_eq!(probe(&video, "stream=codec_name,pix_fmt,width,height,nb_read_frames"), "vp9,160,90,yuv444p,30");

    // The job's codec wins; the pixel format it leaves unset is still the composition's, and
    // the name too, with the chosen codec's extension.
    let codec_only = json!({"codecChosen": true, "encoding": {"codec": "h264"}});
    let doc = run(
        &s3,
        &bucket,
        orchestrator,
        &common::launch_payload(&bucket, renderer, "defaultsh264", "Defaults", codec_only),
    )
    .await;
    assert_eq!(doc.output.as_ref().unwrap().key, "renders/defaultsh264/recap.mp4");
    let video = download_output(&s3, &doc, dir.path()).await;
    assert_eq!(probe(&video, "stream=codec_name,pix_fmt"), "h264,yuv444p");

    // Everything chosen: nothing of the composition's defaults is left.
    let chosen = json!({
        "codecChosen": true, "encoding": {"codec": "h264", "pixelFormat": "yuv420p"},
        "output": {"key": "outputs/tests/chosen.mp4"},
    });
    let doc = run(
        &s3,
        &bucket,
        orchestrator,
        &common::launch_payload(&bucket, renderer, "defaultschosen", "Defaults", chosen),
    )
    .await;
    assert_eq!(doc.output.as_ref().unwrap().key, "outputs/tests/chosen.mp4");
    let video = download_output(&s3, &doc, dir.path()).await;
    assert_eq!(probe(&video, "stream=codec_name,pix_fmt"), "h264,yuv420p");

    // Props that make calculateMetadata declare nothing: Remotion's defaults.
    let none = json!({
        "codecChosen": false,
        "inputProps": {"type": "inline", "serialized":
            r#"{"defaultCodec":null,"defaultOutName":null,"defaultPixelFormat":null}"#},
    });
    let doc =
        run(&s3, &bucket, orchestrator, &common::launch_payload(&bucket, renderer, "defaultsnone", "Defaults", none))
            .await;
    assert_eq!(doc.output.as_ref().unwrap().key, "renders/defaultsnone/out.mp4");
    let video = download_output(&s3, &doc, dir.path()).await;
    assert_eq!(probe(&video, "stream=codec_name,pix_fmt"), "h264,yuv420p");

    // defaultSampleRate: the audio of a job that names no rate is at the composition's (a WAV
    // of the composition's second, silent: Defaults plays nothing).
    let declared = |rate: u32| {
        format!(
            r#"{{"defaultCodec":"vp9","defaultOutName":null,"defaultPixelFormat":null,"defaultSampleRate":{rate}}}"#
        )
    };
    let wav = json!({
        "codecChosen": true, "encoding": {"codec": "wav", "imageFormat": "none"},
        "inputProps": {"type": "inline", "serialized": declared(32_000)},
    });
    let doc =
        run(&s3, &bucket, orchestrator, &common::launch_payload(&bucket, renderer, "defaultsrate", "Defaults", wav))
            .await;
    let audio = download_output(&s3, &doc, dir.path()).await;
    assert_eq!(probe_audio(&audio), "pcm_s16le,32000,2,32000", "codec, rate, channels and a second of samples");
    // The composition's codec (vp9, so opus) cannot take its rate: refused before rendering,
    // naming the rates opus takes.
    let opus = json!({"codecChosen": false, "inputProps": {"type": "inline", "serialized": declared(44_100)}});
    let payload = common::launch_payload(&bucket, renderer, "defaultsopus", "Defaults", opus);
    let answer = remotion_tests::lambda::invoke(&TestEnv::get().lambda().client(), orchestrator, &payload).await;
    let refusal = answer.unwrap().expect_err("opus at 44.1 kHz is refused").to_string();
    assert!(refusal.contains("opus") && refusal.contains("44100 Hz") && refusal.contains("48000"), "{refusal}");
    for p in &mut processes {
        p.check_alive("render function").unwrap();
    }
    eprintln!("six Defaults launches: {:.1} s", started.elapsed().as_secs_f64());
}

#[tokio::test]
async fn a_still_of_frame_minus_one_is_the_last_frame() {
    let orchestrator = "test-fn-14";
    let (s3, bucket, mut processes) = bucket_and_functions("laststill", orchestrator, 1).await;
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let still = |id: &str, frame: i64, overrides: Value| {
        common::launch_payload(
            &bucket,
            orchestrator,
            id,
            "Tiny",
            json!({"still": {"frame": frame, "imageFormat": "png"}, "overrides": overrides}),
        )
    };
    let mut pixels = Vec::new();
    for (id, frame, overrides) in [
        ("stilllast", -1, json!({})),
        ("still9999", 9999, json!({})),
        ("stillforcedlast", -1, json!({"durationInFrames": 30})),
        ("still29", 29, json!({})),
    ] {
        let doc = run(&s3, &bucket, orchestrator, &still(id, frame, overrides)).await;
        assert_eq!(doc.output.as_ref().unwrap().key, format!("renders/{id}/out.png"));
        let resolved = doc.resolved.clone().expect("resolved");
        pixels.push((
            id,
            resolved.still_frame,
            decode_png(&std::fs::read(download_output(&s3, &doc, dir.path()).await).unwrap()).2,
        ));
    }
    assert_eq!((pixels[0].1, pixels[1].1, pixels[2].1, pixels[3].1), (Some(9999), Some(9999), Some(29), Some(29)));
    assert!(pixels[0].2 == pixels[1].2, "frame -1 of Tiny (10,000 frames) is frame 9999");
    assert!(pixels[2].2 == pixels[3].2, "frame -1 of Tiny forced to 30 frames is frame 29");
    assert!(pixels[0].2 != pixels[2].2, "frames 9999 and 29 differ, so the comparison can fail");

    // Beyond the start from the end is refused, naming the frames there are.
    let env = TestEnv::get();
    let answer =
        remotion_tests::lambda::invoke(&env.lambda().client(), orchestrator, &still("stilltoofar", -10_001, json!({})))
            .await
            .unwrap();
    let error = answer.expect_err("frame -10001 of 10,000 frames is refused");
    assert!(format!("{error:?}").contains("0–9999"), "{error:?}");
    for p in &mut processes {
        p.check_alive("render function").unwrap();
    }
    eprintln!("four stills: {:.1} s", started.elapsed().as_secs_f64());
}

/// Runs the function's CLI with `args`; its stderr when it fails.
fn cli(args: &[&str]) -> Result<(), String> {
    let output = Command::new(env!("CARGO_BIN_EXE_remotion-function"))
        .args([args[0], "--serve-url", common::bundle("build").to_str().unwrap()])
        .args(&args[1..])
        .output()
        .unwrap();
    if output.status.success() { Ok(()) } else { Err(String::from_utf8_lossy(&output.stderr).into_owned()) }
}

/// The local CLI takes the overrides under Remotion's CLI names (`--width`, `--height`,
/// `--fps`, `--duration`) and a still's frame counted from the end.
#[tokio::test]
async fn the_cli_forces_size_rate_and_length_and_counts_stills_from_the_end() {
    let dir = tempfile::tempdir().unwrap();
    let video = dir.path().join("forced.mp4");
    let out = video.to_str().unwrap();
    let forced = ["--width", "32", "--height", "48", "--fps", "15", "--duration", "20"];
    cli(&[&["render", "--composition", "Tiny"][..], &forced, &["--codec", "h264", "--out", out]].concat()).unwrap();
    let probe = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v:0", "-count_frames"])
        .args(["-show_entries", "stream=width,height,r_frame_rate,nb_read_frames", "-of", "csv=p=0"])
        .arg(&video)
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&probe.stdout).trim(),
        "32,48,15/1,20",
        "Tiny is 64x64 at 30 fps, 10,000 frames"
    );

    let still = |frame: &str, name: &str| {
        let path = dir.path().join(name);
        let args = [
            &["still", "--composition", "Tiny", "--duration", "20", "--frame", frame, "--out"][..],
            &[path.to_str().unwrap()],
        ];
        cli(&args.concat()).map(|()| std::fs::read(&path).unwrap())
    };
    let (last, nineteen, first) =
        (still("-1", "last.png").unwrap(), still("19", "19.png").unwrap(), still("0", "0.png").unwrap());
    assert_eq!(last, nineteen, "-1 is the last frame of the forced length");
    assert_ne!(decode_png(&last).2, decode_png(&first).2, "and not the first, so the comparison can fail");
    let error = still("-21", "x.png").unwrap_err();
    assert!(error.contains("frame -21 is out of range") && error.contains("-1 is the last"), "{error}");
    let fps = cli(&["render", "--composition", "Tiny", "--fps", "0.5", "--out", out]).unwrap_err();
    assert!(fps.contains("--fps 0.5 is outside 1–1000"), "{fps}");
}
