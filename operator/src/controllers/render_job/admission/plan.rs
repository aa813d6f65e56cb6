//! Who runs next on a function, and with how many slots: a pure function of the function's
//! capacity, the renders holding slots and the renders waiting.
//!
//! Order: higher `priority` first; among equal priorities, round-robin over namespaces (the
//! namespace with the fewest renders running on the function, then the one served longest
//! ago); within a namespace, oldest first. So one namespace with 500 jobs queued cannot starve
//! another's single job: that job is at most one admission away from the front.
//!
//! Slots: a render holds one slot for its orchestrator, which renders chunks itself, plus its
//! share of chunk invocations. Each admitted render gets `free / waiting` slots (at least one,
//! at most what its chunks can use), so that many renders share a small function side by side
//! and a lone render gets the whole function.

use std::cmp::{Ordering, Reverse};
use std::collections::{BinaryHeap, HashMap};

use remotion_crds::Reason;

/// What a function allows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Limits {
    /// Invocations that may run at once, over all renders. `None`: unknown; nothing waits.
    pub capacity: Option<u32>,
    /// Renders of one namespace running at once.
    pub per_namespace: Option<u32>,
}

/// A render holding slots of the function.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Occupant<'a> {
    /// Its job's UID.
    pub uid: &'a str,
    /// Its namespace.
    pub namespace: &'a str,
    /// Slots it holds (its orchestrator included).
    pub slots: u32,
    /// `spec.priority` of a launched render; `None` for one admitted and not launched yet,
    /// whose share cannot change until it runs.
    pub priority: Option<i32>,
}

/// A render ready to launch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Candidate<'a> {
    /// Its job's UID.
    pub uid: &'a str,
    /// Its job's name (orders jobs created in the same second, the timestamps' precision).
    pub name: &'a str,
    /// Its namespace.
    pub namespace: &'a str,
    /// `spec.priority`.
    pub priority: i32,
    /// Creation time, ms since the epoch.
    pub created_ms: i64,
    /// Slots its chunks could use at most (its chunk count; 1 for a still).
    pub wanted: u32,
}

/// Where a candidate stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Place {
    /// Launch now with this many slots (orchestrator included).
    Admit {
        /// Slots, at least 1.
        slots: u32,
    },
    /// Wait.
    Wait {
        /// `Queued` (no free slot) or `NamespaceLimit`.
        reason: Reason,
        /// 1-based position among the waiting candidates of the function.
        position: u32,
    },
}

/// The places of every candidate of one function.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// By UID.
    pub places: HashMap<String, Place>,
    /// Slots held before this plan's admissions.
    pub in_use: u32,
    /// Candidates left waiting.
    pub waiting: u32,
}

impl Plan {
    /// The UIDs this plan admits.
    pub fn admitted(&self) -> impl Iterator<Item = (&str, u32)> {
        self.places.iter().filter_map(|(uid, place)| match place {
            Place::Admit { slots } => Some((uid.as_str(), *slots)),
            Place::Wait { .. } => None,
        })
    }
}

/// Candidates of one namespace, best first, with the state round-robin needs.
struct Lane<'a> {
    namespace: &'a str,
    /// Best last, so the next one is popped off the end.
    queue: Vec<Candidate<'a>>,
    running: u32,
    served: u64,
}

impl Lane<'_> {
    fn head(&self) -> Option<&Candidate<'_>> {
        self.queue.last()
    }

    /// Heap key: higher priority, fewer running, served longer ago, older head, then name.
    fn key(&self) -> (i32, Reverse<u32>, Reverse<u64>, Reverse<i64>, Reverse<&str>) {
        let head = self.head();
        (
            head.map_or(i32::MIN, |c| c.priority),
            Reverse(self.running),
            Reverse(self.served),
            Reverse(head.map_or(i64::MAX, |c| c.created_ms)),
            Reverse(self.namespace),
        )
    }
}

struct ByKey<'a>(Lane<'a>);

impl PartialEq for ByKey<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for ByKey<'_> {}
impl PartialOrd for ByKey<'_> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for ByKey<'_> {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.key().cmp(&other.0.key())
    }
}

/// Within a namespace: higher priority, then older, then by name (creation times have whole
/// seconds only, and jobs created together are usually numbered), then UID.
fn best_first(a: &Candidate<'_>, b: &Candidate<'_>) -> Ordering {
    b.priority.cmp(&a.priority).then(a.created_ms.cmp(&b.created_ms)).then(a.name.cmp(b.name)).then(a.uid.cmp(b.uid))
}

