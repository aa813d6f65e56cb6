//! What the RenderJob controller remembers of each render between reconciles: one map of one
//! struct, keyed by render id. Lost on restart by design: everything needed to resume is in
//! the status and the bucket.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use remotion_protocol::money::Usd;

use super::invoke::LaunchOutcome;
use super::stall::Heartbeat;

/// What is remembered of one render.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RenderMemory {
    /// When its status was last written (the write throttle).
    pub last_write: Option<Instant>,
    /// When its progress document was last read.
    pub last_poll: Option<Instant>,
    /// How long after that it is read again (shorter near the render's end).
    pub poll_every: Option<Duration>,
    /// The newest progress seen, and when.
    pub heartbeat: Option<Heartbeat>,
    /// When its cancel signal was written.
    pub cancel_requested: Option<Instant>,
    /// Accrued cost already added to the cost metric.
    pub accrued: Option<Usd>,
    /// What became of the launch this process sent, if it sent one.
    pub launch: Option<LaunchOutcome>,
}

/// Every render's memory, shared by the reconciles and the launch tasks.
#[derive(Clone, Debug, Default)]
pub struct Memory {
    renders: Arc<Mutex<HashMap<String, RenderMemory>>>,
}

impl Memory {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, RenderMemory>> {
        self.renders.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A copy of what is remembered of `id` (nothing yet: the default).
    pub fn of(&self, id: &str) -> RenderMemory {
        self.lock().get(id).cloned().unwrap_or_default()
    }

    /// Changes what is remembered of `id`, starting from nothing when it is new.
    pub fn update<R>(&self, id: &str, change: impl FnOnce(&mut RenderMemory) -> R) -> R {
        change(self.lock().entry(id.to_owned()).or_default())
    }

    /// Changes what is remembered of `id` only when something is (a late answer for a render
    /// already finished and forgotten is not kept).
    pub fn update_if_known(&self, id: &str, change: impl FnOnce(&mut RenderMemory)) {
        if let Some(render) = self.lock().get_mut(id) {
            change(render);
        }
    }

    /// Forgets a render that ended or was deleted.
    pub fn forget(&self, id: &str) {
        self.lock().remove(id);
    }

    /// Keeps only the renders in `live`: a job that vanished without this process seeing it
    /// end (its finalizer removed by hand, a missed deletion) leaves nothing behind.
    pub fn retain(&self, live: &HashSet<String>) {
        self.lock().retain(|id, _| live.contains(id));
    }

    /// How many renders are remembered.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no render is remembered.
    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_of_vanished_renders_is_dropped() {
        let memory = Memory::default();
        for id in ["kept", "vanished"] {
            memory.update(id, |m| {
                m.last_write = Some(Instant::now());
                m.cancel_requested = Some(Instant::now());
                m.accrued = Some(Usd::ZERO);
            });
        }
        assert_eq!(memory.len(), 2);
        memory.retain(&HashSet::from(["kept".to_owned()]));
        assert_eq!(memory.len(), 1);
        assert!(memory.of("kept").accrued.is_some());
        assert_eq!(memory.of("vanished"), RenderMemory::default());
    }

    #[test]
    fn late_news_of_a_forgotten_render_is_not_kept() {
        let memory = Memory::default();
        memory.update_if_known("gone", |m| m.launch = Some(LaunchOutcome::Accepted));
        assert!(memory.is_empty());
        memory.update("live", |m| m.launch = Some(LaunchOutcome::InFlight));
        memory.update_if_known("live", |m| m.launch = Some(LaunchOutcome::Accepted));
        assert_eq!(memory.of("live").launch, Some(LaunchOutcome::Accepted));
        memory.forget("live");
        assert!(memory.is_empty());
    }
}
