//! Chunk invocations of one render in one function process: the second finds the page the
//! first left loaded (same site, composition, props and page options) and goes straight to
//! its frames, which must be exactly the frames a fresh process renders; anything different
//! gets a fresh page.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use remotion_function::capture::browser::{Browser, BrowserOptions};
use remotion_function::capture::compositions::resolve_composition;
use remotion_function::capture::page::ResolvedComposition;
use remotion_function::capture::site::Site;
use remotion_function::capture::warm_page::WarmPage;
use remotion_function::render::{VideoRequest, chunk_video, render_frames, render_frames_keeping};
use remotion_protocol::payload::{PROTOCOL_VERSION, RenderRequest, RenderResponse, SiteLocation};
use remotion_tests::TestEnv;
use serde_json::{Value, json};

use crate::common::{self, bucket_and_functions, bundle};

const PROPS: &str = r##"{"titleText":"Kept warm","titleColor":"#33ccff"}"##;
const OTHER_PROPS: &str = r##"{"titleText":"Other props","titleColor":"#ff3366"}"##;

/// The composition as the orchestrator resolves it, once per render.
async fn resolve(composition: &str, props: &str) -> ResolvedComposition {
    let site = Site::open(bundle("build").to_str().unwrap()).await.unwrap();
    let browser = Browser::launch(&BrowserOptions::detect().unwrap()).await.unwrap();
    let resolved = resolve_composition(&browser, &site, composition, props, Duration::from_secs(30)).await.unwrap();
    browser.close().await;
    resolved
}

struct Chunk<'a> {
    render_id: &'a str,
    composition: &'a ResolvedComposition,
    props: &'a str,
    index: u32,
    frames: (u64, u64),
    /// Distinguishes the objects of renders of the same chunk by different processes.
    tag: &'a str,
}

impl Chunk<'_> {
    fn payload(&self, bucket: &str) -> Value {
        let (id, index, tag) = (self.render_id, self.index, self.tag);
        json!({
            "type": "render", "protocolVersion": PROTOCOL_VERSION, "renderId": id, "bucket": bucket,
            "site": {"serveUrl": "private", "s3": {"bucket": bucket, "prefix": "sites/fixture/"}},
            "composition": self.composition.metadata(),
            "inputProps": {"type": "inline", "serialized": self.props},
            "resolvedProps": {"type": "inline",
                              "serialized": self.composition.serialized_resolved_props_with_custom_schema},
            "encoding": {"codec": "h264", "x264Preset": "veryfast"},
            "chunk": index, "frames": {"start": self.frames.0, "end": self.frames.1}, "attempt": 1,
            "timeoutMs": 30000,
            "chunkKey": format!("renders/{id}/chunks/{tag}-{index:06}.ts"),
            "timingsKey": format!("renders/{id}/timings/{tag}-{index:06}.json"),
        })
    }
}

/// Invokes one chunk render; the answer and the wall time the caller saw.
async fn render(
    lambda: &aws_sdk_lambda::Client,
    function: &str,
    bucket: &str,
    chunk: &Chunk<'_>,
) -> (RenderResponse, Duration) {
    let t = Instant::now();
    let answer = remotion_tests::lambda::invoke(lambda, function, &chunk.payload(bucket)).await.unwrap();
    let wall = t.elapsed();
    let response: RenderResponse = serde_json::from_value(answer.expect("the chunk renders")).unwrap();
    assert_eq!(response.frames, chunk.frames.1 - chunk.frames.0 + 1);
    (response, wall)
}

/// MD5 of every decoded frame of a chunk object.
async fn frame_md5s(s3: &aws_sdk_s3::Client, bucket: &str, key: &str, dir: &Path) -> Vec<String> {
    let object = s3.get_object().bucket(bucket).key(key).send().await.expect("the chunk exists");
    let path = dir.join(key.replace('/', "_"));
    std::fs::write(&path, object.body.collect().await.unwrap().into_bytes()).unwrap();
    file_frame_md5s(&path)
}

/// MD5 of every decoded frame of a video file (`ffmpeg -f framemd5`): equal lists mean the
/// encoder received byte-identical pictures.
fn file_frame_md5s(path: &Path) -> Vec<String> {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(path)
        .args(["-map", "0:v", "-f", "framemd5", "-"])
        .output()
        .expect("running ffmpeg");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| l.rsplit(',').next().unwrap_or_default().trim().to_owned())
        .collect()
}

/// The fixed cost of a chunk invocation: everything but its frames.
fn fixed_ms(r: &RenderResponse) -> u64 {
    r.duration_ms.saturating_sub(r.phases.frames_ms)
}

