//! Ctrl-C during `render` or `still`: on a terminal the user chooses between cancelling the
//! render and leaving it running; without a terminal nobody can answer, so the render is left
//! running (a CI job stopped by its runner must not cancel what it started for others).

use std::io::{IsTerminal as _, Write as _};

/// What to do with the render after Ctrl-C.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Choice {
    /// Set `spec.cancel` and wait until the job has stopped.
    Cancel,
    /// Leave the render running and exit.
    Detach,
}

/// Whether someone can answer a question: stdin and stderr are both terminals.
pub fn interactive() -> bool {
    std::io::stdin().is_terminal() && std::io::stderr().is_terminal()
}

/// Asks "Cancel the render? [y/N]" when `interactive`; a second Ctrl-C answers no.
pub async fn ask(interactive: bool) -> Choice {
    if !interactive {
        return Choice::Detach;
    }
    eprint!("Cancel the render? [y/N] ");
    let _ = std::io::stderr().flush();
    // stdin is read on a blocking thread; if a second Ctrl-C wins, the read is left behind and
    // the process exits without waiting for it (see main).
    let answer = tokio::task::spawn_blocking(|| {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line).map(|_| line)
    });
    tokio::select! {
        read = answer => match read {
            Ok(Ok(line)) => parse(&line),
            _ => Choice::Detach,
        },
        _ = tokio::signal::ctrl_c() => {
            eprintln!();
            Choice::Detach
        }
    }
}

/// `y` or `yes` (any case) cancels; anything else, an empty line included, does not.
pub fn parse(answer: &str) -> Choice {
    match answer.trim().to_ascii_lowercase().as_str() {
        "y" | "yes" => Choice::Cancel,
        _ => Choice::Detach,
    }
}

#[cfg(test)]
mod tests {
    use super::{Choice, parse};

    #[test]
    fn only_yes_cancels() {
        assert_eq!(parse("y\n"), Choice::Cancel);
        assert_eq!(parse(" YES \n"), Choice::Cancel);
        for no in ["\n", "n\n", "no", "maybe", ""] {
            assert_eq!(parse(no), Choice::Detach, "{no:?}");
        }
    }
}