/// Places every candidate. `served` holds, per namespace, a tick of its last admission (higher
/// is more recent); namespaces absent from it were never served.
pub fn plan(
    limits: Limits,
    occupants: &[Occupant<'_>],
    candidates: &[Candidate<'_>],
    served: &HashMap<String, u64>,
) -> Plan {
    let in_use: u32 = occupants.iter().map(|o| o.slots).sum();
    let mut running: HashMap<&str, u32> = HashMap::new();
    for occupant in occupants {
        *running.entry(occupant.namespace).or_default() += 1;
    }
    let mut by_namespace: HashMap<&str, Vec<Candidate<'_>>> = HashMap::new();
    for candidate in candidates {
        by_namespace.entry(candidate.namespace).or_default().push(*candidate);
    }
    let mut heap: BinaryHeap<ByKey<'_>> = by_namespace
        .into_iter()
        .map(|(namespace, mut queue)| {
            queue.sort_by(|a, b| best_first(b, a));
            ByKey(Lane {
                namespace,
                queue,
                running: running.get(namespace).copied().unwrap_or(0),
                served: served.get(namespace).copied().unwrap_or(0),
            })
        })
        .collect();

    let mut plan = Plan { in_use, ..Plan::default() };
    let mut free = limits.capacity.map(|c| c.saturating_sub(in_use));
    let mut left = candidates.len() as u32;
    let mut tick = served.values().copied().max().unwrap_or(0);
    let mut position = 0;
    while let Some(ByKey(mut lane)) = heap.pop() {
        let Some(candidate) = lane.queue.pop() else { continue };
        left -= 1;
        let limited = limits.per_namespace.is_some_and(|limit| lane.running >= limit);
        let place = if limited {
            position += 1;
            Place::Wait { reason: Reason::NamespaceLimit, position }
        } else {
            match free {
                None => Place::Admit { slots: candidate.wanted.max(1) },
                Some(0) => {
                    position += 1;
                    Place::Wait { reason: Reason::Queued, position }
                }
                Some(available) => {
                    // An even split of what is free among those still waiting for it.
                    let fair = (available / (left + 1)).max(1);
                    let slots = candidate.wanted.max(1).min(fair).min(available);
                    free = Some(available - slots);
                    Place::Admit { slots }
                }
            }
        };
        if matches!(place, Place::Admit { .. }) {
            lane.running += 1;
            tick += 1;
            lane.served = tick;
        } else {
            plan.waiting += 1;
        }
        plan.places.insert(candidate.uid.to_owned(), place);
        if lane.head().is_some() {
            heap.push(ByKey(lane));
        }
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candidate<'a>(uid: &'a str, namespace: &'a str, priority: i32, created_ms: i64, wanted: u32) -> Candidate<'a> {
        Candidate { uid, name: uid, namespace, priority, created_ms, wanted }
    }

    fn limits(capacity: u32) -> Limits {
        Limits { capacity: Some(capacity), per_namespace: None }
    }

    fn admitted(plan: &Plan) -> Vec<(String, u32)> {
        let mut v: Vec<_> = plan.admitted().map(|(u, s)| (u.to_owned(), s)).collect();
        v.sort();
        v
    }

    fn position(plan: &Plan, uid: &str) -> u32 {
        match plan.places[uid] {
            Place::Wait { position, .. } => position,
            Place::Admit { .. } => 0,
        }
    }

    #[test]
    fn a_lone_render_gets_what_its_chunks_can_use_and_no_more() {
        let plan = plan(limits(10), &[], &[candidate("a", "ns", 0, 1, 4)], &HashMap::new());
        assert_eq!(admitted(&plan), [("a".to_owned(), 4)]);
        let plan = super::plan(limits(3), &[], &[candidate("a", "ns", 0, 1, 40)], &HashMap::new());
        assert_eq!(admitted(&plan), [("a".to_owned(), 3)]);
    }

    #[test]
    fn free_slots_are_split_between_the_waiting_renders_at_least_one_each() {
        let cands: Vec<_> =
            ["a", "b", "c", "d", "e"].iter().enumerate().map(|(i, u)| candidate(u, "ns", 0, i as i64, 10)).collect();
        let plan = plan(limits(4), &[], &cands, &HashMap::new());
        // Four renders of one slot each (their orchestrators render the chunks); the fifth waits.
        assert_eq!(admitted(&plan), [("a".into(), 1), ("b".into(), 1), ("c".into(), 1), ("d".into(), 1)]);
        assert_eq!(plan.places["e"], Place::Wait { reason: Reason::Queued, position: 1 });
        let two = super::plan(limits(4), &[], &cands[..2], &HashMap::new());
        assert_eq!(admitted(&two), [("a".into(), 2), ("b".into(), 2)]);
    }

    #[test]
    fn nothing_is_admitted_beyond_the_capacity() {
        let occupants = [Occupant { uid: "running", namespace: "ns", slots: 3, priority: Some(0) }];
        let plan = plan(limits(3), &occupants, &[candidate("a", "ns", 0, 1, 1)], &HashMap::new());
        assert_eq!(plan.places["a"], Place::Wait { reason: Reason::Queued, position: 1 });
        assert_eq!((plan.in_use, plan.waiting), (3, 1));
    }

    #[test]
    fn an_unknown_capacity_queues_nothing() {
        let plan = plan(
            Limits::default(),
            &[Occupant { uid: "running", namespace: "ns", slots: 500, priority: Some(0) }],
            &[candidate("a", "ns", 0, 1, 7)],
            &HashMap::new(),
        );
        assert_eq!(admitted(&plan), [("a".to_owned(), 7)]);
    }

    #[test]
    fn higher_priority_goes_first_then_the_oldest() {
        let cands =
            [candidate("old", "ns", 0, 1, 1), candidate("urgent", "ns", 5, 9, 1), candidate("new", "ns", 0, 5, 1)];
        let plan = plan(limits(1), &[], &cands, &HashMap::new());
        assert_eq!(admitted(&plan), [("urgent".to_owned(), 1)]);
        assert_eq!((position(&plan, "old"), position(&plan, "new")), (1, 2));
    }

    #[test]
    fn namespaces_take_turns_so_a_flood_does_not_starve_a_single_job() {
        let names: Vec<String> = (0..500).map(|i| format!("flood-{i}")).collect();
        let mut cands: Vec<_> = names.iter().zip(0..).map(|(n, i)| candidate(n, "team-a", 0, i, 3)).collect();
        cands.push(candidate("single", "team-b", 0, 10_000, 3));
        // team-a already runs one render on a one-slot function: team-b's job is next.
        let occupants = [Occupant { uid: "running", namespace: "team-a", slots: 1, priority: Some(0) }];
        let plan = plan(limits(1), &occupants, &cands, &HashMap::new());
        assert_eq!(position(&plan, "single"), 1);
        // With a free slot and nobody running, the oldest goes first and team-b right after.
        let plan = super::plan(limits(1), &[], &cands, &HashMap::new());
        assert_eq!(admitted(&plan), [("flood-0".to_owned(), 1)]);
        assert_eq!(position(&plan, "single"), 1);
        assert_eq!(position(&plan, "flood-1"), 2);
    }

    #[test]
    fn the_namespace_served_longest_ago_goes_first_among_equals() {
        let cands = [candidate("a1", "a", 0, 1, 1), candidate("b1", "b", 0, 2, 1)];
        let served = HashMap::from([("a".to_owned(), 7), ("b".to_owned(), 3)]);
        let plan = plan(limits(1), &[], &cands, &served);
        assert_eq!(admitted(&plan), [("b1".to_owned(), 1)]);
    }

    #[test]
    fn the_namespace_limit_holds_its_jobs_and_lets_others_pass() {
        let limits = Limits { capacity: Some(10), per_namespace: Some(2) };
        let occupants = [Occupant { uid: "running", namespace: "a", slots: 1, priority: Some(0) }];
        let cands = [candidate("a1", "a", 0, 1, 1), candidate("a2", "a", 0, 2, 1), candidate("b1", "b", 0, 3, 1)];
        let plan = plan(limits, &occupants, &cands, &HashMap::new());
        assert_eq!(admitted(&plan), [("a1".to_owned(), 1), ("b1".to_owned(), 1)]);
        assert!(matches!(plan.places["a2"], Place::Wait { reason: Reason::NamespaceLimit, .. }));
    }

    #[test]
    fn ten_thousand_waiting_renders_are_planned_quickly() {
        let names: Vec<String> = (0..10_000).map(|i| format!("job-{i}")).collect();
        let namespaces = ["a", "b", "c"];
        let cands: Vec<_> = names
            .iter()
            .enumerate()
            .map(|(i, n)| candidate(n, namespaces[i % 3], (i % 2) as i32, i as i64, 5))
            .collect();
        let started = std::time::Instant::now();
        let plan = plan(
            limits(4),
            &[Occupant { uid: "running", namespace: "a", slots: 2, priority: Some(0) }],
            &cands,
            &HashMap::new(),
        );
        assert_eq!(plan.admitted().count(), 2);
        assert_eq!(plan.waiting, 9_998);
        assert!(started.elapsed() < std::time::Duration::from_millis(500), "{:?}", started.elapsed());
    }
}
