//! Remotion's delivery options on real renders of the fixture, checked with ffprobe and on the
//! pixels: `videoBitrate`, `encodingMaxRate` + `encodingBufferSize`, `colorSpace`,
//! `proResProfile`, `numberOfGifLoops`, `enforceAudioTrack`, `gopSize` and `preferLossless`,
//! from the CLI and, through the protocol, from a launch whose chunks are stitched.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use remotion_function::capture::browser::{Browser, BrowserOptions};
use remotion_function::capture::page::Capture;
use remotion_function::capture::site::Site;
use remotion_function::capture::still::{StillRequest, render_still};
use remotion_protocol::payload::PROTOCOL_VERSION;
use remotion_protocol::progress::{ProgressDocument, Stage};
use remotion_tests::TestEnv;
use serde_json::json;

use crate::common::{self, bucket_and_functions, bundle, decode_png, video_frame};

/// Renders `composition` with the CLI and `args` into `out`; the stderr when it fails.
fn cli(composition: &str, args: &[&str], out: &Path) -> Result<(), String> {
    let output = Command::new(env!("CARGO_BIN_EXE_remotion-function"))
        .args(["render", "--serve-url", bundle("build").to_str().unwrap(), "--composition", composition])
        .args(args)
        .arg("--out")
        .arg(out)
        .output()
        .unwrap();
    if output.status.success() { Ok(()) } else { Err(String::from_utf8_lossy(&output.stderr).into_owned()) }
}

