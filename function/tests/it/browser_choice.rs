//! Which browser the renderer captures with: Debian's headless shell where it is installed, its
//! screenshots the pixels of `chromium`'s (Remotion's, `still.rs`) frame after frame; and frames
//! drawn on demand (begin-frame control), the same pixels again, in one tab or two at once (the
//! second in a browser of its own).

use std::time::Duration;

use remotion_function::capture::browser::{Browser, BrowserOptions};
use remotion_function::capture::compositions::resolve_composition;
use remotion_function::capture::page::{Capture, RemotionTab, TabSetup};
use remotion_function::capture::site::Site;
use remotion_function::error::RenderError;

use crate::common::{bundle, decode_png, differing_pixels};

const TIMEOUT: Duration = Duration::from_secs(30);

/// PNG captures of Intro's `frames`, in order, through one tab of a browser launched with
/// `options`, seeking as a render does.
async fn captured(options: &BrowserOptions, site: &Site, frames: &[u64]) -> Vec<Vec<u8>> {
    captured_of(options, site, INTRO, frames).await
}

/// Intro, with its default props.
const INTRO: (&str, &str) = ("Intro", "{}");

/// [`captured`], of composition `id` with `props`.
async fn captured_of(options: &BrowserOptions, site: &Site, (id, props): (&str, &str), frames: &[u64]) -> Vec<Vec<u8>> {
    let browser = Browser::launch(options).await.unwrap();
    let images = captured_in(&browser, options, site, (id, props), frames).await;
    browser.close().await;
    images
}

/// [`captured_of`], in a tab of `browser` (launched with `options`).
async fn captured_in(
    browser: &Browser,
    options: &BrowserOptions,
    site: &Site,
    (id, props): (&str, &str),
    frames: &[u64],
) -> Vec<Vec<u8>> {
    let on_demand = options.begin_frame_control;
    try_captured_in(browser, options, site, (id, props), frames)
        .await
        .unwrap_or_else(|(frame, e)| panic!("{id} frame {frame} (drawn on demand: {on_demand}): {e}"))
}

/// [`captured_in`], failing with the frame that failed.
async fn try_captured_in(
    browser: &Browser,
    options: &BrowserOptions,
    site: &Site,
    (id, props): (&str, &str),
    frames: &[u64],
) -> Result<Vec<Vec<u8>>, (u64, RenderError)> {
    let composition = resolve_composition(browser, site, id, props, TIMEOUT).await.map_err(|e| (frames[0], e))?;
    let setup = TabSetup {
        width: composition.width,
        height: composition.height,
        initial_frame: frames[0],
        video_enabled: true,
        frame_server_port: site.frame_server().await.unwrap().port(),
        ..TabSetup::metadata(props.into(), TIMEOUT)
    };
    let new_tab = browser.new_tab().await.unwrap();
    assert_eq!(new_tab.frames.is_some(), options.begin_frame_control, "the tab's frames follow the browser's");
    let mut tab = RemotionTab::open(new_tab, &site.url, &setup).await.map_err(|e| (frames[0], e))?;
    tab.set_composition(&composition).await.map_err(|e| (frames[0], e))?;
    let mut images = Vec::new();
    for &frame in frames {
        let drawn = match tab.seek(frame, 1).await {
            Ok(()) => tab.capture(Capture::Png).await,
            Err(e) => Err(e),
        };
        images.push(drawn.map_err(|e| (frame, e))?);
    }
    tab.close().await;
    Ok(images)
}

/// Pixels differing between each capture of `a` and the same frame's of `b`.
fn differences(a: &[Vec<u8>], b: &[Vec<u8>]) -> Vec<usize> {
    a.iter()
        .zip(b)
        .map(|(a, b)| {
            let ((w1, h1, a), (w2, h2, b)) = (decode_png(a), decode_png(b));
            assert_eq!((w1, h1), (w2, h2), "sizes");
            differing_pixels(&a, &b)
        })
        .collect()
}

#[tokio::test]
async fn the_headless_shell_captures_chromiums_pixels_over_a_renders_seeks() {
    let site = Site::open(bundle("build").to_str().unwrap()).await.unwrap();
    let found = BrowserOptions::detect().unwrap();
    assert!(
        found.executable.ends_with("chromium-headless-shell") && !found.begin_frame_control,
        "the renderer's browser is the headless shell, drawing its own frames (scripts/install-deps.sh \
         installs it): {}",
        found.executable.display()
    );
    let chromium = BrowserOptions { executable: "/usr/bin/chromium".into(), ..BrowserOptions::detect().unwrap() };
    // Frame 95 twice: the second capture has nothing new to draw.
    let frames = [0, 94, 95, 95, 200, 299];
    let shell = captured(&found, &site, &frames).await;
    let reference = captured(&chromium, &site, &frames).await;
    assert_eq!(differences(&shell, &reference), [0; 6], "frames {frames:?}");
    // The comparison can fail: frame 94 is not frame 95.
    assert!(differences(&shell[1..2], &reference[2..3])[0] > 0, "frame 94 must not equal frame 95");
}

/// Frames 60 on are where the title's spring has slowed to tiny changes of scale, which Chromium
/// stops rasterising afresh unless asked to (`capture::frames`).
const SEEKS: [u64; 8] = [0, 60, 61, 94, 95, 95, 200, 299];

