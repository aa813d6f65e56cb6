//! A render's page environment and browser (Remotion's `envVariables`, `chromiumOptions`,
//! `logLevel`), checked where they take effect: what the fixture bundle's page reads from
//! `process.env`, what its requests send, which certificates and origins it may load from,
//! and what the function process logs.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chromiumoxide::cdp::js_protocol::runtime::EvaluateParams;
use chromiumoxide::page::Page;
use remotion_function::capture::browser::{Browser, BrowserOptions};
use remotion_function::capture::page::{RemotionTab, TabSetup};
use remotion_function::capture::site::Site;
use remotion_protocol::page::{ChromiumOptions, LogLevel, PageSettings};
use remotion_protocol::payload::PROTOCOL_VERSION;
use remotion_tests::TestEnv;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::common::{self, bucket_and_functions, bundle};

const LIMIT: Duration = Duration::from_secs(30);

/// Evaluates `script` in `page`, promises awaited, the result by value.
async fn evaluate(page: &Page, script: &str) -> Value {
    let mut params = EvaluateParams::new(script);
    params.await_promise = Some(true);
    params.return_by_value = Some(true);
    let answer = tokio::time::timeout(LIMIT, page.execute(params)).await.expect("evaluated in time").unwrap();
    assert!(answer.result.exception_details.is_none(), "{script} threw: {:?}", answer.result.exception_details);
    answer.result.result.value.clone().unwrap_or(Value::Null)
}

/// Loads the fixture bundle in a tab of `browser` set up as the render function sets up its
/// metadata tab (the invocation's page settings applied), with its Root evaluated; returns the
/// raw page to evaluate in, and the tab to close.
async fn fixture_page(browser: &Browser, site: &Site) -> (Page, RemotionTab) {
    let new_tab = browser.new_tab().await.unwrap();
    let page = new_tab.page.clone();
    let setup = TabSetup::metadata("{}".into(), LIMIT).with_page(browser.page_settings());
    let tab = RemotionTab::open(new_tab, &site.url, &setup).await.unwrap();
    tab.evaluate_root().await.unwrap();
    (page, tab)
}

fn options(page: PageSettings) -> BrowserOptions {
    BrowserOptions::detect().unwrap().for_page(&page)
}

fn chromium(options: ChromiumOptions) -> PageSettings {
    PageSettings { chromium_options: options, ..Default::default() }
}

#[tokio::test]
async fn the_pages_process_env_holds_the_render_s_variables_as_in_remotion() {
    let site = Site::open(bundle("build").to_str().unwrap()).await.unwrap();
    let page_settings = PageSettings {
        env_variables: BTreeMap::from([
            ("GREETING".to_owned(), "hello from the RenderJob".to_owned()),
            ("QUOTED".to_owned(), r#"it's "quoted" \ and ünïcode"#.to_owned()),
            // Remotion keeps NODE_ENV at production whatever is given: the page is rendering.
            ("NODE_ENV".to_owned(), "development".to_owned()),
        ]),
        log_level: LogLevel::Warn,
        ..Default::default()
    };
    let browser = Browser::launch(&options(page_settings)).await.unwrap();
    let (page, tab) = fixture_page(&browser, &site).await;
    let env = evaluate(&page, "JSON.stringify(process.env)").await;
    let env: Value = serde_json::from_str(env.as_str().unwrap()).unwrap();
    assert_eq!(env["GREETING"], "hello from the RenderJob");
    assert_eq!(env["QUOTED"], r#"it's "quoted" \ and ünïcode"#);
    assert_eq!(env["NODE_ENV"], "production");
    assert_eq!(evaluate(&page, "window.remotion_logLevel").await, "warn");
    tab.close().await;
    browser.close().await;

    // Without variables the page's environment is Remotion's own only.
    let browser = Browser::launch(&options(PageSettings::default())).await.unwrap();
    let (page, tab) = fixture_page(&browser, &site).await;
    let env = evaluate(&page, "JSON.stringify(process.env)").await;
    assert_eq!(env, r#"{"NODE_ENV":"production"}"#);
    assert_eq!(evaluate(&page, "window.remotion_logLevel").await, "info");
    tab.close().await;
    browser.close().await;
}

/// A plain HTTP server on 127.0.0.1 answering every request with the request's User-Agent,
/// with a CORS header on `/cors` only; sends each User-Agent it saw on the channel.
async fn user_agent_echo() -> (u16, tokio::sync::mpsc::UnboundedReceiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (seen, received) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let seen = seen.clone();
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buffer = [0u8; 4096];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buffer).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buffer[..n]),
                    }
                }
                let request = String::from_utf8_lossy(&request).into_owned();
                let agent = request
                    .lines()
                    .find_map(|line| line.strip_prefix("User-Agent: ").or_else(|| line.strip_prefix("user-agent: ")))
                    .unwrap_or_default()
                    .to_owned();
                let _ = seen.send(agent.clone());
                let cors = if request.starts_with("GET /cors ") { "Access-Control-Allow-Origin: *\r\n" } else { "" };
                let response = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n{cors}Content-Length: {}\r\nConnection: close\r\n\r\n{agent}",
                    agent.len()
                );
                let _ = stream.write_all(response.as_bytes()).await;
            });
        }
    });
    (port, received)
}

