//! Which browser the renderer captures with: Debian's headless shell where it is installed, its
//! screenshots the pixels of `chromium`'s (Remotion's, `still.rs`) frame after frame; and frames
//! drawn on demand (begin-frame control), measured cheaper but not kept as the renderer's path
//! because their pixels drift from the screenshots' over a render's seeks.

use std::time::Duration;

use remotion_function::capture::browser::{Browser, BrowserOptions};
use remotion_function::capture::compositions::resolve_composition;
use remotion_function::capture::page::{Capture, RemotionTab, TabSetup};
use remotion_function::capture::site::Site;

use crate::common::{bundle, decode_png, differing_pixels};

const TIMEOUT: Duration = Duration::from_secs(30);

/// PNG captures of Intro's `frames`, in order, through one tab of a browser launched with
/// `options`, seeking as a render does.
async fn captured(options: &BrowserOptions, site: &Site, frames: &[u64]) -> Vec<Vec<u8>> {
    let browser = Browser::launch(options).await.unwrap();
    let composition = resolve_composition(&browser, site, "Intro", "{}", TIMEOUT).await.unwrap();
    let setup = TabSetup {
        width: composition.width,
        height: composition.height,
        initial_frame: frames[0],
        video_enabled: true,
        frame_server_port: site.frame_server().await.unwrap().port(),
        ..TabSetup::metadata("{}".into(), TIMEOUT)
    };
    let new_tab = browser.new_tab().await.unwrap();
    assert_eq!(new_tab.frames.is_some(), options.begin_frame_control, "the tab's frames follow the browser's");
    let mut tab = RemotionTab::open(new_tab, &site.url, &setup).await.unwrap();
    tab.set_composition(&composition).await.unwrap();
    let mut images = Vec::new();
    for &frame in frames {
        tab.seek(frame, 1).await.unwrap();
        images.push(tab.capture(Capture::Png).await.unwrap());
    }
    tab.close().await;
    browser.close().await;
    images
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

#[tokio::test]
async fn frames_drawn_on_demand_start_identical_and_show_every_frame() {
    let site = Site::open(bundle("build").to_str().unwrap()).await.unwrap();
    let on_demand = BrowserOptions { begin_frame_control: true, ..BrowserOptions::detect().unwrap() };
    let frames = [0, 94, 95, 95, 299];
    let drawn = captured(&on_demand, &site, &frames).await;
    let reference = captured(&BrowserOptions::detect().unwrap(), &site, &frames).await;
    let differences = differences(&drawn, &reference);
    // The first and a still frame are identical; mid-animation frames show the same picture
    // with a fraction of a percent of their pixels rasterised differently (why the renderer
    // does not draw on demand: README, "Cheaper capture paths").
    assert_eq!((differences[0], differences[4]), (0, 0), "{differences:?}");
    assert!(differences.iter().all(|d| *d < 1920 * 1080 / 100), "{differences:?}");
    // A frame with nothing new to draw is captured too (Chromium sends no screenshot of it).
    assert_eq!(drawn[2], drawn[3]);
}
