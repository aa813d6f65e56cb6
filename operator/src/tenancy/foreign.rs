//! Text from outside the operator's trust, made fit for a status or an Event.
//!
//! A tenant chooses its AWS-compatible endpoint, so the error answers of that endpoint are the
//! tenant's (or an attacker's) words: an answer copied whole into a condition would turn the
//! operator into a reader of whatever the endpoint reaches, and a multi-line, kilobyte-long
//! message breaks `kubectl get`. Only a short, one-line, printable excerpt passes.

/// Longest excerpt of a foreign message, in characters.
pub const MAX_MESSAGE_CHARS: usize = 200;
/// Longest error code accepted as it is (AWS's longest codes are about 40 characters).
const MAX_CODE_CHARS: usize = 64;

/// `text` as one line of printable characters (controls and runs of whitespace become one
/// space), at most `max_chars` long; a cut is marked with `…`.
pub fn one_line(text: &str, max_chars: usize) -> String {
    let mut out = String::with_capacity(text.len().min(max_chars * 4));
    let mut chars = 0;
    let mut pending_space = false;
    for c in text.chars() {
        if c.is_whitespace() || c.is_control() {
            pending_space = !out.is_empty();
            continue;
        }
        let needed = usize::from(pending_space) + 1;
        if chars + needed > max_chars {
            out.push('…');
            return out;
        }
        if pending_space {
            out.push(' ');
            pending_space = false;
        }
        out.push(c);
        chars += needed;
    }
    out
}

/// An error code as the service sent it, when it looks like one (letters, digits, `.`, `_`,
/// `-`); anything else is not repeated.
pub fn error_code(code: &str) -> &str {
    let plausible = !code.is_empty()
        && code.chars().count() <= MAX_CODE_CHARS
        && code.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if plausible { code } else { "UnreadableErrorCode" }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_become_one_short_printable_line() {
        let answer = "<Error>\n  <Code>AccessDenied</Code>\r\n\t<Message>no\u{7}  way</Message>\n</Error>\n";
        assert_eq!(one_line(answer, 200), "<Error> <Code>AccessDenied</Code> <Message>no way</Message> </Error>");
        let long = "secret ".repeat(1000);
        let cut = one_line(&long, MAX_MESSAGE_CHARS);
        assert_eq!(cut.chars().count(), MAX_MESSAGE_CHARS + 1);
        assert!(cut.ends_with('…'));
        assert_eq!(one_line("é".repeat(10).as_str(), 4), "éééé…");
        assert_eq!(one_line("  ", 10), "");
    }

    #[test]
    fn only_plausible_codes_pass() {
        assert_eq!(error_code("NoSuchBucket"), "NoSuchBucket");
        assert_eq!(error_code("Throttling.Exception_2-x"), "Throttling.Exception_2-x");
        assert_eq!(error_code("<html>hello</html>"), "UnreadableErrorCode");
        assert_eq!(error_code(&"A".repeat(65)), "UnreadableErrorCode");
        assert_eq!(error_code(""), "UnreadableErrorCode");
    }
}