/// What a `fetch` of `url` from the page gives: its text, or the error's name.
fn fetch_text(url: &str) -> String {
    format!("fetch('{url}').then((r) => r.text()).catch((e) => 'failed: ' + e.name)")
}

#[tokio::test]
async fn the_user_agent_is_the_pages_and_its_requests_and_web_security_can_be_turned_off() {
    let site = Site::open(bundle("build").to_str().unwrap()).await.unwrap();
    let (port, mut seen) = user_agent_echo().await;
    let agent = "RenderBot/1.0 (remotion-operator; +https://example.com/bot)";

    let browser = Browser::launch(&options(chromium(ChromiumOptions {
        user_agent: Some(agent.to_owned()),
        ..Default::default()
    })))
    .await
    .unwrap();
    let (page, tab) = fixture_page(&browser, &site).await;
    assert_eq!(evaluate(&page, "navigator.userAgent").await, agent);
    // The echo server is another origin than the site: it allows it on /cors only.
    assert_eq!(evaluate(&page, &fetch_text(&format!("http://127.0.0.1:{port}/cors"))).await, agent);
    assert_eq!(seen.recv().await.unwrap(), agent, "the request carried the User-Agent");
    assert_eq!(
        evaluate(&page, &fetch_text(&format!("http://127.0.0.1:{port}/plain"))).await,
        "failed: TypeError",
        "without disableWebSecurity, CORS applies"
    );
    tab.close().await;
    browser.close().await;

    let browser =
        Browser::launch(&options(chromium(ChromiumOptions { disable_web_security: true, ..Default::default() })))
            .await
            .unwrap();
    let (page, tab) = fixture_page(&browser, &site).await;
    let default_agent = evaluate(&page, "navigator.userAgent").await;
    assert_ne!(default_agent, agent, "Chromium's own User-Agent when none is given");
    assert_eq!(
        evaluate(&page, &fetch_text(&format!("http://127.0.0.1:{port}/plain"))).await,
        default_agent,
        "with disableWebSecurity, a response without CORS headers is readable"
    );
    tab.close().await;
    browser.close().await;
}

/// `openssl s_server` with a fresh self-signed certificate for 127.0.0.1 on a free port,
/// answering HTTPS requests with a status page; killed on drop.
struct SelfSignedServer {
    child: Child,
    port: u16,
}

