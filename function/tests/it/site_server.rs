//! The site server (`capture::site::SiteServer`) over a local folder and over a bucket prefix
//! of the test store: byte ranges (206, 416), `HEAD`, `ETag` with `If-None-Match` (304), the
//! same answers from both sources. Then in the function, in Lambda's sandbox: the fixture's
//! `SeekMedia` shows a `<Video>` and plays an `<Audio>` from deep inside files made at test
//! time, the page reading the large video in ranges without the function's memory growing by
//! its size; and a source larger than `/tmp`, announced or not, fails the render with what to
//! change, leaving `/tmp` as it was.

use std::process::Command;
use std::time::{Duration, Instant};

use remotion_function::capture::browser::{Browser, BrowserOptions};
use remotion_function::capture::compositions::resolve_composition;
use remotion_function::capture::site::{Site, SiteServer};
use remotion_protocol::payload::{PROTOCOL_VERSION, RenderResponse};
use remotion_tests::TestEnv;
use remotion_tests::process::Spawned;
use remotion_tests::recording_proxy::RecordingProxy;
use remotion_tests::sandbox::FunctionSize;
use serde_json::json;

use crate::common::{bundle, signal, upload_dir};

/// A megabyte (and a bit, so that no range lands on a round number by chance) of bytes that
/// differ from their neighbours: a wrong offset shows in the body.
fn media_bytes() -> Vec<u8> {
    (0..(1u32 << 20) + 4099).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect()
}

/// A folder holding `index.html` and `public/media.bin`.
fn site_folder(media: &[u8]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("index.html"), "<html></html>").unwrap();
    std::fs::create_dir(dir.path().join("public")).unwrap();
    std::fs::write(dir.path().join("public/media.bin"), media).unwrap();
    dir
}

/// One exchange with the server.
struct Exchange {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Vec<u8>,
}

impl Exchange {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

async fn exchange(method: reqwest::Method, url: &str, headers: &[(&str, &str)]) -> Exchange {
    let mut request = reqwest::Client::new().request(method, url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap();
    let (status, headers) = (response.status().as_u16(), response.headers().clone());
    Exchange { status, headers, body: response.bytes().await.unwrap().to_vec() }
}

async fn get(url: &str, headers: &[(&str, &str)]) -> Exchange {
    exchange(reqwest::Method::GET, url, headers).await
}

/// The status of a `GET` of `path` sent as it is (HTTP clients resolve `..` before sending).
async fn raw_status(server: &SiteServer, path: &str) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let address = server.base_url.trim_start_matches("http://").trim_end_matches('/');
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    answer.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("{answer:?}"))
}