#[tokio::test]
async fn frames_drawn_on_demand_are_the_screenshots_pixels_over_a_renders_seeks() {
    let site = Site::open(bundle("build").to_str().unwrap()).await.unwrap();
    let on_demand = BrowserOptions::detect().unwrap().drawing_on_demand_for(1.0);
    assert!(on_demand.begin_frame_control, "the headless shell draws on demand at scale 1");
    let drawn = captured(&on_demand, &site, &SEEKS).await;
    let reference = captured(&BrowserOptions::detect().unwrap(), &site, &SEEKS).await;
    assert_eq!(differences(&drawn, &reference), [0; SEEKS.len()], "frames {SEEKS:?}");
    // The comparison can fail: frame 94 is not frame 95.
    assert!(differences(&drawn[3..4], &reference[4..5])[0] > 0, "frame 94 must not equal frame 95");
}

#[tokio::test]
async fn two_tabs_drawing_on_demand_at_once_keep_the_pixels() {
    let site = Site::open(bundle("build").to_str().unwrap()).await.unwrap();
    let on_demand = BrowserOptions { begin_frame_control: true, ..BrowserOptions::detect().unwrap() };
    let browser = Browser::launch(&on_demand).await.unwrap();
    let reversed: Vec<u64> = SEEKS.iter().rev().copied().collect();
    let (forward, backward) = tokio::join!(
        captured_in(&browser, &on_demand, &site, INTRO, &SEEKS),
        captured_in(&browser, &on_demand, &site, INTRO, &reversed),
    );
    browser.close().await;
    let reference = captured(&BrowserOptions::detect().unwrap(), &site, &SEEKS).await;
    assert_eq!(differences(&forward, &reference), [0; SEEKS.len()], "first tab, frames {SEEKS:?}");
    let backward: Vec<Vec<u8>> = backward.into_iter().rev().collect();
    assert_eq!(differences(&backward, &reference), [0; SEEKS.len()], "second tab, frames {reversed:?}");
}

/// The first frame of an HTML5 `<Video>` (SeekMedia showing the fixture's clip from its frame
/// 20) drawn on demand, in fresh tabs, with Chromium's own OpenGL choice and with Lambda's
/// (SwiftShader through ANGLE). A tab's first frames came without their screenshot until the
/// video's picture reached the display, and, on a loaded machine, the next one now and then
/// with a screenshot of a blank white view (`capture::frames`). Screenshots are no sure
/// reference under load either: one showed the clip's frame 0, the picture before the seek.
/// So the reference is a screenshot that shows frame 20.
#[tokio::test]
async fn the_first_frame_of_an_html5_video_drawn_on_demand_is_the_screenshots() {
    let site = Site::open(bundle("build").to_str().unwrap()).await.unwrap();
    let on_demand = BrowserOptions::detect().unwrap().drawing_on_demand_for(1.0);
    assert!(on_demand.begin_frame_control, "the headless shell draws on demand at scale 1");
    let lambda = BrowserOptions { in_lambda: true, ..on_demand.clone() }.drawing_on_demand_for(1.0);
    assert!(lambda.begin_frame_control, "Lambda's chunks draw on demand too");
    let mut screenshots: Vec<Vec<u8>> = Vec::new();
    while screenshots.last().is_none_or(|shot| clip_frame_shown(shot) != 20) {
        assert!(screenshots.len() < 3, "no screenshot showed the clip's frame 20: {:?}", shown_by(&screenshots));
        screenshots.push(first_video_frame(&BrowserOptions::detect().unwrap(), &site).await);
    }
    let reference = screenshots.pop().unwrap();
    for (gl, options) in [("Chromium's own GL", &on_demand), ("Lambda's GL", &lambda)] {
        for tab in 0..3 {
            let drawn = first_video_frame(options, &site).await;
            assert_eq!(clip_frame_shown(&drawn), 20, "{gl}, tab {tab}: the clip frame shown");
            let differing = differences(&[drawn], std::slice::from_ref(&reference))[0];
            assert_eq!(differing, 0, "{gl}, tab {tab}: pixels differing from the screenshot's");
        }
    }
}

/// The clip frame a 640×360 capture of SeekMedia shows: the clip (tools/make_clip.py) carries
/// its frame number in eight black or white blocks along the bottom, most significant first. A
/// blank white view reads 255.
fn clip_frame_shown(png: &[u8]) -> u64 {
    let (width, height, rgba) = decode_png(png);
    assert_eq!((width, height), (640, 360));
    let row = 300 * 640 * 4;
    (0..8).fold(0, |n, bit| (n << 1) | u64::from(rgba[row + (bit * 80 + 40) * 4] > 128))
}

/// The clip frames `captures` show.
fn shown_by(captures: &[Vec<u8>]) -> Vec<u64> {
    captures.iter().map(|png| clip_frame_shown(png)).collect()
}

/// SeekMedia's frame 0 in a new browser launched with `options`. A seek of an HTML5 video that
/// stalls (its `delayRender()` never cleared: now and then on a loaded machine, screenshots
/// alike, what Remotion's `<OffthreadVideo>` avoids) is tried once more; it says nothing of the
/// frame's pixels.
async fn first_video_frame(options: &BrowserOptions, site: &Site) -> Vec<u8> {
    let media = ("SeekMedia", r#"{"video": "clip.mp4", "videoFrom": 20, "audio": "tone.wav", "audioFrom": 0}"#);
    let mut stalled = 0;
    loop {
        let browser = Browser::launch(options).await.unwrap();
        let captured = try_captured_in(&browser, options, site, media, &[0]).await;
        browser.close().await;
        match captured {
            Ok(mut images) => return images.remove(0),
            Err((_, RenderError::DelayRenderTimeout { .. })) if stalled == 0 => stalled += 1,
            Err((frame, e)) => {
                panic!("SeekMedia frame {frame} (drawn on demand: {}): {e}", options.begin_frame_control)
            }
        }
    }
}
