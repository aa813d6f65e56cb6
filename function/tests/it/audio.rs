//! The audio of the fixture's compositions, rendered with real Chromium and FFmpeg: what the
//! output carries (ffprobe), what it sounds like (Goertzel power at the tones' frequencies, RMS
//! over 100 ms windows of the decoded PCM), how chunks join, and how it compares with Remotion's
//! own render of the same bundle.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use remotion_function::capture::browser::{Browser, BrowserOptions};
use remotion_function::capture::site::Site;
use remotion_function::encode::audio::AudioSettings;
use remotion_function::encode::{Container, stitch};
use remotion_function::render::{VideoRequest, render_video};
use remotion_protocol::media::{AudioCodec, Codec};

use crate::common::signal::{RATE, amplitude, rms, window};
use crate::common::{self, bundle, fixture_project};

/// `remotion-function render` on the fixture bundle; extra arguments appended.
fn cli_render(composition: &str, out: &Path, extra: &[&str]) -> Duration {
    let started = Instant::now();
    let output = Command::new(env!("CARGO_BIN_EXE_remotion-function"))
        .args(["render", "--serve-url"])
        .arg(bundle("build"))
        .args(["--composition", composition, "--x264-preset", "ultrafast", "--out"])
        .arg(out)
        .args(extra)
        .output()
        .expect("running remotion-function");
    assert!(output.status.success(), "render failed:\n{}", String::from_utf8_lossy(&output.stderr));
    started.elapsed()
}

/// Codec name, sample rate, channels and duration (the stream's, else the file's) of the first
/// audio stream; `None` without one.
fn probe_audio(path: &Path) -> Option<(String, u32, u32, f64)> {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-select_streams",
            "a",
            "-show_entries",
            "stream=codec_name,sample_rate,channels,duration:format=duration",
        ])
        .args(["-of", "json"])
        .arg(path)
        .output()
        .expect("running ffprobe");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("ffprobe's JSON");
    let s = v["streams"].get(0)?;
    Some((
        s["codec_name"].as_str()?.to_owned(),
        s["sample_rate"].as_str()?.parse().ok()?,
        s["channels"].as_u64()? as u32,
        s["duration"].as_str().or(v["format"]["duration"].as_str())?.parse().ok()?,
    ))
}

/// The first audio stream decoded by FFmpeg's CLI to 48 kHz mono 16-bit samples.
fn pcm(path: &Path) -> Vec<f64> {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(path)
        .args(["-map", "a:0", "-f", "s16le", "-ac", "1", "-ar", "48000", "-"])
        .output()
        .expect("running ffmpeg");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    out.stdout.chunks_exact(2).map(|b| f64::from(i16::from_le_bytes([b[0], b[1]]))).collect()
}

fn largest_step(x: &[f64]) -> f64 {
    x.windows(2).map(|w| (w[1] - w[0]).abs()).fold(0.0, f64::max)
}

/// The 440 Hz tone of `public/tone.wav`, decoded the same way.
fn source_tone() -> Vec<f64> {
    pcm(&fixture_project().join("public/tone.wav"))
}

fn request(composition: &str, frames: (u64, u64), codec: Codec, container: Container) -> VideoRequest {
    VideoRequest {
        composition: composition.into(),
        serialized_props: "{}".into(),
        frames: Some(frames),
        concurrency: 1,
        codec,
        crf: None,
        preset: "ultrafast".into(),
        pixel_format: None,
        jpeg_quality: 80,
        timeout: Duration::from_secs(30),
        container,
        audio: AudioSettings::for_codec(codec, None, None, None, false).unwrap(),
        every_nth_frame: 1,
        image_format: remotion_function::encode::ImageKind::Jpeg,
        scale: 1.0,
        delivery: Default::default(),
    }
}

