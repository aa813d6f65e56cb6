//! Processes the harness starts, and the reaper that stops them when the test binary exits.
//!
//! Test binaries keep their stand-ins in a `static`, whose destructor never runs. So every
//! process is also registered with a reaper: a small shell process in its own session that
//! waits for the test binary to exit (however it exits: success, failed test, panic, abort)
//! and then stops what was registered, newest first, by PID.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::net::{Ipv4Addr, SocketAddrV4, TcpListener, TcpStream};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// A free TCP port on 127.0.0.1 (bound and released; the caller binds it next).
pub fn free_port() -> Result<u16> {
    let listener = TcpListener::bind(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0)).context("binding a free port")?;
    Ok(listener.local_addr()?.port())
}

/// Whether something accepts connections on 127.0.0.1:`port`.
pub fn port_open(port: u16) -> bool {
    TcpStream::connect_timeout(&SocketAddrV4::new(Ipv4Addr::LOCALHOST, port).into(), Duration::from_millis(200)).is_ok()
}

/// Polls `ready` every 50 ms until it holds or `timeout` passes.
pub fn wait_until(what: &str, timeout: Duration, mut ready: impl FnMut() -> Result<bool>) -> Result<()> {
    let start = Instant::now();
    loop {
        if ready()? {
            return Ok(());
        }
        if start.elapsed() > timeout {
            bail!("{what} was not ready after {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Stops registered processes when the test binary exits.
pub struct Reaper {
    script: PathBuf,
    lines: Mutex<Vec<String>>,
}

impl Reaper {
    /// Starts the reaper for this process; its script lives in `dir`.
    pub fn start(dir: &Path) -> Result<Self> {
        let script = dir.join("reap.sh");
        std::fs::write(&script, "").context("writing the reaper script")?;
        let watcher = format!(
            "while kill -0 {pid} 2>/dev/null; do sleep 0.3; done; bash {script}",
            pid = std::process::id(),
            script = shell_quote(&script.to_string_lossy()),
        );
        // setsid: the reaper must outlive the test binary's process group.
        Command::new("setsid")
            .args(["bash", "-c", &watcher])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting the reaper (setsid bash)")?;
        Ok(Self { script, lines: Mutex::new(Vec::new()) })
    }

    /// Runs `shell_line` when the test binary exits (lines registered later run first).
    pub fn on_exit(&self, shell_line: String) -> Result<()> {
        let mut lines = self.lines.lock().expect("reaper lock");
        lines.push(shell_line);
        let body: String = lines.iter().rev().map(|l| format!("{l}\n")).collect();
        std::fs::write(&self.script, body).context("updating the reaper script")
    }

    /// Stops `pid` (TERM, then KILL after 5 s) when the test binary exits.
    pub fn kill_on_exit(&self, pid: u32) -> Result<()> {
        self.on_exit(format!(
            "kill {pid} 2>/dev/null; for i in $(seq 50); do kill -0 {pid} 2>/dev/null || break; sleep 0.1; done; kill -9 {pid} 2>/dev/null"
        ))
    }

    /// Stops the process group `pgid` (a process started as its group's leader, with every
    /// process it started) when the test binary exits: TERM, then KILL after 5 s.
    pub fn kill_group_on_exit(&self, pgid: u32) -> Result<()> {
        self.on_exit(format!(
            "kill -- -{pgid} 2>/dev/null; for i in $(seq 50); do kill -0 -- -{pgid} 2>/dev/null || break; sleep 0.1; done; kill -9 -- -{pgid} 2>/dev/null"
        ))
    }
}

/// Quotes a string for a POSIX shell.
pub fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// A process started by the harness, with its output in a log file.
pub struct Spawned {
    /// The child.
    pub child: Child,
    /// Where its stdout and stderr go.
    pub log: PathBuf,
    /// The Lambda sandbox it runs in, if any (for its peak memory).
    pub confinement: Option<crate::sandbox::Confinement>,
}

impl Spawned {
    /// Its PID.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Fails with the log's tail when the process has exited.
    pub fn check_alive(&mut self, what: &str) -> Result<()> {
        if let Some(status) = self.child.try_wait()? {
            bail!("{what} exited ({status}); last log lines:\n{}", tail(&self.log, 30));
        }
        Ok(())
    }
}

/// Starts `command` with stdout and stderr appended to `log`, registered with the reaper.
pub fn spawn_logged(reaper: &Reaper, mut command: Command, log: &Path) -> Result<Spawned> {
    let out = open_log(log)?;
    let err = out.try_clone()?;
    // A process group of its own, stopped as a whole: a render function's Chromium (and any
    // other grandchild) would otherwise outlive it, orphaned, after every test run (97 idle
    // browsers were found after a day of runs).
    let child = command
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .with_context(|| format!("starting {command:?}"))?;
    reaper.kill_group_on_exit(child.id())?;
    Ok(Spawned { child, log: log.to_path_buf(), confinement: None })
}

fn open_log(path: &Path) -> Result<File> {
    OpenOptions::new().create(true).append(true).open(path).with_context(|| format!("opening {}", path.display()))
}

/// The last `lines` lines of a file (for error messages).
pub fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Appends a line to a log (harness notes next to a process's own output).
pub fn note(log: &Path, line: &str) {
    if let Ok(mut f) = open_log(log) {
        let _ = writeln!(f, "{line}");
    }
}