/// Everything a page's media element and the renderer's downloads rely on, asked of `server`.
async fn answers_as_a_media_server(server: &SiteServer, media: &[u8], what: &str) {
    let url = format!("{}public/media.bin", server.base_url);
    let size = media.len();

    let whole = get(&url, &[]).await;
    assert_eq!(whole.status, 200, "{what}: GET");
    assert_eq!(whole.body, media, "{what}: GET body");
    assert_eq!(whole.header("content-length"), Some(size.to_string().as_str()), "{what}");
    assert_eq!(whole.header("accept-ranges"), Some("bytes"), "{what}");
    assert_eq!(whole.header("cache-control"), Some("no-store"), "{what}");
    assert_eq!(whole.header("content-type"), Some("application/octet-stream"), "{what}");
    assert!(whole.header("last-modified").is_some_and(|d| d.ends_with(" GMT")), "{what}: {:?}", whole.headers);
    let etag = whole.header("etag").unwrap_or_else(|| panic!("{what}: no ETag")).to_owned();

    // The first bytes, a stretch in the middle, the last bytes, and from an offset to the end.
    let middle = size / 2 + 17;
    for (range, first, last) in [
        ("bytes=0-99".to_owned(), 0, 99),
        (format!("bytes={middle}-{}", middle + 65_535), middle, middle + 65_535),
        ("bytes=-1000".to_owned(), size - 1000, size - 1),
        (format!("bytes={}-", size - 5), size - 5, size - 1),
        (format!("bytes={}-{}", size - 10, size + 10_000), size - 10, size - 1),
    ] {
        let part = get(&url, &[("range", &range)]).await;
        assert_eq!(part.status, 206, "{what}: {range}");
        assert_eq!(part.header("content-range"), Some(format!("bytes {first}-{last}/{size}").as_str()), "{what}");
        assert_eq!(part.header("content-length"), Some((last - first + 1).to_string().as_str()), "{what}");
        assert_eq!(part.header("etag"), Some(etag.as_str()), "{what}: {range}");
        assert!(part.body == media[first..=last], "{what}: {range}: other bytes than the file's {first}..={last}");
    }

    let past_the_end = get(&url, &[("range", &format!("bytes={size}-"))]).await;
    assert_eq!(past_the_end.status, 416, "{what}: a range past the end");
    assert_eq!(past_the_end.header("content-range"), Some(format!("bytes */{size}").as_str()), "{what}");

    // Several ranges at once are answered whole (allowed, and simpler than multipart).
    let several = get(&url, &[("range", "bytes=0-9, 20-29")]).await;
    assert_eq!((several.status, several.body.len()), (200, size), "{what}: several ranges");

    let head = exchange(reqwest::Method::HEAD, &url, &[]).await;
    assert_eq!(head.status, 200, "{what}: HEAD");
    assert!(head.body.is_empty(), "{what}: HEAD sent a body");
    assert_eq!(head.header("content-length"), Some(size.to_string().as_str()), "{what}: HEAD");
    assert_eq!(head.header("etag"), Some(etag.as_str()), "{what}: HEAD");
    let head_range = exchange(reqwest::Method::HEAD, &url, &[("range", "bytes=-100")]).await;
    assert_eq!(head_range.status, 206, "{what}: HEAD of a range");
    assert_eq!(head_range.header("content-range"), Some(format!("bytes {}-{}/{size}", size - 100, size - 1).as_str()));
    assert!(head_range.body.is_empty(), "{what}: HEAD of a range sent a body");

    for request in [reqwest::Method::GET, reqwest::Method::HEAD] {
        let held = exchange(request.clone(), &url, &[("if-none-match", &etag)]).await;
        assert_eq!(held.status, 304, "{what}: {request} with the current ETag");
        assert!(held.body.is_empty(), "{what}: a 304 with a body");
        assert_eq!(held.header("etag"), Some(etag.as_str()), "{what}: 304");
        assert_eq!(held.header("cache-control"), Some("no-store"), "{what}: 304");
    }
    let stale = get(&url, &[("if-none-match", "\"another-version\""), ("range", "bytes=0-0")]).await;
    assert_eq!((stale.status, stale.body.as_slice()), (206, &media[..1]), "{what}: a stale ETag");

    let missing = get(&format!("{}public/missing.bin", server.base_url), &[]).await;
    assert_eq!(missing.status, 404, "{what}: a missing file");
    let above = raw_status(server, "/public/%2e%2e/%2e%2e/etc/passwd").await;
    assert_eq!(above, 400, "{what}: a path above the root");
    let post = exchange(reqwest::Method::POST, &url, &[]).await;
    assert_eq!(post.status, 405, "{what}: POST");
    let index = get(&server.base_url, &[]).await;
    assert_eq!((index.status, index.body.as_slice()), (200, b"<html></html>".as_slice()), "{what}: the index");
}

#[tokio::test]
async fn a_folder_is_served_with_ranges_head_and_etags() {
    let media = media_bytes();
    let folder = site_folder(&media);
    let server = SiteServer::serve_dir(folder.path()).await.unwrap();
    answers_as_a_media_server(&server, &media, "folder").await;

    // A file rewritten in place is another version: the page's tag no longer matches.
    let url = format!("{}public/media.bin", server.base_url);
    let before = get(&url, &[("range", "bytes=0-0")]).await.header("etag").unwrap().to_owned();
    std::thread::sleep(std::time::Duration::from_millis(20));
    std::fs::write(folder.path().join("public/media.bin"), &media[..1000]).unwrap();
    let after = get(&url, &[("if-none-match", &before)]).await;
    assert_eq!((after.status, after.body.len()), (200, 1000));
}

