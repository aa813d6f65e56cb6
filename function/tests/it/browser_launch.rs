//! A Chromium that dies while starting (a crash before its DevTools endpoint is up, as seen on
//! loaded machines) is launched again; one that keeps dying fails the launch after three
//! attempts, naming how it exited. One that crashes later fails what waits on it at once.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use remotion_function::capture::browser::{Browser, BrowserOptions};
use remotion_function::error::RenderError;

/// An executable shell script `name` in `dir` running `body`.
fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

fn attempts(log: &Path) -> usize {
    std::fs::read_to_string(log).map(|s| s.lines().count()).unwrap_or(0)
}

#[tokio::test]
async fn a_chromium_that_crashes_while_starting_is_launched_again() {
    let dir = tempfile::tempdir().unwrap();
    let real = BrowserOptions::detect().unwrap().executable;
    let log = dir.path().join("flaky.log");
    // Crashes (SIGSEGV) on its first start, then is the real Chromium.
    let flaky = script(
        dir.path(),
        "flaky-chromium",
        &format!(
            "echo start >> '{log}'\nif [ \"$(wc -l < '{log}')\" -lt 2 ]; then kill -SEGV $$; fi\nexec '{real}' \"$@\"",
            log = log.display(),
            real = real.display()
        ),
    );
    let options = BrowserOptions { executable: flaky, ..BrowserOptions::detect().unwrap() };
    let browser = tokio::time::timeout(Duration::from_secs(60), Browser::launch(&options))
        .await
        .expect("launched in time")
        .expect("the second start works");
    let tab = browser.new_tab().await.unwrap();
    tab.page.goto("data:text/html,<p>up</p>").await.unwrap();
    assert_eq!(attempts(&log), 2, "one crash, one start");
    browser.close().await;

    // Always crashing: three attempts, then the exit is named.
    let log = dir.path().join("broken.log");
    let broken = script(dir.path(), "broken-chromium", &format!("echo start >> '{}'\nkill -SEGV $$", log.display()));
    let options = BrowserOptions { executable: broken, ..BrowserOptions::detect().unwrap() };
    let error = match Browser::launch(&options).await {
        Ok(_) => panic!("a Chromium that always crashes cannot be launched"),
        Err(error) => error.to_string(),
    };
    assert!(error.contains("exited") || error.contains("end of stream"), "{error}");
    assert_eq!(attempts(&log), 3, "launched three times");
}

#[tokio::test]
async fn a_chromium_that_crashes_mid_render_fails_its_commands_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let real = BrowserOptions::detect().unwrap().executable;
    let pid_file = dir.path().join("chromium.pid");
    // The real Chromium, its process id written down (exec keeps it).
    let recorded = script(
        dir.path(),
        "recorded-chromium",
        &format!("echo $$ > '{}'\nexec '{}' \"$@\"", pid_file.display(), real.display()),
    );
    let options = BrowserOptions { executable: recorded, ..BrowserOptions::detect().unwrap() };
    let browser = Browser::launch(&options).await.unwrap();
    let tab = browser.new_tab().await.unwrap();
    tab.page.goto("data:text/html,<p>up</p>").await.unwrap();
    let pid = std::fs::read_to_string(&pid_file).unwrap().trim().to_owned();
    assert!(std::process::Command::new("kill").args(["-SEGV", &pid]).status().unwrap().success());

    let started = Instant::now();
    let error = loop {
        match tokio::time::timeout(Duration::from_secs(10), tab.page.evaluate("1 + 1")).await {
            Ok(Err(e)) => break RenderError::from(e),
            // Answered before the signal landed.
            Ok(Ok(_)) => tokio::time::sleep(Duration::from_millis(50)).await,
            Err(_) => panic!("a command to a crashed Chromium still waits after 10 s"),
        }
        assert!(started.elapsed() < Duration::from_secs(10), "Chromium still answers after SIGSEGV");
    };
    assert!(started.elapsed() < Duration::from_secs(10), "took {:?}: waited out a command timeout", started.elapsed());
    assert_eq!(error.kind(), remotion_protocol::payload::ErrorKind::BrowserCrashed, "{error}");
    assert!(error.to_string().contains("connection to Chromium was lost"), "{error}");
    browser.close().await;
}