/// `entries` of the first stream of `kind` (`v` or `a`), as ffprobe's CSV; empty without one.
fn probe(path: &Path, kind: &str, entries: &str) -> String {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", &format!("{kind}:0"), "-show_entries", entries, "-of", "csv=p=0"])
        .arg(path)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn video_bit_rate(path: &Path) -> f64 {
    probe(path, "v", "stream=bit_rate").parse().unwrap()
}

/// Mean absolute difference per colour channel of two RGBA8 images, 0–255.
fn mean_abs_error(a: &[u8], b: &[u8]) -> f64 {
    assert_eq!(a.len(), b.len());
    let sum: u64 = a
        .chunks_exact(4)
        .zip(b.chunks_exact(4))
        .map(|(x, y)| (0..3).map(|c| u64::from(x[c].abs_diff(y[c]))).sum::<u64>())
        .sum();
    sum as f64 / (a.len() / 4 * 3) as f64
}

/// The loop count of a GIF's NETSCAPE2.0 extension (0 = forever), if it has one.
fn gif_loop_count(gif: &[u8]) -> Option<u16> {
    let at = gif.windows(11).position(|w| w == b"NETSCAPE2.0")?;
    Some(u16::from_le_bytes([gif[at + 13], gif[at + 14]]))
}

/// The largest absolute 16-bit sample of a file's audio (0 for digital silence).
fn peak_sample(path: &Path) -> i32 {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(path)
        .args(["-map", "0:a:0", "-f", "s16le", "-acodec", "pcm_s16le", "-"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!out.stdout.is_empty(), "no audio samples");
    out.stdout.chunks_exact(2).map(|b| i32::from(i16::from_le_bytes([b[0], b[1]])).abs()).max().unwrap_or(0)
}

#[tokio::test]
async fn a_target_bit_rate_and_a_capped_crf_are_what_ffprobe_measures() {
    let dir = tempfile::tempdir().unwrap();
    let base = ["--codec", "h264", "--frames", "0-59", "--scale", "0.5", "--x264-preset", "veryfast"];
    let (crf, target, capped) = (dir.path().join("crf.mp4"), dir.path().join("1M.mp4"), dir.path().join("cap.mp4"));
    let started = Instant::now();
    cli("Intro", &base, &crf).unwrap();
    cli("Intro", &[&base[..], &["--video-bitrate", "1M"]].concat(), &target).unwrap();
    cli("Intro", &[&base[..], &["--max-rate", "300k", "--buffer-size", "300k"]].concat(), &capped).unwrap();
    let (at_crf, at_target, at_cap) = (video_bit_rate(&crf), video_bit_rate(&target), video_bit_rate(&capped));
    // 2 s of x264's one-pass ABR (as Remotion's -b:v): within a quarter of the target.
    assert!((at_target - 1e6).abs() < 0.25e6, "videoBitrate 1M gave {at_target} bit/s");
    // The cap binds (CRF 18 alone spends far more), and the buffer bounds the excess: at most
    // the peak rate plus one buffer over the clip's 2 s.
    assert!(at_crf > 2.0 * 300e3, "CRF 18 alone spends {at_crf} bit/s, so the cap would not be tested");
    assert!(at_cap <= 300e3 + 300e3 / 2.0, "maxrate 300k / bufsize 300k gave {at_cap} bit/s");
    // A target rate and a CRF together are refused, as by Remotion.
    let both =
        cli("Intro", &[&base[..], &["--crf", "20", "--video-bitrate", "1M"]].concat(), &dir.path().join("x.mp4"));
    assert!(both.unwrap_err().contains("set crf or videoBitrate, not both"));
    eprintln!(
        "bit rates: crf 18 {at_crf:.0}, videoBitrate 1M {at_target:.0}, maxrate 300k {at_cap:.0} bit/s ({:.1} s)",
        started.elapsed().as_secs_f64()
    );
}

#[tokio::test]
async fn each_colour_space_is_tagged_and_converted_as_remotion_does() {
    let dir = tempfile::tempdir().unwrap();
    let site = Site::open(bundle("build").to_str().unwrap()).await.unwrap();
    let browser = Browser::launch(&BrowserOptions::detect().unwrap()).await.unwrap();
    let still = StillRequest {
        composition: "Tiny".into(),
        serialized_props: "{}".into(),
        frame: 5,
        format: Capture::Png,
        scale: 1.0,
        timeout: std::time::Duration::from_secs(30),
    };
    let expected = decode_png(&render_still(&browser, &site, &still).await.unwrap().image).2;
    browser.close().await;
    // ffprobe's order: color_range, color_space, color_transfer, color_primaries.
    for (space, tags) in [
        (None, "tv,bt709,bt709,bt709"),
        (Some("bt709"), "tv,bt709,bt709,bt709"),
        (Some("bt2020-ncl"), "tv,bt2020nc,arib-std-b67,bt2020"),
        (Some("default"), "unknown,unknown,unknown,unknown"),
        (Some("bt601"), "unknown,unknown,unknown,unknown"),
    ] {
        let video = dir.path().join(format!("{}.mp4", space.unwrap_or("unset")));
        let mut args = vec!["--codec", "h264", "--frames", "0-9", "--image-format", "png", "--crf", "10"];
        if let Some(space) = space {
            args.extend(["--color-space", space]);
        }
        cli("Tiny", &args, &video).unwrap();
        assert_eq!(
            probe(&video, "v", "stream=color_range,color_space,color_transfer,color_primaries"),
            tags,
            "{space:?}"
        );
        // FFmpeg converts back with the tagged matrix (BT.601 when untagged): the frame is the
        // still's colours. A matrix other than the tag says shifts Tiny's saturated background
        // by well over 5 levels per channel.
        let error = mean_abs_error(&video_frame(&video, 5, dir.path()), &expected);
        assert!(error < 3.0, "colorSpace {space:?}: frame 5 is {error:.2} off the still");
    }
    // VP8 decoders read BT.601 only: bt709 is refused, not written wrong.
    let vp8 = cli("Tiny", &["--codec", "vp8", "--frames", "0-1", "--color-space", "bt709"], &dir.path().join("x.webm"));
    assert!(vp8.unwrap_err().contains("vp8 only default or bt601"));
}

#[tokio::test]
async fn every_prores_profile_of_remotion_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    for (profile, name, tag) in [
        ("4444-xq", "XQ", "ap4x"),
        ("4444", "4444", "ap4h"),
        ("hq", "HQ", "apch"),
        ("standard", "Standard", "apcn"),
        ("light", "LT", "apcs"),
        ("proxy", "Proxy", "apco"),
    ] {
        let video = dir.path().join(format!("{profile}.mov"));
        cli("Tiny", &["--codec", "prores", "--frames", "0-2", "--prores-profile", profile], &video).unwrap();
        assert_eq!(probe(&video, "v", "stream=profile,codec_tag_string"), format!("{name},{tag}"));
    }
    // Unset: Remotion's HQ.
    let video = dir.path().join("default.mov");
    cli("Tiny", &["--codec", "prores", "--frames", "0-2"], &video).unwrap();
    assert_eq!(probe(&video, "v", "stream=profile"), "HQ");
    // A 4:2:2 profile would drop yuva444p10le's alpha: refused.
    let args = ["--codec", "prores", "--frames", "0-2", "--image-format", "png", "--pixel-format", "yuva444p10le"];
    let refused = cli("Tiny", &[&args[..], &["--prores-profile", "hq"]].concat(), &dir.path().join("a.mov"));
    assert!(refused.unwrap_err().contains("4444 or 4444-xq"));
    eprintln!("prores profiles: 7 renders in {:.1} s", started.elapsed().as_secs_f64());
}

#[tokio::test]
async fn gif_loops_follow_remotions_number_of_gif_loops() {
    let dir = tempfile::tempdir().unwrap();
    for (loops, expected) in [(None, Some(0)), (Some("0"), None), (Some("1"), Some(1)), (Some("5"), Some(5))] {
        let gif = dir.path().join(format!("{}.gif", loops.unwrap_or("unset")));
        let mut args = vec!["--codec", "gif", "--frames", "0-3"];
        if let Some(loops) = loops {
            args.extend(["--number-of-gif-loops", loops]);
        }
        cli("Tiny", &args, &gif).unwrap();
        // Unset loops forever (0), 0 plays once (no loop extension), n plays n + 1 times.
        assert_eq!(gif_loop_count(&std::fs::read(&gif).unwrap()), expected, "numberOfGifLoops {loops:?}");
        assert_eq!(probe(&gif, "v", "stream=codec_name"), "gif");
    }
}

#[tokio::test]
async fn a_silent_composition_gets_an_audio_track_only_when_enforced() {
    let dir = tempfile::tempdir().unwrap();
    let (plain, enforced, muted) = (dir.path().join("plain.mp4"), dir.path().join("aac.mp4"), dir.path().join("m.mp4"));
    let args = ["--codec", "h264", "--frames", "0-29"];
    cli("Tiny", &args, &plain).unwrap();
    cli("Tiny", &[&args[..], &["--enforce-audio-track"]].concat(), &enforced).unwrap();
    cli("Tiny", &[&args[..], &["--enforce-audio-track", "--muted"]].concat(), &muted).unwrap();
    assert_eq!(probe(&plain, "a", "stream=codec_name"), "", "nothing heard, nothing enforced: no audio stream");
    assert_eq!(probe(&muted, "a", "stream=codec_name"), "", "muted wins, as in Remotion");
    assert_eq!(probe(&enforced, "a", "stream=codec_name,sample_rate,channels"), "aac,48000,2");
    let duration: f64 = probe(&enforced, "a", "stream=duration").parse().unwrap();
    assert!((duration - 1.0).abs() < 0.05, "30 frames of silence last 1 s, got {duration}");
    assert_eq!(peak_sample(&enforced), 0, "the enforced track is digital silence");
}

/// The frame numbers of a video's keyframes, in presentation order (packets come in decoding
/// order, which B-frames reorder).
fn keyframes(path: &Path) -> Vec<usize> {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v:0", "-show_entries", "frame=key_frame", "-of", "json"])
        .arg(path)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let frames: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let frames = frames["frames"].as_array().expect("ffprobe lists the frames");
    frames.iter().enumerate().filter(|(_, f)| f["key_frame"] == 1).map(|(n, _)| n).collect()
}

/// The most frames from one keyframe to the next (or to the end).
fn longest_gop(keyframes: &[usize], frames: usize) -> usize {
    keyframes.windows(2).map(|w| w[1] - w[0]).chain([frames - keyframes.last().unwrap()]).max().unwrap()
}

#[tokio::test]
async fn gop_size_bounds_the_distance_between_keyframes() {
    let dir = tempfile::tempdir().unwrap();
    let args = ["--codec", "h264", "--frames", "0-59"];
    let (plain, bounded) = (dir.path().join("plain.mp4"), dir.path().join("gop.mp4"));
    cli("Tiny", &args, &plain).unwrap();
    cli("Tiny", &[&args[..], &["--gop", "7"]].concat(), &bounded).unwrap();
    // libx264 on its own puts one keyframe in 60 frames (keyint 250): the bound can fail.
    assert_eq!(keyframes(&plain), [0]);
    // At most 7 frames apart (x264 adds keyframes at scene cuts, as it does for Remotion).
    let every = keyframes(&bounded);
    assert!(every.len() >= 9 && longest_gop(&every, 60) <= 7, "{every:?}");
    let vp9 = dir.path().join("gop.webm");
    cli("Tiny", &["--codec", "vp9", "--frames", "0-29", "--gop", "30"], &vp9).unwrap();
    assert_eq!(keyframes(&vp9), [0], "a GOP longer than FFmpeg's default of 12");
    let prores = cli("Tiny", &["--codec", "prores", "--frames", "0-2", "--gop", "5"], &dir.path().join("x.mov"));
    assert!(prores.unwrap_err().contains("gopSize applies to h264, h265, vp8 and vp9, not prores"));
}

#[tokio::test]
async fn prefer_lossless_writes_pcm_into_quicktime_or_matroska() {
    let dir = tempfile::tempdir().unwrap();
    let mov = dir.path().join("lossless.mov");
    let args = ["--frames", "0-29", "--prefer-lossless"];
    cli("WithAudio", &[&args[..], &["--codec", "prores", "--prores-profile", "proxy"]].concat(), &mov).unwrap();
    assert_eq!(probe(&mov, "a", "stream=codec_name,sample_rate,channels"), "pcm_s16le,48000,2");
    // MP4 and WebM cannot carry PCM: as Remotion, the video goes into Matroska.
    let mkv = dir.path().join("lossless.mkv");
    cli("WithAudio", &[&args[..], &["--codec", "h264"]].concat(), &mkv).unwrap();
    assert_eq!(probe(&mkv, "a", "stream=codec_name,sample_rate,channels"), "pcm_s16le,48000,2");
    assert_eq!(probe(&mkv, "v", "stream=codec_name"), "h264");
    let format = Command::new("ffprobe")
        .args(["-v", "error", "-show_entries", "format=format_name", "-of", "csv=p=0"])
        .arg(&mkv)
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&format.stdout).trim().trim_matches('"'), "matroska,webm");
    let mp4 = cli("WithAudio", &[&args[..], &["--codec", "h264"]].concat(), &dir.path().join("x.mp4"));
    let message = mp4.unwrap_err();
    assert!(message.contains("Matroska") && message.contains(".mkv"), "{message}");
    let conflict = cli(
        "WithAudio",
        &[&args[..], &["--codec", "prores", "--audio-codec", "aac"]].concat(),
        &dir.path().join("y.mov"),
    );
    assert!(conflict.unwrap_err().contains("audioCodec is aac"));
}

