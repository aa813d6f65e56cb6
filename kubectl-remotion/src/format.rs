//! Numbers for people: durations, sizes, money, ages.

use std::time::Duration;

use k8s_openapi::jiff::Timestamp;

/// `0.8 s`, `46.2 s`, `3 min 05 s`, `1 h 02 min`.
pub fn duration(d: Duration) -> String {
    let secs = d.as_secs();
    if secs < 60 {
        format!("{:.1} s", d.as_secs_f64())
    } else if secs < 3600 {
        format!("{} min {:02} s", secs / 60, secs % 60)
    } else {
        format!("{} h {:02} min", secs / 3600, (secs % 3600) / 60)
    }
}

/// `812 B`, `1.4 kB`, `23.5 MB`, `1.20 GB` (decimal units, like `ls -h --si`).
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["kB", "MB", "GB", "TB"];
    if n < 1000 {
        return format!("{n} B");
    }
    let mut value = n as f64 / 1000.0;
    let mut unit = 0;
    while value >= 1000.0 && unit < UNITS.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    if value < 10.0 { format!("{value:.2} {}", UNITS[unit]) } else { format!("{value:.1} {}", UNITS[unit]) }
}

/// A dollar amount from the status's exact decimal string: `$0.00428`.
pub fn usd(amount: &str) -> String {
    format!("${amount}")
}

/// `1,234,567`.
pub fn thousands(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}

/// How long ago `then` was, as kubectl shows ages: `12s`, `4m`, `3h`, `2d`.
pub fn age(then: Timestamp, now: Timestamp) -> String {
    let secs = now.as_second().saturating_sub(then.as_second()).max(0);
    match secs {
        s if s < 120 => format!("{s}s"),
        s if s < 7200 => format!("{}m", s / 60),
        s if s < 172_800 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(duration(Duration::from_millis(800)), "0.8 s");
        assert_eq!(duration(Duration::from_millis(46_240)), "46.2 s");
        assert_eq!(duration(Duration::from_secs(185)), "3 min 05 s");
        assert_eq!(duration(Duration::from_secs(3720)), "1 h 02 min");
    }

    #[test]
    fn sizes() {
        assert_eq!(bytes(812), "812 B");
        assert_eq!(bytes(1_400), "1.40 kB");
        assert_eq!(bytes(23_456_789), "23.5 MB");
        assert_eq!(bytes(1_200_000_000), "1.20 GB");
    }

    #[test]
    fn counts_and_money() {
        assert_eq!(thousands(120_807), "120,807");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(-1_000), "-1,000");
        assert_eq!(usd("0.00428"), "$0.00428");
    }

    #[test]
    fn ages_like_kubectl() {
        let now = Timestamp::from_second(1_000_000).unwrap();
        let ago = |s: i64| age(Timestamp::from_second(1_000_000 - s).unwrap(), now);
        assert_eq!(
            (ago(5), ago(300), ago(4 * 3600), ago(3 * 86_400)),
            ("5s".into(), "5m".into(), "4h".into(), "3d".into())
        );
        assert_eq!(age(now, Timestamp::from_second(999_990).unwrap()), "0s", "clock skew is no negative age");
    }
}
