//! The render's share of the render function's capacity, as the operator re-divides it between
//! running renders: `renders/<id>/allotment.json` ([`Allotment`]), read every 2 s while chunks
//! remain. It caps the remote lane only; the orchestrator's own lane is always there.

use std::time::Duration;

use remotion_protocol::payload::Allotment;
use tokio::sync::watch;

use crate::error::RenderError;
use crate::storage;

/// How often the allotment is read.
pub const POLL_INTERVAL: Duration = Duration::from_secs(2);

/// Why a read of the allotment told nothing.
#[derive(Debug, thiserror::Error)]
pub enum AllotmentError {
    /// The store did not answer as it should.
    #[error("could not read the allotment: {0}")]
    Read(#[from] RenderError),
    /// The object is not an allotment.
    #[error("the allotment is not {{\"chunkSlots\": <n>}}: {0}")]
    Parse(#[from] serde_json::Error),
    /// The store took longer than a poll interval.
    #[error("reading the allotment timed out")]
    TimedOut,
}

/// Polls the allotment until dropped; [`AllotmentWatch::cap`] follows its `chunkSlots`.
pub struct AllotmentWatch {
    receiver: watch::Receiver<u32>,
    task: tokio::task::JoinHandle<()>,
}

impl AllotmentWatch {
    /// Starts reading `s3://bucket/key` now and every [`POLL_INTERVAL`], from the cap
    /// `initial`. `on_poll` is called for each request made (cost accounting). A missing object
    /// keeps the cap (the operator has not re-divided anything); so does a failed or unreadable
    /// one, which is logged: a flaky store must not stop or flood a render.
    pub fn start(
        s3: aws_sdk_s3::Client,
        bucket: String,
        key: String,
        initial: u32,
        on_poll: impl Fn() + Send + Sync + 'static,
    ) -> Self {
        Self::start_every(POLL_INTERVAL, s3, bucket, key, initial, on_poll)
    }

    fn start_every(
        interval: Duration,
        s3: aws_sdk_s3::Client,
        bucket: String,
        key: String,
        initial: u32,
        on_poll: impl Fn() + Send + Sync + 'static,
    ) -> Self {
        let (sender, receiver) = watch::channel(initial);
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                on_poll();
                let read = match tokio::time::timeout(interval, storage::get(&s3, &bucket, &key)).await {
                    Ok(read) => parse(read),
                    Err(_) => Err(AllotmentError::TimedOut),
                };
                match read {
                    Ok(Some(slots)) => {
                        sender.send_if_modified(|cap| {
                            let changed = *cap != slots;
                            if changed {
                                tracing::info!(from = *cap, to = slots, "remote chunk slots changed");
                            }
                            *cap = slots;
                            changed
                        });
                    }
                    Ok(None) => {}
                    Err(e) => tracing::warn!("{e}; keeping {} remote chunk slots", *sender.borrow()),
                }
            }
        });
        Self { receiver, task }
    }

    /// The remote lane's cap, as last read.
    pub fn cap(&self) -> watch::Receiver<u32> {
        self.receiver.clone()
    }
}

impl Drop for AllotmentWatch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The chunk slots one read of the allotment object gives; `None` when there is no object.
fn parse(read: Result<Option<Vec<u8>>, RenderError>) -> Result<Option<u32>, AllotmentError> {
    match read? {
        Some(bytes) => Ok(Some(serde_json::from_slice::<Allotment>(&bytes)?.chunk_slots)),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::{Arc, Mutex};

    use super::*;

    /// A store answering every request with `answer` (status and body), counting requests.
    async fn store(answer: Arc<Mutex<(u16, String)>>, requests: Arc<AtomicU64>) -> aws_sdk_s3::Client {
        crate::storage::test_store(move |_, _| answer.lock().unwrap().clone(), requests).await
    }

    async fn wait_for(cap: &mut watch::Receiver<u32>, slots: u32) {
        let reached = tokio::time::timeout(Duration::from_secs(5), cap.wait_for(|c| *c == slots)).await;
        assert!(reached.is_ok_and(|r| r.is_ok()), "the cap never became {slots}; it is {}", *cap.borrow());
    }

    #[tokio::test]
    async fn the_cap_follows_the_allotment_and_holds_when_there_is_none_or_it_is_unreadable() {
        let answer = Arc::new(Mutex::new((200, r#"{"chunkSlots": 4}"#.to_owned())));
        let requests = Arc::new(AtomicU64::new(0));
        let s3 = store(answer.clone(), requests.clone()).await;
        let polls = Arc::new(AtomicU64::new(0));
        let counted = polls.clone();
        let interval = Duration::from_millis(50);
        let watch =
            AllotmentWatch::start_every(interval, s3, "b".into(), "renders/r/allotment.json".into(), 2, move || {
                counted.fetch_add(1, Ordering::SeqCst);
            });
        let mut cap = watch.cap();
        assert_eq!(*cap.borrow(), 2, "the launch's cap until the allotment is read");
        wait_for(&mut cap, 4).await;

        for (status, body) in [
            (404, "<Error><Code>NoSuchKey</Code><Message>gone</Message></Error>"),
            (200, "not json"),
            (500, "<Error><Code>InternalError</Code><Message>down</Message></Error>"),
        ] {
            *answer.lock().unwrap() = (status, body.to_owned());
            let seen = requests.load(Ordering::SeqCst);
            while requests.load(Ordering::SeqCst) < seen + 3 {
                tokio::time::sleep(interval).await;
            }
            assert_eq!(*cap.borrow(), 4, "a {status} answer ({body}) keeps the cap");
        }

        *answer.lock().unwrap() = (200, r#"{"chunkSlots": 0}"#.to_owned());
        wait_for(&mut cap, 0).await;
        drop(watch);
        let (made, counted) = (requests.load(Ordering::SeqCst), polls.load(Ordering::SeqCst));
        assert!(made >= 11, "{made} requests");
        assert!(counted.abs_diff(made) <= 1, "every request is counted: {counted} counted, {made} made");
    }

    #[test]
    fn a_read_gives_the_slots_or_nothing_to_change() {
        assert_eq!(parse(Ok(Some(br#"{"chunkSlots": 5}"#.to_vec()))).unwrap(), Some(5));
        assert_eq!(parse(Ok(Some(br#"{"chunkSlots": 0}"#.to_vec()))).unwrap(), Some(0));
        assert_eq!(parse(Ok(None)).unwrap(), None, "no allotment: the launch's cap holds");
        assert!(matches!(parse(Ok(Some(b"{\"chunkSlots\": -1}".to_vec()))), Err(AllotmentError::Parse(_))));
        assert!(matches!(parse(Ok(Some(b"<html>".to_vec()))), Err(AllotmentError::Parse(_))));
        let failed = parse(Err(RenderError::Storage("connection reset".into())));
        assert!(matches!(failed, Err(AllotmentError::Read(_))));
    }
}
