//! Where the unfinished chunks of a render stand: what an orchestrator hands over to its
//! continuation, saved with the render's continuation state.

use serde::{Deserialize, Serialize};

/// Where the unfinished chunks of a render stand.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Standing {
    /// Chunks to start, in this order.
    pub pending: Vec<Queued>,
    /// Remote chunks running, invoked by an earlier invocation of the orchestrator.
    pub in_flight: Vec<InFlight>,
}

impl Standing {
    /// Every chunk of a render of `chunks` chunks still to start, at its first attempt.
    pub fn fresh(chunks: u32) -> Self {
        Self { pending: (0..chunks).map(|index| Queued { index, attempt: 1 }).collect(), in_flight: Vec::new() }
    }

    /// No chunk is left.
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty() && self.in_flight.is_empty()
    }
}

/// A chunk waiting to start.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Queued {
    /// Chunk index.
    pub index: u32,
    /// The attempt it starts as (1 for the first).
    pub attempt: u32,
}

/// A remote chunk whose invocation was running when the orchestrator handed over.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InFlight {
    /// Chunk index.
    pub index: u32,
    /// Its attempt.
    pub attempt: u32,
    /// When it was invoked, ms since the Unix epoch.
    pub started_at_ms: u64,
    /// When it is cut off and retried unless it has finished, ms since the Unix epoch.
    pub deadline_at_ms: u64,
}
