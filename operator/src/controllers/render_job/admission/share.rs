//! How much of a function a running render gives back when renders wait for it: a pure
//! function of the capacity, the renders holding slots and the priorities of those waiting.
//!
//! A render admitted alone may hold the whole function. When others then queue with nothing
//! free, each running render keeps an even share of the capacity between the running renders
//! and as many waiting ones as could start beside them (one slot each at least), so a job that
//! arrives behind a long render starts as soon as that render's surplus chunks finish, not when
//! the whole render ends. Only renders waiting at the same or a higher priority count against a
//! running render: a low-priority backlog never slows an urgent render down.

use super::plan::Occupant;

/// The smaller share each running render should keep, as (UID, slots) pairs; empty when no
/// render should give anything back. `waiting` holds the priorities of the renders that wait
/// for a free slot (not those held back by their namespace's limit).
pub fn shares_to_give_back<'a>(capacity: u32, occupants: &[Occupant<'a>], waiting: &[i32]) -> Vec<(&'a str, u32)> {
    let running = occupants.len() as u32;
    let room_for = capacity.saturating_sub(running);
    if room_for == 0 {
        // Every running render would keep one slot at most: no share can make room.
        return Vec::new();
    }
    occupants
        .iter()
        .filter_map(|occupant| {
            let priority = occupant.priority?;
            let contenders = waiting.iter().filter(|&&p| p >= priority).count() as u32;
            if contenders == 0 {
                return None;
            }
            let share = (capacity / (running + contenders.min(room_for))).max(1);
            (occupant.slots > share).then_some((occupant.uid, share))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn running<'a>(uid: &'a str, slots: u32, priority: Option<i32>) -> Occupant<'a> {
        Occupant { uid, namespace: "ns", slots, priority }
    }

    #[test]
    fn a_render_holding_the_function_shares_it_with_the_first_render_waiting() {
        let holder = [running("holder", 4, Some(0))];
        assert_eq!(shares_to_give_back(4, &holder, &[0]), [("holder", 2)]);
        // Many waiting: one slot each for as many renders as fit beside it.
        assert_eq!(shares_to_give_back(4, &holder, &[0; 500]), [("holder", 1)]);
        assert_eq!(shares_to_give_back(9, &[running("holder", 9, Some(0))], &[0, 0]), [("holder", 3)]);
        // Nobody waiting: nothing to give.
        assert!(shares_to_give_back(4, &holder, &[]).is_empty());
    }

    #[test]
    fn only_renders_waiting_at_the_same_priority_or_above_count() {
        let urgent = [running("urgent", 4, Some(10))];
        assert!(shares_to_give_back(4, &urgent, &[0, 9, -5]).is_empty());
        assert_eq!(shares_to_give_back(4, &urgent, &[0, 10]), [("urgent", 2)]);
        let low = [running("batch", 4, Some(-1))];
        assert_eq!(shares_to_give_back(4, &low, &[0]), [("batch", 2)]);
    }

    #[test]
    fn renders_at_or_below_their_share_and_unlaunched_ones_keep_theirs() {
        let occupants = [running("big", 3, Some(0)), running("small", 1, Some(0))];
        // Three renders on four slots: one slot each; only the big one gives back.
        assert_eq!(shares_to_give_back(4, &occupants, &[0]), [("big", 1)]);
        let admitted = [running("admitted", 3, None), running("small", 1, Some(0))];
        assert!(shares_to_give_back(4, &admitted, &[0]).is_empty());
        // A function full of one-slot renders has no room to make.
        let full = [running("a", 1, Some(0)), running("b", 1, Some(0))];
        assert!(shares_to_give_back(2, &full, &[0, 0]).is_empty());
    }
}