impl SelfSignedServer {
    fn start(dir: &Path) -> Self {
        let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
        let made = Command::new("openssl")
            .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1"])
            .args(["-addext", "subjectAltName=IP:127.0.0.1", "-keyout"])
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("running openssl req");
        assert!(made.success(), "making a self-signed certificate");
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = Command::new("openssl")
            .args(["s_server", "-quiet", "-www", "-accept"])
            .arg(format!("127.0.0.1:{port}"))
            .arg("-cert")
            .arg(&cert)
            .arg("-key")
            .arg(&key)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting openssl s_server");
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(started.elapsed() < LIMIT, "openssl s_server did not listen on {port}");
            std::thread::sleep(Duration::from_millis(50));
        }
        Self { child, port }
    }
}

impl Drop for SelfSignedServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn ignore_certificate_errors_lets_the_page_load_from_a_self_signed_server() {
    let site = Site::open(bundle("build").to_str().unwrap()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let server = SelfSignedServer::start(dir.path());
    // An opaque (no-cors) fetch settles as soon as the TLS handshake and the response do.
    let load = format!(
        "fetch('https://127.0.0.1:{}/', {{mode: 'no-cors'}}).then(() => 'loaded').catch((e) => 'failed: ' + e.name)",
        server.port
    );
    for (ignore, expected) in [(false, "failed: TypeError"), (true, "loaded")] {
        let browser = Browser::launch(&options(chromium(ChromiumOptions {
            ignore_certificate_errors: ignore,
            ..Default::default()
        })))
        .await
        .unwrap();
        let (page, tab) = fixture_page(&browser, &site).await;
        assert_eq!(evaluate(&page, &load).await, expected, "ignoreCertificateErrors {ignore}");
        tab.close().await;
        browser.close().await;
    }
}

#[tokio::test]
async fn a_warm_browser_launched_with_other_chromium_options_is_not_reused() {
    let _turn = common::warm_browser().await;
    let site = Site::open(bundle("build").to_str().unwrap()).await.unwrap();
    let agent = |name: &str| chromium(ChromiumOptions { user_agent: Some(name.to_owned()), ..Default::default() });
    for (render, expected) in [("first-render/1", "first-render/1"), ("second-render/1", "second-render/1")] {
        let browser = Browser::warm(&options(agent(render))).await.unwrap();
        let (page, tab) = fixture_page(&browser, &site).await;
        assert_eq!(evaluate(&page, "navigator.userAgent").await, expected);
        tab.close().await;
        browser.release().await;
    }
    // The same options take the warm browser again, and with it a tab of the new invocation's
    // environment.
    let settings = PageSettings {
        env_variables: BTreeMap::from([("RENDER".to_owned(), "third".to_owned())]),
        ..agent("second-render/1")
    };
    let browser = Browser::warm(&options(settings)).await.unwrap();
    let (page, tab) = fixture_page(&browser, &site).await;
    assert_eq!(evaluate(&page, "navigator.userAgent").await, "second-render/1");
    assert_eq!(evaluate(&page, "process.env.RENDER").await, "third");
    tab.close().await;
    browser.close().await;
}

/// A still of `Intro` launched on `function` with `logLevel` and environment variables.
fn still_launch(id: &str, bucket: &str, function: &str, log_level: &str) -> Value {
    json!({
        "type": "launch", "protocolVersion": PROTOCOL_VERSION, "renderId": id, "bucket": bucket,
        "site": {"serveUrl": "private", "s3": {"bucket": bucket, "prefix": "sites/fixture/"}},
        "siteNamespace": "tests", "siteName": "fixture", "composition": "Intro",
        "inputProps": {"type": "inline", "serialized": "{}"},
        "encoding": {"codec": "h264"}, "still": {"frame": 10, "imageFormat": "png"},
        "maxRetries": 0, "timeoutMs": 30000,
        "output": {"key": format!("renders/{id}/out.png")},
        "renderer": {"functionName": function, "region": "us-east-1", "memoryMb": 2048, "diskMb": 2048,
                     "architecture": "x86_64", "timeoutSeconds": 120, "maxConcurrency": 0},
        "page": {"envVariables": {"GREETING": "hello"}, "logLevel": log_level},
    })
}

/// A 10-frame video of `Tiny` in two chunks that the orchestrator renders itself (the local
/// lane: no chunk invocations), with `logLevel` verbose.
fn verbose_video_launch(id: &str, bucket: &str, function: &str) -> Value {
    json!({
        "type": "launch", "protocolVersion": PROTOCOL_VERSION, "renderId": id, "bucket": bucket,
        "site": {"serveUrl": "private", "s3": {"bucket": bucket, "prefix": "sites/fixture/"}},
        "siteNamespace": "tests", "siteName": "fixture", "composition": "Tiny",
        "inputProps": {"type": "inline", "serialized": "{}"},
        "encoding": {"codec": "h264", "x264Preset": "veryfast"},
        "frameRange": {"start": 0, "end": 9}, "chunking": {"framesPerLambda": 5},
        "maxRetries": 0, "timeoutMs": 30000,
        "output": {"key": format!("renders/{id}/out.mp4")},
        "renderer": {"functionName": function, "region": "us-east-1", "memoryMb": 2048, "diskMb": 2048,
                     "architecture": "x86_64", "timeoutSeconds": 120, "maxConcurrency": 0},
        "page": {"logLevel": "verbose"},
    })
}

/// Lines of the page's console forwarded to a function process's log (`[browser] …`).
fn browser_lines(log: &Path) -> Vec<String> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains("[browser]"))
        .map(str::to_owned)
        .collect()
}

