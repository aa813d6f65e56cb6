//! The browser kept warm between Lambda invocations of one process: a released browser is
//! reused by the next invocation, in a fresh browser context (`isolation` shows that context
//! sees nothing of the last one's).

use std::time::Duration;

use remotion_function::capture::browser::{Browser, BrowserOptions, launches};

use crate::common;

const LIMIT: Duration = Duration::from_secs(20);

async fn lease_and_use(options: &BrowserOptions, html: &str) -> Browser {
    let browser = tokio::time::timeout(LIMIT, Browser::warm(options)).await.expect("warm in time").unwrap();
    let tab = tokio::time::timeout(LIMIT, browser.new_tab()).await.expect("tab in time").unwrap();
    tokio::time::timeout(LIMIT, tab.page.goto(format!("data:text/html,{html}"))).await.expect("load in time").unwrap();
    browser
}

#[tokio::test]
async fn a_released_browser_is_reused_where_a_new_context_isolates_the_next_invocation() {
    // It counts the browsers its process launched, which other tests must not add to.
    let test =
        concat!(module_path!(), "::a_released_browser_is_reused_where_a_new_context_isolates_the_next_invocation");
    if !common::in_own_process(test) {
        return;
    }
    let mut options = BrowserOptions::detect().unwrap();
    options.in_lambda = true;
    let before = launches();
    let first = lease_and_use(&options, "<p>one</p>").await;
    assert_eq!(launches(), before + 1, "one launch for the first lease");
    tokio::time::timeout(LIMIT, first.release()).await.expect("release in time");
    let second = lease_and_use(&options, "<p>two</p>").await;
    assert_eq!(launches(), before + 1, "the second lease reuses the first Chromium");
    tokio::time::timeout(LIMIT, second.close()).await.expect("close in time");
}
