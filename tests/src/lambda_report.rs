//! Lambda's bill for one invocation, as the recording proxy measures it: the time from the
//! request to the answer, rounded up to the millisecond, and the log tail Lambda returns for a
//! synchronous invocation with `X-Amz-Log-Type: Tail` — base64 of the log's last 4 KB, ending
//! with the `REPORT` line that names the billed duration. The emulator returns no log tail.
//!
//! The memory figures come from the function's processes themselves (their
//! `AWS_LAMBDA_FUNCTION_MEMORY_SIZE` and the peak resident size of the largest), read from
//! `/proc`.

use std::time::Duration;

use base64::Engine;

/// The most of the log Lambda returns in `X-Amz-Log-Result`.
const LOG_TAIL_BYTES: usize = 4096;

/// Billed milliseconds of an invocation that took `duration`: rounded up to 1 ms, as Lambda
/// bills.
pub fn billed_milliseconds(duration: Duration) -> u64 {
    duration.as_nanos().div_ceil(1_000_000) as u64
}

/// Memory of a function's processes: the size configured, and the most any of them used.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FunctionMemory {
    /// `AWS_LAMBDA_FUNCTION_MEMORY_SIZE`, MB.
    pub size_mb: Option<u64>,
    /// The largest peak resident size of its processes, MB.
    pub max_used_mb: Option<u64>,
}

/// The memory of the processes serving `function` on this machine.
pub fn function_memory(function: &str) -> FunctionMemory {
    let mut memory = FunctionMemory::default();
    let Ok(entries) = std::fs::read_dir("/proc") else { return memory };
    for entry in entries.flatten() {
        let Ok(environ) = std::fs::read(entry.path().join("environ")) else { continue };
        let vars: Vec<&[u8]> = environ.split(|b| *b == 0).collect();
        let name = format!("AWS_LAMBDA_FUNCTION_NAME={function}");
        if !vars.contains(&name.as_bytes()) {
            continue;
        }
        let size = vars
            .iter()
            .find_map(|v| v.strip_prefix(b"AWS_LAMBDA_FUNCTION_MEMORY_SIZE="))
            .and_then(|v| std::str::from_utf8(v).ok()?.parse().ok());
        memory.size_mb = memory.size_mb.or(size);
        let status = std::fs::read_to_string(entry.path().join("status")).unwrap_or_default();
        let peak_kb = status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok());
        if let Some(kb) = peak_kb {
            memory.max_used_mb = memory.max_used_mb.max(Some(kb.div_ceil(1024)));
        }
    }
    memory
}

/// The log tail of one invocation, base64, as `X-Amz-Log-Result` carries it: `START`, `END`
/// and the `REPORT` line, cut to the last 4 KB.
pub fn log_tail(request_id: &str, duration: Duration, memory: FunctionMemory) -> String {
    let mut report = format!(
        "REPORT RequestId: {request_id}\tDuration: {:.2} ms\tBilled Duration: {} ms",
        duration.as_secs_f64() * 1000.0,
        billed_milliseconds(duration)
    );
    if let Some(size) = memory.size_mb {
        report.push_str(&format!("\tMemory Size: {size} MB"));
    }
    if let Some(used) = memory.max_used_mb {
        report.push_str(&format!("\tMax Memory Used: {used} MB"));
    }
    let log = format!("START RequestId: {request_id} Version: $LATEST\nEND RequestId: {request_id}\n{report}\t\n");
    let bytes = log.as_bytes();
    let tail = &bytes[bytes.len().saturating_sub(LOG_TAIL_BYTES)..];
    base64::engine::general_purpose::STANDARD.encode(tail)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn billing_rounds_up_to_the_millisecond() {
        assert_eq!(billed_milliseconds(Duration::from_micros(2_000_001)), 2001);
        assert_eq!(billed_milliseconds(Duration::from_millis(2000)), 2000);
        assert_eq!(billed_milliseconds(Duration::from_nanos(1)), 1);
    }

    #[test]
    fn the_log_tail_ends_with_the_report_line() {
        let memory = FunctionMemory { size_mb: Some(2048), max_used_mb: Some(612) };
        let tail = log_tail("abc", Duration::from_micros(2_000_310), memory);
        let text = String::from_utf8(base64::engine::general_purpose::STANDARD.decode(tail).unwrap()).unwrap();
        let report = text.lines().last().unwrap();
        assert_eq!(
            report,
            "REPORT RequestId: abc\tDuration: 2000.31 ms\tBilled Duration: 2001 ms\tMemory Size: 2048 MB\tMax Memory Used: 612 MB\t"
        );
        assert!(text.starts_with("START RequestId: abc Version: $LATEST\n"));
    }

    #[test]
    fn memory_is_read_from_the_functions_processes() {
        // No process serves this name.
        assert_eq!(function_memory("no-such-function-anywhere"), FunctionMemory::default());
    }
}
