//! The local lane: chunks the orchestrator renders in its own process, one at a time, with the
//! same code a `render` invocation runs. The orchestrator holds a slot of the function's
//! capacity itself; rendering here keeps that slot busy while the remote lane is full,
//! throttled or given no slots at all.

use std::sync::Arc;

use remotion_protocol::payload::{ErrorKind, RenderRequest};
use tokio::sync::{Mutex, watch};

use super::cancel::cancelled;
use super::chunk;
use super::invoke::{ChunkInvoker, Invoked, Outcome};
use crate::error::RenderError;

/// Renders chunks in this process. An invocation whose future is dropped (the scheduler cut
/// the chunk off at its deadline, or stopped) stops its render: the render runs on a task of
/// its own so that it can release the browser and leave nothing running behind.
#[derive(Clone)]
pub struct LocalInvoker {
    s3: aws_sdk_s3::Client,
    cancel: watch::Receiver<bool>,
    /// Held by the chunk rendering now, until it has wound down: one browser, one chunk.
    turn: Arc<Mutex<()>>,
}

impl LocalInvoker {
    /// A local lane writing chunks through `s3`, stopping when `cancel` turns true.
    pub fn new(s3: aws_sdk_s3::Client, cancel: watch::Receiver<bool>) -> Self {
        Self { s3, cancel, turn: Arc::default() }
    }

    /// Waits until no chunk renders here any more (a stopped one has released the browser and
    /// uploads nothing after this).
    pub async fn idle(&self) {
        let _turn = self.turn.lock().await;
    }
}

/// Stops the render of an invocation when the invocation is dropped.
struct StopOnDrop(watch::Sender<bool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        let _ = self.0.send(true);
    }
}

impl ChunkInvoker for LocalInvoker {
    async fn invoke(&self, request: RenderRequest) -> Invoked {
        let (stop, stopped) = watch::channel(false);
        let _stop_on_drop = StopOnDrop(stop);
        let (s3, cancel, turn) = (self.s3.clone(), self.cancel.clone(), self.turn.clone());
        let task = tokio::spawn(async move {
            let _turn = turn.lock_owned().await;
            // Dropped while waiting for the previous chunk to wind down: start nothing.
            if *stopped.borrow() || *cancel.borrow() {
                return Err(RenderError::Cancelled);
            }
            let stop = async move {
                tokio::select! {
                    () = cancelled(cancel) => {}
                    () = cancelled(stopped) => {}
                }
            };
            chunk::render(&request, &s3, stop).await
        });
        let outcome = match task.await {
            Ok(Ok(answer)) => Outcome::Rendered(answer),
            Ok(Err(e)) => Outcome::Failed { kind: e.kind(), message: e.to_string() },
            Err(e) => {
                Outcome::Failed { kind: ErrorKind::Internal, message: format!("the local chunk task failed: {e}") }
            }
        };
        // Its time is the orchestrator's own invocation's, billed once as that.
        Invoked { outcome, billed_milliseconds: None }
    }
}
