//! A fake renderer for the scheduler's tests: scripted throttles, failures and hangs per
//! chunk and attempt, and a record of what ran where and when.

use std::collections::HashSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};

use super::super::*;

/// What the fake renderer does on the n-th invocation of a chunk (1-based); afterwards it renders.
#[derive(Clone, Copy)]
pub(super) enum Script {
    Throttle,
    /// Lambda's own 5xx: no answer from the function, which did not run.
    Unanswered,
    Fail(ErrorKind),
    Hang,
}

/// Chunks running on any lane, shared by the fakes of one run: a chunk must never run on
/// two at once.
#[derive(Default)]
pub(super) struct Busy {
    pub(super) chunks: Mutex<HashSet<u32>>,
    pub(super) overlaps: Mutex<Vec<u32>>,
}

pub(super) struct FakeInvoker {
    pub(super) script: Mutex<HashMap<(u32, u32), Script>>,
    pub(super) calls: Mutex<HashMap<u32, u32>>,
    pub(super) in_flight: AtomicU32,
    pub(super) max_in_flight: AtomicU32,
    /// Chunks this invoker rendered, in the order it did.
    pub(super) rendered: Mutex<Vec<u32>>,
    /// Time of each start and the invocations in flight with it.
    pub(super) starts: Mutex<Vec<(Instant, u32)>>,
    pub(super) busy: Arc<Busy>,
    /// How long each invocation takes.
    pub(super) delay: Duration,
    /// Chunks followed: index, attempt and the start they were given.
    pub(super) followed: Mutex<Vec<(u32, u32, u64)>>,
}

impl FakeInvoker {
    pub(super) fn new(script: &[((u32, u32), Script)]) -> Arc<Self> {
        Self::sharing(script, Arc::default(), Duration::from_millis(20))
    }

    pub(super) fn sharing(script: &[((u32, u32), Script)], busy: Arc<Busy>, delay: Duration) -> Arc<Self> {
        Arc::new(Self {
            script: Mutex::new(script.iter().copied().collect()),
            calls: Mutex::default(),
            in_flight: AtomicU32::new(0),
            max_in_flight: AtomicU32::new(0),
            rendered: Mutex::default(),
            starts: Mutex::default(),
            busy,
            delay,
            followed: Mutex::default(),
        })
    }

    pub(super) fn calls(&self) -> u32 {
        self.calls.lock().unwrap().values().sum()
    }
}

/// Leaves the shared record of running chunks when the invocation ends or is dropped.
struct Running<'a>(&'a Busy, u32);

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.chunks.lock().unwrap().remove(&self.1);
    }
}

impl ChunkInvoker for FakeInvoker {
    async fn invoke(&self, request: RenderRequest) -> Invoked {
        let n = {
            let mut calls = self.calls.lock().unwrap();
            let n = calls.entry(request.chunk).or_default();
            *n += 1;
            *n
        };
        if !self.busy.chunks.lock().unwrap().insert(request.chunk) {
            self.busy.overlaps.lock().unwrap().push(request.chunk);
        }
        let _running = Running(&self.busy, request.chunk);
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_in_flight.fetch_max(now, Ordering::SeqCst);
        self.starts.lock().unwrap().push((Instant::now(), now));
        let step = self.script.lock().unwrap().get(&(request.chunk, n)).copied();
        tokio::time::sleep(self.delay).await;
        let outcome = match step {
            Some(Script::Throttle) => Outcome::Throttled("Rate Exceeded".into()),
            Some(Script::Unanswered) => {
                self.in_flight.fetch_sub(1, Ordering::SeqCst);
                return Invoked { outcome: Outcome::Unreachable("ServiceException".into()), billed_milliseconds: None };
            }
            Some(Script::Fail(kind)) => Outcome::Failed { kind, message: format!("scripted {kind:?}") },
            Some(Script::Hang) => std::future::pending().await,
            None => {
                self.rendered.lock().unwrap().push(request.chunk);
                let frames = request.frames.len(1);
                Outcome::Rendered(RenderResponse {
                    chunk: request.chunk,
                    attempt: request.attempt,
                    key: request.chunk_key.clone(),
                    size_bytes: 10,
                    frames,
                    frame_milliseconds: vec![5; frames as usize],
                    duration_ms: 100,
                    phases: Default::default(),
                    progress_writes: 0,
                    artifacts: Vec::new(),
                    tabs: 1,
                })
            }
        };
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        Invoked { outcome, billed_milliseconds: Some(100) }
    }
}

/// As a follower, the fake waits for a chunk as it would render it (its script says how
/// the chunk ends), and records the start it was given.
impl ChunkFollower for FakeInvoker {
    async fn follow(&self, request: RenderRequest, started_at_ms: u64) -> Invoked {
        self.followed.lock().unwrap().push((request.chunk, request.attempt, started_at_ms));
        let mut invoked = self.invoke(request).await;
        // What a followed chunk costs is the scheduler's to tell, from the chunk's start.
        invoked.billed_milliseconds = None;
        invoked
    }
}