#[tokio::test]
async fn a_bucket_prefix_is_served_with_ranges_head_and_etags() {
    let media = media_bytes();
    let folder = site_folder(&media);
    let env = TestEnv::get();
    let s3 = env.s3().client().await;
    let bucket = env.s3().create_test_bucket("site-server").await.unwrap();
    upload_dir(&s3, &bucket, folder.path(), "sites/ranges/").await;
    let server = SiteServer::serve_s3(s3.clone(), &bucket, "sites/ranges/").await.unwrap();
    answers_as_a_media_server(&server, &media, "bucket").await;

    // The bucket gone: not a missing file but the store failing, said so (502).
    for key in ["sites/ranges/index.html", "sites/ranges/public/media.bin"] {
        s3.delete_object().bucket(&bucket).key(key).send().await.unwrap();
    }
    s3.delete_bucket().bucket(&bucket).send().await.unwrap();
    let gone = get(&format!("{}public/media.bin", server.base_url), &[]).await;
    let message = String::from_utf8_lossy(&gone.body);
    assert_eq!(gone.status, 502, "{message}");
    assert!(message.contains(&format!("s3://{bucket}/sites/ranges/public/media.bin")), "{message}");
    assert!(message.contains("NoSuchBucket"), "{message}");
}

/// Media made at test time for the `SeekMedia` composition, once per test binary (in its run
/// folder, removed when it exits): `large.mp4` and `small.mp4`, the same video but for length
/// (640x360, 30 fps, a keyframe a second; frame n shows n in sixteen 40 px blocks along the
/// bottom, white = 1, most significant first, above noise that keeps it large), and
/// `sweep.wav`, a tone whose frequency steps every second ([`sweep_hz`]).
mod media {
    use std::io::Write;
    use std::path::{Path, PathBuf};
    use std::process::{Command, Stdio};
    use std::sync::OnceLock;

    pub const WIDTH: usize = 640;
    pub const HEIGHT: usize = 360;
    /// Rows of noise above the blocks.
    const NOISE_ROWS: usize = 300;
    /// Frames of `large.mp4` (30 s; at this noise, about 340 MB).
    pub const LARGE_FRAMES: u32 = 900;
    /// Frames of `small.mp4` (3 s).
    pub const SMALL_FRAMES: u32 = 90;
    /// Seconds of `sweep.wav`.
    const SWEEP_SECONDS: u32 = 60;

    /// The tone of second `s` of `sweep.wav`.
    pub fn sweep_hz(s: u32) -> f64 {
        300.0 + 25.0 * f64::from(s)
    }