/// Renders `ranges` of a composition as separate chunks (as separate renderer invocations
/// would), returning the chunk files.
async fn render_chunks(composition: &str, ranges: &[(u64, u64)], codec: Codec, dir: &Path) -> Vec<PathBuf> {
    let site = Site::open(bundle("build").to_str().unwrap()).await.unwrap();
    let mut chunks = Vec::new();
    for (i, range) in ranges.iter().enumerate() {
        // A browser per chunk, like a chunk's own invocation.
        let browser = Browser::launch(&BrowserOptions::detect().unwrap()).await.unwrap();
        let path = dir.join(format!("{i}.{}", codec.chunk_extension()));
        let req = request(composition, *range, codec, Container::Chunk);
        let summary = render_video(&browser, &site, &req, &path, |_| {}).await;
        browser.close().await;
        assert_eq!(summary.unwrap().frames, range.1 - range.0 + 1);
        chunks.push(path);
    }
    chunks
}

#[test]
fn the_cli_renders_the_tone_as_48_khz_aac_of_the_video_length() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("with-audio.mp4");
    let took = cli_render("WithAudio", &out, &[]);
    let (codec, rate, channels, duration) = probe_audio(&out).expect("an audio stream");
    assert_eq!((codec.as_str(), rate, channels), ("aac", 48_000, 2));
    assert!((duration - 3.0).abs() < 0.022, "3 s of audio within one AAC frame, got {duration}");

    let ours = pcm(&out);
    let source = source_tone();
    let body = window(&ours, 0.1, 2.9);
    let tone = amplitude(body, 440.0);
    for other in [220.0, 430.0, 450.0, 880.0, 1000.0] {
        assert!(tone > 100.0 * amplitude(body, other), "440 Hz dominates: {tone} vs {other} Hz");
    }
    let level = 20.0 * (rms(body) / rms(window(&source, 0.1, 2.9))).log10();
    assert!(level.abs() < 0.1, "the tone's level is kept: {level:+.3} dB");
    // The tone starts with the video: full level from the first 10 ms.
    let start = 20.0 * (rms(window(&ours, 0.0, 0.01)) / rms(window(&source, 0.0, 0.01))).log10();
    assert!(start.abs() < 0.5, "no delay at the start: {start:+.2} dB in the first 10 ms");
    eprintln!("WithAudio (90 frames, 720p) rendered with audio in {:.1} s", took.as_secs_f64());
}

#[test]
fn the_cli_resamples_the_mix_to_the_sample_rate_asked_for() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("with-audio-44100.mp4");
    cli_render("WithAudio", &out, &["--sample-rate", "44100"]);
    let (codec, rate, channels, duration) = probe_audio(&out).expect("an audio stream");
    assert_eq!((codec.as_str(), rate, channels), ("aac", 44_100, 2));
    assert!((duration - 3.0).abs() < 0.024, "3 s of audio within one AAC frame, got {duration}");
    let ours = pcm(&out);
    let body = window(&ours, 0.1, 2.9);
    let tone = amplitude(body, 440.0);
    for other in [220.0, 430.0, 450.0, 880.0, 1000.0] {
        assert!(tone > 100.0 * amplitude(body, other), "440 Hz dominates: {tone} vs {other} Hz");
    }
    let level = 20.0 * (rms(body) / rms(window(&source_tone(), 0.1, 2.9))).log10();
    assert!(level.abs() < 0.1, "the tone's level is kept: {level:+.3} dB");
    let start = 20.0 * (rms(window(&ours, 0.0, 0.01)) / rms(window(&source_tone(), 0.0, 0.01))).log10();
    assert!(start.abs() < 0.5, "no delay at the start: {start:+.2} dB in the first 10 ms");

    // Opus takes five rates; the refusal names them before anything is rendered.
    let refused = Command::new(env!("CARGO_BIN_EXE_remotion-function"))
        .args(["render", "--serve-url"])
        .arg(bundle("build"))
        .args(["--composition", "WithAudio", "--codec", "vp9", "--sample-rate", "44100", "--out"])
        .arg(dir.path().join("refused.webm"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success(), "opus at 44.1 kHz is refused");
    assert!(stderr.contains("opus") && stderr.contains("44100 Hz") && stderr.contains("24000"), "{stderr}");
}

#[test]
fn muted_renders_and_silent_compositions_have_no_audio_stream() {
    let dir = tempfile::tempdir().unwrap();
    let muted = dir.path().join("muted.mp4");
    let took = cli_render("WithAudio", &muted, &["--muted"]);
    assert_eq!(probe_audio(&muted), None);
    assert_eq!(common::probe_video(&muted).1, 90);
    eprintln!("WithAudio (90 frames, 720p) rendered muted in {:.1} s", took.as_secs_f64());

    // Audio enabled, but nothing in the composition plays.
    let silent = dir.path().join("tiny.mp4");
    cli_render("Tiny", &silent, &["--frames", "0-29"]);
    assert_eq!(probe_audio(&silent), None);
}

