//! `kubectl-remotion`: the kubectl plugin binary (`kubectl remotion …`). See the library for
//! what each command does.

use clap::Parser;
use kubectl_remotion::{Exit, args::Cli};

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    let exit = match kubectl_remotion::run(cli).await {
        Ok(exit) => exit,
        Err(error) => {
            eprintln!("error: {error:#}");
            Exit::Failure
        }
    };
    // Exit at once: a Ctrl-C prompt may have left a blocking read of stdin behind, which the
    // runtime would otherwise wait for.
    std::process::exit(exit.code());
}
