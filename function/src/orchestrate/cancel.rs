//! Cancellation: whoever wants a render stopped writes `renders/<id>/cancel`; the orchestrator
//! and every renderer poll for it and stop within 2 s.

use std::future::Future;
use std::time::Duration;

use tokio::sync::watch;

use crate::error::RenderError;
use crate::storage;

/// How often the cancel object is looked for (half the 2 s the protocol promises, leaving time
/// for the stop itself).
pub const POLL_INTERVAL: Duration = Duration::from_secs(1);

/// Polls the cancel object until dropped; [`CancelWatch::signal`] turns true when it appears.
pub struct CancelWatch {
    receiver: watch::Receiver<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl CancelWatch {
    /// Starts polling `s3://bucket/key`. `on_poll` is called for each request made (cost
    /// accounting). A failed poll is retried at the next interval: a flaky store must not
    /// cancel a render, and a real cancel is still seen a second later.
    pub fn start(
        s3: aws_sdk_s3::Client,
        bucket: String,
        key: String,
        on_poll: impl Fn() + Send + Sync + 'static,
    ) -> Self {
        let (sender, receiver) = watch::channel(false);
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(POLL_INTERVAL);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                on_poll();
                match tokio::time::timeout(POLL_INTERVAL, storage::exists(&s3, &bucket, &key)).await {
                    Ok(Ok(true)) => {
                        let _ = sender.send(true);
                        return;
                    }
                    Ok(Ok(false)) => {}
                    Ok(Err(e)) => tracing::warn!("could not check for cancellation: {e}"),
                    Err(_) => tracing::warn!("checking for cancellation timed out"),
                }
            }
        });
        Self { receiver, task }
    }

    /// A receiver that turns true when the render is cancelled.
    pub fn signal(&self) -> watch::Receiver<bool> {
        self.receiver.clone()
    }
}

impl Drop for CancelWatch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Resolves when `signal` turns true (never, if its sender is gone without cancelling).
pub async fn cancelled(mut signal: watch::Receiver<bool>) {
    if signal.wait_for(|c| *c).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// Runs `work` unless the render is cancelled first.
pub async fn unless_cancelled<T>(
    signal: &watch::Receiver<bool>,
    work: impl Future<Output = Result<T, RenderError>>,
) -> Result<T, RenderError> {
    tokio::select! {
        biased;
        () = cancelled(signal.clone()) => Err(RenderError::Cancelled),
        result = work => result,
    }
}
