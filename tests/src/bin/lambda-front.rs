//! `lambda-front <port> <emulator URL>`: the harness's [`LambdaFront`] as a process of its own,
//! for the main job (`scripts/main-job.sh`), so that the operator and the render function meet
//! Lambda's answers there too, not the emulator's.

use anyhow::{Context, Result};
use remotion_tests::lambda_front::LambdaFront;

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let usage = "usage: lambda-front <port> <emulator URL>";
    let port: u16 = args.next().context(usage)?.parse().context(usage)?;
    let upstream = args.next().context(usage)?;
    let front = LambdaFront::start_on(port, upstream)?;
    eprintln!("lambda-front: {} in front of the emulator", front.endpoint);
    loop {
        std::thread::park();
    }
}