#[tokio::test]
async fn the_next_chunk_of_a_render_reuses_the_loaded_page_and_renders_the_same_frames() {
    let env = TestEnv::get();
    let (warm, fresh) = ("test-fn-52", "test-fn-53");
    let (s3, bucket, mut processes) = bucket_and_functions("warm-page", warm, 1).await;
    processes.extend(common::spawn_functions(fresh, 1));
    let lambda = env.lambda().client();
    let intro = resolve("Intro", PROPS).await;
    let dir = tempfile::tempdir().unwrap();
    let chunk = |index: u32, frames: (u64, u64), props: &'static str, composition, tag| Chunk {
        render_id: "warm1",
        composition,
        props,
        index,
        frames,
        tag,
    };

    let (first, _) = render(&lambda, warm, &bucket, &chunk(0, (0, 4), PROPS, &intro, "warm")).await;
    assert!(!first.phases.page_reused, "the process's first chunk loads the page");
    // A later chunk, frames far from the first chunk's: the kept page seeks there.
    let later = chunk(1, (150, 154), PROPS, &intro, "warm");
    let (second, _) = render(&lambda, warm, &bucket, &later).await;
    assert!(second.phases.page_reused, "the second chunk of the render reuses the page: {:?}", second.phases);
    assert!(
        second.phases.page_ms * 2 < first.phases.page_ms,
        "a reused page is ready far sooner than a loaded one: {:?} vs {:?}",
        second.phases,
        first.phases
    );
    // The same frames from a process that never rendered anything else.
    let (alone, _) = render(&lambda, fresh, &bucket, &chunk(1, (150, 154), PROPS, &intro, "fresh")).await;
    assert!(!alone.phases.page_reused);
    let reused_frames = frame_md5s(&s3, &bucket, &second.key, dir.path()).await;
    let fresh_frames = frame_md5s(&s3, &bucket, &alone.key, dir.path()).await;
    assert_eq!(reused_frames.len(), 5);
    assert_eq!(reused_frames, fresh_frames, "a reused page renders exactly what a fresh page does");

    // Other props (a different digest): a fresh page, and the frames show the other props.
    let other = resolve("Intro", OTHER_PROPS).await;
    let (different, _) = render(&lambda, warm, &bucket, &chunk(1, (150, 154), OTHER_PROPS, &other, "other")).await;
    assert!(!different.phases.page_reused, "other props must not reuse the page: {:?}", different.phases);
    let other_frames = frame_md5s(&s3, &bucket, &different.key, dir.path()).await;
    assert_ne!(other_frames, fresh_frames, "the other props were rendered");

    // A one-frame chunk run twice: the second run would ask the page for the frame it shows,
    // which re-renders nothing (so per-frame registrations like audio assets would be
    // missing); it gets a fresh page, and the same picture.
    let (once, _) = render(&lambda, warm, &bucket, &chunk(2, (160, 160), OTHER_PROPS, &other, "once")).await;
    assert!(once.phases.page_reused, "{:?}", once.phases);
    let (again, _) = render(&lambda, warm, &bucket, &chunk(2, (160, 160), OTHER_PROPS, &other, "again")).await;
    assert!(!again.phases.page_reused, "the page already at frame 160 is not reused for frame 160");
    assert_eq!(
        frame_md5s(&s3, &bucket, &once.key, dir.path()).await,
        frame_md5s(&s3, &bucket, &again.key, dir.path()).await
    );
    for p in &mut processes {
        p.check_alive("render function").unwrap();
    }
}

#[tokio::test]
async fn consecutive_single_chunk_invocations_pay_the_page_only_once() {
    let env = TestEnv::get();
    let function = "test-fn-54";
    let (_s3, bucket, mut processes) = bucket_and_functions("warm-timing", function, 1).await;
    let lambda = env.lambda().client();
    let tiny = resolve("Tiny", PROPS).await;
    let mut answers = Vec::new();
    for index in 0..8u32 {
        let frames = (u64::from(index) * 2, u64::from(index) * 2 + 1);
        let chunk = Chunk { render_id: "timing1", composition: &tiny, props: PROPS, index, frames, tag: "t" };
        answers.push(render(&lambda, function, &bucket, &chunk).await);
    }
    for (i, (r, wall)) in answers.iter().enumerate() {
        eprintln!(
            "chunk {i}: wall {} ms, function {} ms, fixed {} ms, first frame {} ms, {:?}",
            wall.as_millis(),
            r.duration_ms,
            fixed_ms(r),
            r.frame_milliseconds.first().copied().unwrap_or_default(),
            r.phases
        );
    }
    let later: Vec<&RenderResponse> = answers[1..].iter().map(|(r, _)| r).collect();
    assert!(!answers[0].0.phases.page_reused);
    assert!(later.iter().all(|r| r.phases.page_reused), "every later chunk reuses the page");
    let mean_fixed = later.iter().map(|r| fixed_ms(r)).sum::<u64>() / later.len() as u64;
    let mean_wall = answers[1..].iter().map(|(_, w)| w.as_millis() as u64).sum::<u64>() / later.len() as u64;
    eprintln!(
        "Tiny, 2-frame chunks: first chunk fixed {} ms; chunks 2–8 fixed {mean_fixed} ms on average (wall {mean_wall} ms)",
        fixed_ms(&answers[0].0)
    );
    assert!(mean_fixed * 2 < fixed_ms(&answers[0].0), "the page is paid for once, by the first chunk");
    processes[0].check_alive("render function").unwrap();
}