    /// The folder holding the three files, made on first use.
    pub fn folder() -> &'static Path {
        static FOLDER: OnceLock<PathBuf> = OnceLock::new();
        FOLDER.get_or_init(|| {
            let folder = remotion_tests::TestEnv::get().run_dir().join("site-server-media");
            std::fs::create_dir_all(&folder).unwrap();
            let started = std::time::Instant::now();
            video(&folder.join("large.mp4"), LARGE_FRAMES);
            video(&folder.join("small.mp4"), SMALL_FRAMES);
            sweep(&folder.join("sweep.wav"));
            let size = std::fs::metadata(folder.join("large.mp4")).unwrap().len();
            eprintln!("made large.mp4 ({} MB) and the others in {:?}", size >> 20, started.elapsed());
            folder
        })
    }

    /// The clip frame a decoded RGBA picture shows (its blocks).
    pub fn shown(rgba: &[u8]) -> u32 {
        let row = (NOISE_ROWS + (HEIGHT - NOISE_ROWS) / 2) * WIDTH * 4;
        (0..16).fold(0, |n, bit| (n << 1) | u32::from(rgba[row + (bit * 40 + 20) * 4] > 128))
    }

    /// Noise that does not repeat within x264's reach: 31 pictures, one xorshift stream.
    fn noise_pool() -> Vec<Vec<u8>> {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let noise_bytes = WIDTH * NOISE_ROWS * 3 / 2;
        (0..31)
            .map(|_| {
                (0..noise_bytes / 8)
                    .flat_map(|_| {
                        state ^= state << 13;
                        state ^= state >> 7;
                        state ^= state << 17;
                        state.to_le_bytes()
                    })
                    .collect()
            })
            .collect()
    }

    fn video(path: &Path, frames: u32) {
        let mut ffmpeg = Command::new("ffmpeg")
            .args(["-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "yuv420p", "-s", "640x360", "-r", "30"])
            .args(["-i", "-", "-c:v", "libx264", "-preset", "ultrafast", "-qp", "10", "-g", "30"])
            .args(["-pix_fmt", "yuv420p", "-movflags", "+faststart"])
            .arg(path)
            .stdin(Stdio::piped())
            .spawn()
            .expect("running ffmpeg");
        let pool = noise_pool();
        let mut stdin = ffmpeg.stdin.take().unwrap();
        let (luma_noise, chroma_noise) = (WIDTH * NOISE_ROWS, WIDTH / 2 * NOISE_ROWS / 2);
        let chroma_blocks = vec![128u8; WIDTH / 2 * (HEIGHT - NOISE_ROWS) / 2];
        for n in 0..frames {
            let noise = &pool[n as usize % pool.len()];
            let row: Vec<u8> =
                (0..16).flat_map(|bit| [if (n >> (15 - bit)) & 1 == 1 { 235u8 } else { 16 }; 40]).collect();
            stdin.write_all(&noise[..luma_noise]).unwrap();
            for _ in NOISE_ROWS..HEIGHT {
                stdin.write_all(&row).unwrap();
            }
            for plane in 0..2 {
                let start = luma_noise + plane * chroma_noise;
                stdin.write_all(&noise[start..start + chroma_noise]).unwrap();
                stdin.write_all(&chroma_blocks).unwrap();
            }
        }
        drop(stdin);
        assert!(ffmpeg.wait().unwrap().success(), "ffmpeg made {}", path.display());
    }

    fn sweep(path: &Path) {
        let tone = format!("aevalsrc=0.5*sin(2*PI*(300+25*floor(t))*t):s=48000:d={SWEEP_SECONDS}");
        let status = Command::new("ffmpeg")
            .args(["-v", "error", "-y", "-f", "lavfi", "-i", &tone, "-c:a", "pcm_s16le"])
            .arg(path)
            .status()
            .expect("running ffmpeg");
        assert!(status.success(), "ffmpeg made {}", path.display());
    }
}

/// A bucket holding the fixture bundle under `sites/fixture/` with the test's media in its
/// `public/` folder.
async fn site_with_media(prefix: &str) -> (aws_sdk_s3::Client, String) {
    let env = TestEnv::get();
    let s3 = env.s3().client().await;
    let bucket = env.s3().create_test_bucket(prefix).await.unwrap();
    upload_dir(&s3, &bucket, &bundle("build"), "sites/fixture/").await;
    upload_dir(&s3, &bucket, media::folder(), "sites/fixture/public/").await;
    (s3, bucket)
}

/// `SeekMedia` props: `video` from its frame `video_from`, `audio` from composition frame
/// `audio_from`.
fn seek_props(video: &str, video_from: u32, audio: &str, audio_from: u32) -> String {
    json!({"video": video, "videoFrom": video_from, "audio": audio, "audioFrom": audio_from}).to_string()
}

/// The `render` payload of frames 0–14 of `SeekMedia` with `props`, from the bucket's site.
async fn seek_chunk(bucket: &str, id: &str, props: &str) -> serde_json::Value {
    let site = Site::open(bundle("build").to_str().unwrap()).await.unwrap();
    let browser = Browser::launch(&BrowserOptions::detect().unwrap()).await.unwrap();
    let resolved = resolve_composition(&browser, &site, "SeekMedia", props, Duration::from_secs(30)).await;
    browser.close().await;
    let resolved = resolved.unwrap();
    json!({
        "type": "render", "protocolVersion": PROTOCOL_VERSION, "renderId": id, "bucket": bucket,
        "site": {"serveUrl": "private", "s3": {"bucket": bucket, "prefix": "sites/fixture/"}},
        "composition": resolved.metadata(),
        "inputProps": {"type": "inline", "serialized": props},
        "resolvedProps": {"type": "inline", "serialized": resolved.serialized_resolved_props_with_custom_schema},
        "encoding": {"codec": "h264", "x264Preset": "ultrafast"},
        "chunk": 0, "frames": {"start": 0, "end": 14}, "attempt": 1, "timeoutMs": 60000,
        "chunkKey": format!("renders/{id}/chunks/000000.ts"),
        "timingsKey": format!("renders/{id}/timings/000000.json"),
    })
}

/// One function process in Lambda's sandbox (`memory_mb`, `/tmp` of `disk_mb`), reading the
/// bucket through `s3_endpoint`.
fn sandboxed_function(name: &str, memory_mb: u32, disk_mb: u32, s3_endpoint: &str) -> Spawned {
    assert!(remotion_tests::sandbox::enabled(), "this test measures the function in the sandbox");
    let env = TestEnv::get();
    let binary = std::path::Path::new(env!("CARGO_BIN_EXE_remotion-function"));
    let vars = [
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testingsecret"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ENDPOINT_URL_S3", s3_endpoint),
        ("RUST_LOG", "info,chromiumoxide=error,remotion_function::capture::site=debug"),
    ];
    let size = FunctionSize { memory_mb, disk_mb, limit_cpu: false };
    env.spawn_sized_function(binary, name, &size, &vars).unwrap()
}