#[tokio::test]
async fn chunks_rendered_apart_join_into_the_same_audio_as_one_render() {
    let dir = tempfile::tempdir().unwrap();
    // 47 frames = 75,200 samples: the join falls inside an AAC frame (1024 samples).
    let chunks = render_chunks("WithAudio", &[(0, 46), (47, 89)], Codec::H264, dir.path()).await;
    for chunk in &chunks {
        let (codec, rate, channels, _) = probe_audio(chunk).expect("chunks carry their audio");
        assert_eq!((codec.as_str(), rate, channels), ("s302m", 48_000, 2), "lossless PCM in MPEG-TS");
    }
    let joined = dir.path().join("joined.mp4");
    let settings = AudioSettings::for_codec(Codec::H264, None, None, None, false).unwrap();
    let started = Instant::now();
    let written = stitch::concat(&chunks, &joined, Codec::H264, settings).unwrap();
    let stitch_time = started.elapsed();
    assert_eq!((written.frames, written.audio_samples), (90, 144_000));
    let (codec, _, _, duration) = probe_audio(&joined).unwrap();
    assert_eq!(codec, "aac");
    assert!((duration - 3.0).abs() < 0.022, "3 s of audio, got {duration}");
    assert_eq!(common::probe_video(&joined).1, 90);

    // No click or gap at the join: no sample step larger than the tone's own steepest.
    let ours = pcm(&joined);
    let join = 47.0 / 30.0;
    let steepest = largest_step(&source_tone());
    let around = largest_step(window(&ours, join - 0.05, join + 0.05));
    assert!(around < steepest * 1.15, "step {around} at the join, the tone's own steepest is {steepest}");
    for (from, to) in [(join - 0.03, join - 0.01), (join - 0.01, join + 0.01), (join + 0.01, join + 0.03)] {
        let level = rms(window(&ours, from, to)) / rms(window(&source_tone(), from, to));
        assert!((level - 1.0).abs() < 0.02, "level {level:.3} at {from:.3}–{to:.3} s");
    }

    // The chunks' audio is sample-exact: the joined output decodes to the very samples of a
    // render in one piece (the same PCM went into the same encoder).
    let whole = dir.path().join("whole.mp4");
    let site = Site::open(bundle("build").to_str().unwrap()).await.unwrap();
    let browser = Browser::launch(&BrowserOptions::detect().unwrap()).await.unwrap();
    let rendered =
        render_video(&browser, &site, &request("WithAudio", (0, 89), Codec::H264, Container::Output), &whole, |_| {})
            .await;
    browser.close().await;
    rendered.unwrap();
    assert!(pcm(&whole) == ours, "the joined audio equals the single render's");
    eprintln!("2 chunks joined (video copied, audio encoded once) in {:.3} s", stitch_time.as_secs_f64());
}

#[tokio::test]
async fn webm_chunks_join_into_opus() {
    let dir = tempfile::tempdir().unwrap();
    let chunks = render_chunks("AudioMix", &[(0, 44), (45, 89)], Codec::Vp8, dir.path()).await;
    assert_eq!(probe_audio(&chunks[0]).unwrap().0, "pcm_s16le", "lossless PCM in Matroska");
    let joined = dir.path().join("joined.webm");
    let settings = AudioSettings::for_codec(Codec::Vp8, None, None, None, false).unwrap();
    assert_eq!(settings.unwrap().codec, AudioCodec::Opus);
    let written = stitch::concat(&chunks, &joined, Codec::Vp8, settings).unwrap();
    assert_eq!((written.frames, written.audio_samples), (90, 144_000));
    let (codec, rate, channels, _) = probe_audio(&joined).unwrap();
    assert_eq!((codec.as_str(), rate, channels), ("opus", 48_000, 2));
    let ours = pcm(&joined);
    assert!((ours.len() as f64 / RATE - 3.0).abs() < 0.025, "3 s of audio, got {} samples", ours.len());
    let late = window(&ours, 2.2, 2.9);
    assert!(amplitude(late, 440.0) > 1000.0 && amplitude(late, 880.0) > 1000.0, "both tones play at the end");
}

