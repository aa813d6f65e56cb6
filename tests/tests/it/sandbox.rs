//! Lambda's emulated sandbox itself: its limits hold, whatever runs inside.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Result;
use remotion_tests::process::{Reaper, spawn_logged};
use remotion_tests::sandbox::{self, FunctionSize, Root};

/// Runs `script` with python3 in a sandbox of `memory_mb`, waits for it and returns its exit
/// success, its output and whether the kernel killed it for memory.
fn run_confined(dir: &Path, memory_mb: u32, script: &str) -> Result<(bool, String, bool)> {
    let reaper = Reaper::start(dir)?;
    let size = FunctionSize { memory_mb, disk_mb: 512, limit_cpu: true };
    let script_env = [("SCRIPT".to_owned(), script.to_owned())];
    let (command, confinement) =
        sandbox::confine(&reaper, Path::new("/usr/bin/python3"), &size, &Root::Host, &script_env)?;
    let mut command = command;
    command.args(["-c", "import os; exec(os.environ['SCRIPT'])"]);
    let log = dir.join("confined.log");
    let mut spawned = spawn_logged(&reaper, command, &log)?;
    let start = Instant::now();
    let status = loop {
        if let Some(status) = spawned.child.try_wait()? {
            break status;
        }
        anyhow::ensure!(start.elapsed() < Duration::from_secs(60), "the confined process did not end");
        std::thread::sleep(Duration::from_millis(50));
    };
    Ok((status.success(), std::fs::read_to_string(&log)?, confinement.oom_killed()?))
}

#[test]
fn a_process_past_its_memory_size_is_killed_as_on_lambda() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (ok, output, oom) = run_confined(dir.path(), 128, "x = bytearray(400 << 20)\nprint('allocated')")?;
    assert!(!ok && oom, "400 MB in a 128 MB function must be killed for memory: {output}");
    assert!(!output.contains("allocated"), "{output}");
    Ok(())
}

#[test]
fn cpu_follows_memory_one_vcpu_per_1769_mb() -> Result<()> {
    // At 885 MB a function gets half a vCPU: two seconds of busy loop use about one of CPU.
    let dir = tempfile::tempdir()?;
    let script = "import os, time\nt = time.time()\nwhile time.time() - t < 2: pass\n\
                  c = os.times()\nprint('cpu', c.user + c.system)";
    let (ok, output, _) = run_confined(dir.path(), 885, script)?;
    assert!(ok, "{output}");
    let cpu: f64 = output
        .lines()
        .find_map(|l| l.strip_prefix("cpu "))
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| anyhow::anyhow!("no CPU figure in {output:?}"))?;
    assert!(cpu < 1.3, "half a vCPU for 2 s is about 1 s of CPU, not {cpu:.2} s");
    Ok(())
}

#[test]
fn the_filesystem_is_read_only_but_tmp_and_there_is_no_dev_shm_nor_home() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let script = r#"
import os
def writable(path):
    try:
        with open(os.path.join(path, 'probe'), 'w') as f: f.write('x')
        return True
    except OSError:
        return False
st = os.statvfs('/tmp')
print('uid', os.getuid())
print('home', os.environ.get('HOME'))
print('task_root', os.environ.get('LAMBDA_TASK_ROOT'))
print('tmp_mb', st.f_blocks * st.f_frsize // (1024 * 1024))
print('root_writable', writable('/usr'))
print('tmp_writable', writable('/tmp'))
print('dev_shm', os.path.exists('/dev/shm'))
"#;
    let (ok, output, _) = run_confined(dir.path(), 512, script)?;
    assert!(ok, "{output}");
    for line in [
        "uid 993",
        "home None",
        "task_root /var/task",
        "tmp_mb 512",
        "root_writable False",
        "tmp_writable True",
        "dev_shm False",
    ] {
        assert!(output.lines().any(|l| l == line), "expected {line:?} in:\n{output}");
    }
    Ok(())
}