/// Every video frame of a chunk as RGBA pictures, and its audio as 48 kHz mono samples.
fn decode(chunk: &std::path::Path) -> (Vec<Vec<u8>>, Vec<f64>) {
    let run = |args: &[&str]| {
        let out = Command::new("ffmpeg").args(["-v", "error", "-i"]).arg(chunk).args(args).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        out.stdout
    };
    let pictures = run(&["-f", "rawvideo", "-pix_fmt", "rgba", "-"]);
    let samples = run(&["-vn", "-ac", "1", "-ar", "48000", "-f", "f64le", "-"]);
    (
        pictures.chunks_exact(media::WIDTH * media::HEIGHT * 4).map(<[u8]>::to_vec).collect(),
        samples.chunks_exact(8).map(|b| f64::from_le_bytes(b.try_into().unwrap())).collect(),
    )
}

/// What one chunk of `SeekMedia` came to in a function process of its own.
struct SeekRender {
    pictures: Vec<Vec<u8>>,
    samples: Vec<f64>,
    peak_bytes: u64,
    took: Duration,
}

async fn render_seek(function: &str, memory_mb: u32, s3_endpoint: &str, payload: &serde_json::Value) -> SeekRender {
    let env = TestEnv::get();
    let s3 = env.s3().client().await;
    let mut process = sandboxed_function(function, memory_mb, 2048, s3_endpoint);
    let started = Instant::now();
    let lambda = env.lambda().client();
    let invoked = remotion_tests::lambda::invoke(&lambda, function, payload);
    // A function killed for memory never answers: say so instead of waiting for ever.
    let answer = tokio::time::timeout(Duration::from_secs(240), invoked).await.unwrap_or_else(|_| {
        let killed = process.confinement.as_ref().map(|c| c.oom_killed().unwrap_or(false));
        panic!("{function} did not answer in 240 s (killed for memory: {killed:?})")
    });
    let answer = answer.unwrap();
    let took = started.elapsed();
    let log = std::fs::read_to_string(&process.log).unwrap_or_default();
    let answer: RenderResponse =
        serde_json::from_value(answer.unwrap_or_else(|e| panic!("{function}: {e}\n{log}"))).unwrap();
    assert_eq!(answer.frames, 15);
    process.check_alive(function).unwrap();
    let confinement = process.confinement.as_ref().unwrap();
    assert!(!confinement.oom_killed().unwrap(), "{function} was killed for memory");
    let peak_bytes = confinement.peak_memory_bytes().unwrap();
    let object = s3.get_object().bucket(payload["bucket"].as_str().unwrap()).key(&answer.key).send().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let chunk = dir.path().join("chunk.ts");
    std::fs::write(&chunk, object.body.collect().await.unwrap().into_bytes()).unwrap();
    let (pictures, samples) = decode(&chunk);
    SeekRender { pictures, samples, peak_bytes, took }
}