/// Waits until the output `out.<extension>` of `id` is in the bucket.
async fn wait_for_output(s3: &aws_sdk_s3::Client, bucket: &str, id: &str, extension: &str) {
    let started = Instant::now();
    loop {
        if s3.head_object().bucket(bucket).key(format!("renders/{id}/out.{extension}")).send().await.is_ok() {
            return;
        }
        assert!(started.elapsed() < Duration::from_secs(120), "the output of {id} was not rendered in time");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test]
async fn verbose_renders_put_the_pages_console_into_the_function_log() {
    const FUNCTION: &str = "test-fn-09";
    let env = TestEnv::get();
    let (s3, bucket, processes) = bucket_and_functions("page-log-level", FUNCTION, 1).await;
    let lambda = env.lambda().client();
    let log = &processes[0].log;

    remotion_tests::lambda::invoke(&lambda, FUNCTION, &still_launch("quiet", &bucket, FUNCTION, "info"))
        .await
        .expect("the emulator answered")
        .expect("the still rendered");
    wait_for_output(&s3, &bucket, "quiet", "png").await;
    assert_eq!(browser_lines(log), Vec::<String>::new(), "at log level info the page's console stays out");

    remotion_tests::lambda::invoke(&lambda, FUNCTION, &still_launch("verbose", &bucket, FUNCTION, "verbose"))
        .await
        .expect("the emulator answered")
        .expect("the still rendered");
    wait_for_output(&s3, &bucket, "verbose", "png").await;
    let lines = browser_lines(log);
    eprintln!("{} console lines of the page in the function log, e.g. {:?}", lines.len(), lines.first());
    // Remotion's page logs its own verbose messages only when its log level says so, tagged
    // with their level and origin.
    assert!(
        lines.iter().any(|l| l.contains("[browser] verbose [delayRender()]")),
        "at log level verbose the page's console, Remotion's own verbose messages included, is in the function log"
    );

    // A video's chunk pages are set up the same way: the orchestrator's metadata page and the
    // chunks' page (the second chunk goes on in the page the first one kept) log too.
    remotion_tests::lambda::invoke(&lambda, FUNCTION, &verbose_video_launch("video", &bucket, FUNCTION))
        .await
        .expect("the emulator answered")
        .expect("the video rendered");
    wait_for_output(&s3, &bucket, "video", "mp4").await;
    let chunk_lines: Vec<String> = browser_lines(log).into_iter().skip(lines.len()).collect();
    let pages = chunk_lines.iter().filter(|l| l.contains("Loading root component")).count();
    assert!(pages >= 2, "the metadata page and the chunks' page log their verbose messages: {chunk_lines:#?}");
}