async fn progress(s3: &aws_sdk_s3::Client, bucket: &str, id: &str) -> ProgressDocument {
    let object = s3.get_object().bucket(bucket).key(format!("renders/{id}/progress.json")).send().await.unwrap();
    serde_json::from_slice(&object.body.collect().await.unwrap().into_bytes()).unwrap()
}

async fn download(s3: &aws_sdk_s3::Client, bucket: &str, key: &str, to: &Path) {
    let object = s3.get_object().bucket(bucket).key(key).send().await.unwrap();
    std::fs::write(to, object.body.collect().await.unwrap().into_bytes()).unwrap();
}

/// The protocol end to end: a launch's chunks (rendered by other invocations) stitched with
/// the render's delivery options.
#[tokio::test]
async fn a_launch_stitches_its_chunks_with_the_delivery_options() {
    let env = TestEnv::get();
    let (orchestrator, renderer) = ("test-fn-18", "test-fn-19");
    let (s3, bucket, mut processes) = bucket_and_functions("delivery", orchestrator, 1).await;
    processes.extend(common::spawn_functions(renderer, 2));
    let dir = tempfile::tempdir().unwrap();
    let launch = |id: &str, encoding: serde_json::Value, end: u64, ext: &str| {
        json!({
            "type": "launch", "protocolVersion": PROTOCOL_VERSION, "renderId": id, "bucket": bucket,
            "site": {"serveUrl": "private", "s3": {"bucket": bucket, "prefix": "sites/fixture/"}},
            "siteNamespace": "tests", "siteName": "fixture", "composition": "Tiny",
            "inputProps": {"type": "inline", "serialized": "{}"},
            "encoding": encoding, "frameRange": {"start": 0, "end": end}, "chunking": {"concurrency": 3},
            "maxRetries": 1, "timeoutMs": 30000, "output": {"key": format!("renders/{id}/out.{ext}")},
            "renderer": {"functionName": renderer, "region": "us-east-1", "memoryMb": 2048, "diskMb": 2048,
                         "architecture": "x86_64", "timeoutSeconds": 300, "maxConcurrency": 2},
        })
    };
    let started = Instant::now();
    // Silent Tiny in three chunks, none with audio: the enforced track spans all of them.
    let video = launch(
        "deliverymp4",
        json!({
            "codec": "h264", "enforceAudioTrack": true, "colorSpace": "bt2020-ncl", "videoBitrate": "200k",
            "gopSize": 10,
        }),
        89,
        "mp4",
    );
    let answer = remotion_tests::lambda::invoke(&env.lambda().client(), orchestrator, &video).await.unwrap();
    answer.expect("the h264 launch succeeds");
    let done = progress(&s3, &bucket, "deliverymp4").await;
    assert_eq!((done.stage, done.chunks_total), (Stage::Done, 3), "{done:?}");
    let mp4 = dir.path().join("out.mp4");
    download(&s3, &bucket, &done.output.expect("an output").key, &mp4).await;
    assert_eq!(probe(&mp4, "v", "stream=color_space,color_transfer,color_primaries"), "bt2020nc,arib-std-b67,bt2020");
    assert_eq!(probe(&mp4, "a", "stream=codec_name"), "aac");
    let duration: f64 = probe(&mp4, "a", "stream=duration").parse().unwrap();
    assert!((duration - 3.0).abs() < 0.05, "90 frames of silence last 3 s, got {duration}");
    assert_eq!(peak_sample(&mp4), 0);
    // Each chunk starts on a keyframe and gopSize keeps them at most 10 frames apart within it.
    let every = keyframes(&mp4);
    assert!([0, 30, 60].iter().all(|k| every.contains(k)) && longest_gop(&every, 90) <= 10, "{every:?}");

    // preferLossless through the protocol: the enforced track of an h264 render in three
    // chunks is PCM, in a Matroska file.
    let lossless =
        launch("deliverymkv", json!({"codec": "h264", "enforceAudioTrack": true, "preferLossless": true}), 29, "mkv");
    let answer = remotion_tests::lambda::invoke(&env.lambda().client(), orchestrator, &lossless).await.unwrap();
    answer.expect("the lossless launch succeeds");
    let done = progress(&s3, &bucket, "deliverymkv").await;
    assert_eq!((done.stage, done.chunks_total), (Stage::Done, 3), "{done:?}");
    let output = done.output.expect("an output");
    assert_eq!(output.content_type, "video/x-matroska");
    let mkv = dir.path().join("out.mkv");
    download(&s3, &bucket, &output.key, &mkv).await;
    assert_eq!(probe(&mkv, "a", "stream=codec_name,sample_rate"), "pcm_s16le,48000");
    assert_eq!(probe(&mkv, "v", "stream=codec_name,nb_read_frames").split(',').next(), Some("h264"));
    let duration: f64 = probe(&mkv, "a", "stream=duration").parse().unwrap_or(0.0);
    eprintln!("lossless Matroska audio: {duration} s");

    // A GIF in three chunks, played three times in all.
    let gif = launch("deliverygif", json!({"codec": "gif", "numberOfGifLoops": 2}), 11, "gif");
    let answer = remotion_tests::lambda::invoke(&env.lambda().client(), orchestrator, &gif).await.unwrap();
    answer.expect("the gif launch succeeds");
    let done = progress(&s3, &bucket, "deliverygif").await;
    assert_eq!(done.stage, Stage::Done, "{done:?}");
    let out = dir.path().join("out.gif");
    download(&s3, &bucket, &done.output.expect("an output").key, &out).await;
    assert_eq!(gif_loop_count(&std::fs::read(&out).unwrap()), Some(2));
    for p in &mut processes {
        p.check_alive("render function").unwrap();
    }
    eprintln!("delivery launches: h264, lossless h264 and gif in {:.1} s", started.elapsed().as_secs_f64());
}