/// The frequency of the sweep's steps that is loudest in `samples`, among seconds 0–59.
fn loudest_step(samples: &[f64]) -> u32 {
    (0..60)
        .max_by(|a, b| {
            signal::amplitude(samples, media::sweep_hz(*a)).total_cmp(&signal::amplitude(samples, media::sweep_hz(*b)))
        })
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_video_and_a_sound_are_seeked_deep_in_large_files_through_ranges() {
    let (_, bucket) = site_with_media("seek-media").await;
    let large_bytes = std::fs::metadata(media::folder().join("large.mp4")).unwrap().len();
    let proxy = RecordingProxy::s3(&TestEnv::get().s3().endpoint).await.unwrap();

    // The same render of the small video first: the memory a render of this composition takes
    // whatever its file, to compare with.
    let small = seek_chunk(&bucket, "seeksmall", &seek_props("small.mp4", 60, "sweep.wav", 5 * 30)).await;
    let small = render_seek("test-fn-03", 2048, &proxy.endpoint, &small).await;
    // 25 s into the video (the last 5 s of 340 MB), 41.5 s into the sound.
    let (video_from, audio_from) = (750, 41 * 30 + 15);
    let large = seek_chunk(&bucket, "seeklarge", &seek_props("large.mp4", video_from, "sweep.wav", audio_from)).await;
    // In a function too small to hold the file beside what the render takes anyway: reading
    // it whole would end in the kernel killing the function for memory.
    let large_memory_mb = 384;
    assert!(u64::from(large_memory_mb) << 20 < large_bytes + small.peak_bytes);
    let mark = proxy.len();
    let large_render = render_seek("test-fn-04", large_memory_mb, &proxy.endpoint, &large).await;

    for (what, render, from, second) in [("small", &small, 60, 5), ("large", &large_render, video_from, 41)] {
        assert_eq!(render.pictures.len(), 15, "{what}");
        // The HTML5 <Video> is seeked by time, and Chromium may show the frame before the one
        // starting exactly at that time, more often on a loaded machine (which is why Remotion
        // has <OffthreadVideo>): each frame is the one asked for or its predecessor, in order.
        // A wrong offset in the file would be hundreds of frames off. On a loaded machine the
        // first frame of a page has also been seen showing the file's first frame (the element
        // not yet seeked when captured: CI, load about 2); that frame is only required to come
        // before the others, the other 14 are held to the rule.
        let shown: Vec<u32> = render.pictures.iter().map(|p| media::shown(p)).collect();
        let asked: Vec<u32> = (from..from + 15).collect();
        eprintln!("{what}: frames shown {shown:?} for {asked:?}");
        assert!(
            shown.iter().zip(&asked).skip(1).all(|(s, a)| *s == *a || *s + 1 == *a) && shown.is_sorted(),
            "{what}: frames shown {shown:?} for {asked:?}"
        );
        // 0.5 s of sound, all of it from second `second` of the sweep.
        let heard = signal::window(&render.samples, 0.05, 0.45);
        assert_eq!(loudest_step(heard), second, "{what}: the sound is not from {second} s");
        let (at, beside) =
            (signal::amplitude(heard, media::sweep_hz(second)), signal::amplitude(heard, media::sweep_hz(second + 1)));
        assert!(at > 0.2 && beside < at / 10.0, "{what}: {at} at the step's tone, {beside} beside it");
    }

    // The page read the large video in ranges, through the server, never whole.
    let video_gets: Vec<_> = proxy
        .since(mark)
        .into_iter()
        .filter(|r| r.operation == "GetObject" && r.key.as_deref() == Some("sites/fixture/public/large.mp4"))
        .collect();
    let partial = video_gets.iter().filter(|r| r.status == Some(206)).count();
    assert!(partial >= 2, "206 answers for large.mp4: {video_gets:?}");
    // A read the browser gave up on (it seeked elsewhere) can be cut off before the store
    // answered it, and has no status: every read that was answered was a range.
    let answered = video_gets.iter().filter(|r| r.status.is_some()).count();
    assert_eq!(partial, answered, "every read of large.mp4 was a range: {video_gets:?}");

    let growth = large_render.peak_bytes.saturating_sub(small.peak_bytes);
    eprintln!(
        "SeekMedia, 15 frames: small.mp4 peak {} MiB in {:?}; large.mp4 ({} MiB) peak {} MiB in {:?}, \
         {partial} ranged reads of it, in {large_memory_mb} MB; growth {} MiB",
        small.peak_bytes >> 20,
        small.took,
        large_bytes >> 20,
        large_render.peak_bytes >> 20,
        large_render.took,
        growth >> 20
    );
    assert!(growth < large_bytes / 4, "memory grew by {} MiB for a {} MiB file", growth >> 20, large_bytes >> 20);
}

/// The URL of a sound that never ends and never says its length: a chunked answer of zeros,
/// up to 1 GiB, from a server of the test's on 127.0.0.1 (which the sandbox shares).
async fn endless_source() -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut head = [0u8; 4096];
                let _ = stream.read(&mut head).await;
                let start = "HTTP/1.1 200 OK\r\ncontent-type: audio/wav\r\ntransfer-encoding: chunked\r\n\r\n";
                if stream.write_all(start.as_bytes()).await.is_err() {
                    return;
                }
                let chunk = [format!("{:x}\r\n", 1 << 20).into_bytes(), vec![0u8; 1 << 20], b"\r\n".to_vec()].concat();
                for _ in 0..1024 {
                    if stream.write_all(&chunk).await.is_err() {
                        return;
                    }
                }
                let _ = stream.write_all(b"0\r\n\r\n").await;
            });
        }
    });
    format!("http://127.0.0.1:{port}/endless.wav")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_source_larger_than_tmp_fails_the_render_saying_so() {
    let (_, bucket) = site_with_media("no-room").await;
    let large_bytes = std::fs::metadata(media::folder().join("large.mp4")).unwrap().len();
    let env = TestEnv::get();
    // /tmp of 256 MB: room for Chromium and the chunk, not for the large video as a sound.
    let function = "test-fn-05";
    let mut process = sandboxed_function(function, 2048, 256, &env.s3().endpoint);
    let payload = seek_chunk(&bucket, "noroom", &seek_props("small.mp4", 0, "large.mp4", 0)).await;
    let started = Instant::now();
    let answer = remotion_tests::lambda::invoke(&env.lambda().client(), function, &payload).await.unwrap();
    let took = started.elapsed();
    let error = answer.expect_err("a source larger than /tmp fails the render");
    let message = error["errorMessage"].as_str().unwrap_or_default();
    eprintln!("{message} ({took:?})");
    assert_eq!(error["errorType"], "InvalidPayload", "not retried: {error}");
    for part in ["large.mp4", &format!("({large_bytes} bytes)"), "/tmp has only", "diskSizeMb"] {
        assert!(message.contains(part), "{part:?} is missing from: {message}");
    }
    process.check_alive(function).unwrap();

    // A source that does not say its length: cut off when it outgrows the room.
    let endless = endless_source().await;
    let payload = seek_chunk(&bucket, "growing", &seek_props("small.mp4", 0, &endless, 0)).await;
    let answer = remotion_tests::lambda::invoke(&env.lambda().client(), function, &payload).await.unwrap();
    let error = answer.expect_err("a source outgrowing /tmp fails the render");
    let message = error["errorMessage"].as_str().unwrap_or_default();
    eprintln!("{message}");
    assert_eq!(error["errorType"], "InvalidPayload", "not retried: {error}");
    for part in [endless.as_str(), "it is at least", "/tmp has only", "diskSizeMb"] {
        assert!(message.contains(part), "{part:?} is missing from: {message}");
    }

    // Nothing was left in /tmp (the partial download, nearly all of it, is removed at once, and
    // the render's media folder with its site): the same function renders the small sources.
    let payload = seek_chunk(&bucket, "roomleft", &seek_props("small.mp4", 0, "sweep.wav", 0)).await;
    let answer = remotion_tests::lambda::invoke(&env.lambda().client(), function, &payload).await.unwrap();
    answer.unwrap_or_else(|e| panic!("the next render failed: {e}"));
}