/// The video request of a chunk of Tiny, as a renderer makes it from the chunk's payload.
fn tiny_request(tiny: &ResolvedComposition, props: &str, frames: (u64, u64)) -> VideoRequest {
    let chunk = Chunk { render_id: "inproc", composition: tiny, props, index: 0, frames, tag: "local" };
    let request: RenderRequest = serde_json::from_value(chunk.payload("local")).unwrap();
    chunk_video(&request, props.to_owned()).unwrap()
}

/// The hand-over itself, in this process: the page goes on in its own browser context.
#[tokio::test]
async fn a_kept_page_is_handed_over_only_for_its_key_and_to_one_invocation_at_a_time() {
    let _turn = common::warm_browser().await;
    let dir = tempfile::tempdir().unwrap();
    let tiny = resolve("Tiny", PROPS).await;
    let location = SiteLocation { serve_url: bundle("build").to_string_lossy().into_owned(), s3: None };
    let key = tiny_request(&tiny, PROPS, (0, 1)).page_key("inproc", &location, &tiny);
    let other = tiny_request(&tiny, OTHER_PROPS, (0, 1)).page_key("inproc", &location, &tiny);
    let out = |name: &str| dir.path().join(name);
    let mut options = BrowserOptions::detect().unwrap();
    options.in_lambda = true;

    // First chunk: nothing kept, a page is loaded and kept.
    let (mut browser, page) = Browser::warm_with_page(&options, Some(&key)).await.unwrap();
    assert!(page.is_none(), "nothing kept yet");
    let site = Site::open(bundle("build").to_str().unwrap()).await.unwrap();
    let request = tiny_request(&tiny, PROPS, (0, 1));
    let (_, tab) =
        render_frames_keeping(&browser, &site, tiny.clone(), &request, &out("a.ts"), |_| {}, None).await.unwrap();
    browser.keep_page(WarmPage { key: key.clone(), site, server: None, tab: tab.expect("the main tab"), frame: 1 });
    browser.release().await;

    // Two invocations at once: one gets the browser and its page, the other neither.
    let ((first, first_page), (second, second_page)) =
        tokio::join!(async { Browser::warm_with_page(&options, Some(&key)).await.unwrap() }, async {
            Browser::warm_with_page(&options, Some(&key)).await.unwrap()
        });
    assert_eq!(
        u8::from(first_page.is_some()) + u8::from(second_page.is_some()),
        1,
        "exactly one invocation gets the page"
    );
    let (mut browser, page, spare) = match first_page {
        Some(page) => (first, page, second),
        None => (second, second_page.unwrap(), first),
    };
    spare.close().await;

    // The same key: the kept page renders later frames, exactly as a fresh page does.
    let request = tiny_request(&tiny, PROPS, (40, 44));
    let (_, tab) =
        render_frames_keeping(&browser, &page.site, tiny.clone(), &request, &out("reused.ts"), |_| {}, Some(page.tab))
            .await
            .unwrap();
    browser.keep_page(WarmPage { key: key.clone(), site: page.site, server: None, tab: tab.unwrap(), frame: 44 });
    browser.release().await;
    let fresh_site = Site::open(bundle("build").to_str().unwrap()).await.unwrap();
    let fresh = Browser::launch(&options).await.unwrap();
    render_frames(&fresh, &fresh_site, tiny.clone(), &request, &out("fresh.ts"), |_| {}).await.unwrap();
    fresh.close().await;
    let reused = file_frame_md5s(&out("reused.ts"));
    assert_eq!(reused.len(), 5);
    assert_eq!(reused, file_frame_md5s(&out("fresh.ts")), "the same frames");

    // Another key: the kept page is closed, not handed over, and not kept for later either.
    let (browser, page) = Browser::warm_with_page(&options, Some(&other)).await.unwrap();
    assert!(page.is_none(), "other props get a fresh page");
    browser.release().await;
    let (browser, page) = Browser::warm_with_page(&options, Some(&key)).await.unwrap();
    assert!(page.is_none(), "the mismatch closed the kept page");
    // No browser of this test is left warm for the next one.
    browser.close().await;
}