/// Remotion's own render (`npx remotion render`) of a composition of the fixture bundle.
fn remotion_render(composition: &str, out: &Path) {
    let output = Command::new("npx")
        .current_dir(fixture_project())
        .args(["--no-install", "remotion", "render", "build", composition])
        .arg(out)
        .args(["--browser-executable=/usr/bin/chromium", "--log=error"])
        .output()
        .expect("running npx remotion render");
    assert!(
        output.status.success(),
        "npx remotion render failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn the_mix_sounds_like_remotions() {
    let dir = tempfile::tempdir().unwrap();
    let ours_path = dir.path().join("ours.mp4");
    let theirs_path = dir.path().join("remotion.mp4");
    cli_render("AudioMix", &ours_path, &[]);
    remotion_render("AudioMix", &theirs_path);
    let (ours, theirs) = (pcm(&ours_path), pcm(&theirs_path));
    let (ours_duration, theirs_duration) = (probe_audio(&ours_path).unwrap().3, probe_audio(&theirs_path).unwrap().3);
    // Remotion's AAC keeps the encoder's 1024 priming samples (its audio is 21 ms late and
    // that much longer); ours trims them with an edit list.
    assert!((ours_duration - 3.0).abs() < 0.022, "ours: {ours_duration} s");
    assert!((theirs_duration - ours_duration).abs() < 0.06, "Remotion: {theirs_duration} s, ours {ours_duration} s");

    // 100 ms windows: the inline 440 Hz tone (@remotion/media, half volume) throughout; the
    // 880 Hz beep (44.1 kHz mono, resampled) silent before frame 30, fading in over frames
    // 30–59, then steady. Steady stretches match Remotion's level within 2 %.
    let full_880 = amplitude(window(&ours, 2.2, 2.9), 880.0);
    let full_440 = amplitude(window(&ours, 0.1, 0.9), 440.0);
    for k in 1..29 {
        let (from, to) = (f64::from(k) / 10.0, f64::from(k + 1) / 10.0);
        let (a, b) = (window(&ours, from, to), window(&theirs, from, to));
        let (a440, b440) = (amplitude(a, 440.0), amplitude(b, 440.0));
        assert!((a440 / b440 - 1.0).abs() < 0.02, "440 Hz at {from:.1} s: ours {a440:.0}, Remotion {b440:.0}");
        let (a880, b880) = (amplitude(a, 880.0), amplitude(b, 880.0));
        if to <= 1.0 {
            assert!(a880 < 0.01 * full_880 && b880 < 0.01 * full_880, "no beep before frame 30 ({from:.1} s)");
        } else if from >= 2.1 {
            assert!((a880 / b880 - 1.0).abs() < 0.02, "880 Hz at {from:.1} s: ours {a880:.0}, Remotion {b880:.0}");
        } else {
            // The fade: ours follows the per-frame volume exactly (mean of the window's three
            // frames); Remotion applies its volume per audio block, up to ~75 ms late.
            let frames = (from * 30.0).round() as u64..(to * 30.0).round() as u64;
            let ideal =
                frames.clone().map(|f| ((f as f64 - 30.0) / 30.0).clamp(0.0, 1.0)).sum::<f64>() / frames.count() as f64;
            assert!(
                (a880 / full_880 - ideal).abs() < 0.01,
                "fade at {from:.1} s: {:.3} vs {ideal:.3}",
                a880 / full_880
            );
            assert!((b880 / full_880 - ideal).abs() < 0.1, "Remotion's fade at {from:.1} s: {:.3}", b880 / full_880);
        }
    }
    assert!(full_440 > 1000.0 && full_880 > 1000.0);
}

#[tokio::test]
async fn a_launch_joins_the_chunks_audio_from_a_private_site() {
    // The site is private (served to the page from the bucket by the function itself): the
    // tone is fetched through that same access.
    let env = remotion_tests::TestEnv::get();
    let (orchestrator, renderer) = ("test-fn-30", "test-fn-31");
    let (s3, bucket, mut processes) = common::bucket_and_functions("launch-audio", orchestrator, 1).await;
    processes.extend(common::spawn_functions(renderer, 2));
    let id = "audio90";
    let payload = serde_json::json!({
        "type": "launch", "protocolVersion": remotion_protocol::payload::PROTOCOL_VERSION, "renderId": id,
        "bucket": bucket, "site": {"serveUrl": "private", "s3": {"bucket": bucket, "prefix": "sites/fixture/"}},
        "siteNamespace": "tests", "siteName": "fixture", "composition": "WithAudio",
        "inputProps": {"type": "inline", "serialized": "{}"},
        "encoding": {"codec": "h264", "x264Preset": "ultrafast", "audioBitrate": "192k"},
        "chunking": {"framesPerLambda": 25}, "maxRetries": 1, "timeoutMs": 30000,
        "output": {"key": format!("renders/{id}/out.mp4")},
        "renderer": {"functionName": renderer, "region": "us-east-1", "memoryMb": 2048, "diskMb": 2048,
                     "architecture": "x86_64", "timeoutSeconds": 300, "maxConcurrency": 2},
    });
    let answer = remotion_tests::lambda::invoke(&env.lambda().client(), orchestrator, &payload).await.unwrap();
    answer.expect("the launch succeeds");
    let object = s3.get_object().bucket(&bucket).key(format!("renders/{id}/out.mp4")).send().await.unwrap();
    let bytes = object.body.collect().await.unwrap().into_bytes();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.mp4");
    std::fs::write(&out, &bytes).unwrap();

    // 4 chunks (25, 25, 25, 15 frames): joins inside AAC frames, one AAC stream of 3 s.
    assert_eq!(common::probe_video(&out).1, 90);
    let (codec, rate, channels, duration) = probe_audio(&out).expect("an audio stream");
    assert_eq!((codec.as_str(), rate, channels), ("aac", 48_000, 2));
    assert!((duration - 3.0).abs() < 0.022, "3 s of audio, got {duration}");
    let ours = pcm(&out);
    let steepest = largest_step(&source_tone());
    for join in [25.0 / 30.0, 50.0 / 30.0, 75.0 / 30.0] {
        let around = largest_step(window(&ours, join - 0.05, join + 0.05));
        assert!(around < steepest * 1.15, "step {around} at {join:.3} s, the tone's steepest is {steepest}");
    }
    let level = 20.0 * (rms(window(&ours, 0.1, 2.9)) / rms(window(&source_tone(), 0.1, 2.9))).log10();
    assert!(level.abs() < 0.1, "the tone's level is kept: {level:+.3} dB");
    // The requested bitrate, not the default 320k.
    let probe = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "a", "-show_entries", "stream=bit_rate", "-of", "csv=p=0"])
        .arg(&out)
        .output()
        .unwrap();
    let bit_rate: f64 = String::from_utf8_lossy(&probe.stdout).trim().parse().unwrap();
    assert!((150_000.0..230_000.0).contains(&bit_rate), "about 192 kbit/s, got {bit_rate}");

    // The same render with separateAudioTo: a video without audio, and beside it the very
    // AAC frames the first render muxed, as a raw ADTS file.
    let separated = "audio90separate";
    let mut payload = payload.clone();
    payload["renderId"] = separated.into();
    payload["output"] = serde_json::json!({
        "key": format!("renders/{separated}/out.mp4"), "separateAudioKey": format!("renders/{separated}/audio.aac"),
    });
    let answer = remotion_tests::lambda::invoke(&env.lambda().client(), orchestrator, &payload).await.unwrap();
    answer.expect("the launch with separate audio succeeds");
    let doc = s3.get_object().bucket(&bucket).key(format!("renders/{separated}/progress.json")).send().await.unwrap();
    let doc: remotion_protocol::progress::ProgressDocument =
        serde_json::from_slice(&doc.body.collect().await.unwrap().into_bytes()).unwrap();
    let audio = doc.output.expect("an output").separate_audio.expect("the separate audio is recorded");
    assert_eq!((audio.key.as_str(), audio.content_type.as_str()), ("renders/audio90separate/audio.aac", "audio/aac"));
    let video_only = dir.path().join("video-only.mp4");
    let aac = dir.path().join("audio.aac");
    for (key, path) in [(format!("renders/{separated}/out.mp4"), &video_only), (audio.key.clone(), &aac)] {
        let object = s3.get_object().bucket(&bucket).key(key).send().await.unwrap();
        std::fs::write(path, object.body.collect().await.unwrap().into_bytes()).unwrap();
    }
    assert_eq!(std::fs::metadata(&aac).unwrap().len(), audio.size_bytes);
    assert_eq!(common::probe_video(&video_only).1, 90);
    assert!(probe_audio(&video_only).is_none(), "the video keeps no audio track");
    let (codec, rate, channels, _) = probe_audio(&aac).expect("the file is audio");
    assert_eq!((codec.as_str(), rate, channels), ("aac", 48_000, 2));
    let (muxed, alone) = (audio_packet_hashes(&out), audio_packet_hashes(&aac));
    assert!(muxed.len() > 100, "3 s of AAC frames: {}", muxed.len());
    assert_eq!(muxed, alone, "the separate file holds the AAC frames the muxed render has");

    // A file name that does not fit the audio codec is refused before anything is rendered.
    payload["renderId"] = "audio90misnamed".into();
    payload["output"] = serde_json::json!({
        "key": "renders/audio90misnamed/out.mp4", "separateAudioKey": "renders/audio90misnamed/audio.mp3",
    });
    let answer = remotion_tests::lambda::invoke(&env.lambda().client(), orchestrator, &payload).await.unwrap();
    let refusal = answer.expect_err("a .mp3 file of AAC audio is refused").to_string();
    assert!(refusal.contains(".aac"), "{refusal}");

    // sampleRate: the chunks' 48 kHz audio joins as before and is resampled once, so the
    // joins stay as smooth as the tone itself.
    let resampled = "audio90at44100";
    payload["renderId"] = resampled.into();
    payload["encoding"]["sampleRate"] = 44_100.into();
    payload["output"] = serde_json::json!({"key": format!("renders/{resampled}/out.mp4")});
    let answer = remotion_tests::lambda::invoke(&env.lambda().client(), orchestrator, &payload).await.unwrap();
    answer.expect("the launch at 44.1 kHz succeeds");
    let object = s3.get_object().bucket(&bucket).key(format!("renders/{resampled}/out.mp4")).send().await.unwrap();
    let at_44100 = dir.path().join("at-44100.mp4");
    std::fs::write(&at_44100, object.body.collect().await.unwrap().into_bytes()).unwrap();
    let (codec, rate, channels, duration) = probe_audio(&at_44100).expect("an audio stream");
    assert_eq!((codec.as_str(), rate, channels), ("aac", 44_100, 2));
    assert!((duration - 3.0).abs() < 0.024, "3 s of audio, got {duration}");
    let ours = pcm(&at_44100);
    for join in [25.0 / 30.0, 50.0 / 30.0, 75.0 / 30.0] {
        let around = largest_step(window(&ours, join - 0.05, join + 0.05));
        assert!(around < steepest * 1.15, "step {around} at {join:.3} s, the tone's steepest is {steepest}");
    }
    let level = 20.0 * (rms(window(&ours, 0.1, 2.9)) / rms(window(&source_tone(), 0.1, 2.9))).log10();
    assert!(level.abs() < 0.1, "the tone's level is kept at 44.1 kHz: {level:+.3} dB");
    for p in &mut processes {
        p.check_alive("render function").unwrap();
    }
}

/// MD5 of each AAC frame of `path`, in order, copied out without decoding (so a file's
/// container and timestamps do not matter, only the encoded frames).
fn audio_packet_hashes(path: &std::path::Path) -> Vec<String> {
    let output = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(path)
        // ADTS packets keep their 7-byte headers; the filter takes them off (MP4's have none).
        .args(["-map", "0:a", "-c", "copy", "-bsf:a", "aac_adtstoasc", "-f", "framemd5", "-"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter(|line| !line.starts_with('#'))
        // stream, dts, pts, duration, size, hash of the data[, side data and its hash]
        .filter_map(|line| line.split(',').nth(5).map(|hash| hash.trim().to_owned()))
        .collect()
}
