//! Which offset of each partition may be committed: the one after the
//! longest prefix of messages that are all done. A later message finishing
//! first never moves the commit past an earlier one still running, and a
//! commit never goes backwards.

use std::collections::{BTreeMap, HashMap};

/// A partition: `(topic, partition)`.
pub type Tp = (String, i32);

/// Where a taken message is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Running,
    Done,
    /// Dropped without finishing (revoked, shutting down): never committed.
    Abandoned,
}

#[derive(Debug, Default)]
struct Partition {
    /// Offsets taken and not yet committable, with their broker timestamps
    /// (ms).
    open: BTreeMap<i64, (State, i64)>,
    /// The oldest broker timestamp among messages made committable since the
    /// last `due`.
    oldest_done: Option<i64>,
    /// The next offset to commit (one past the done prefix), if any.
    done_upto: Option<i64>,
    /// The last offset handed to the broker as committed.
    committed: Option<i64>,
}

/// The in-flight and done messages of the assigned partitions.
#[derive(Debug, Default)]
pub struct Tracker {
    parts: HashMap<Tp, Partition>,
}

impl Tracker {
    /// A message was received (offsets of one partition arrive in order);
    /// `ts` is its broker timestamp in ms.
    pub fn start(&mut self, tp: &Tp, offset: i64, ts: i64) {
        self.parts
            .entry(tp.clone())
            .or_default()
            .open
            .insert(offset, (State::Running, ts));
    }

    /// A message will not be finished: its offset and all later ones of the
    /// partition stay uncommitted (they are redelivered).
    pub fn abandon(&mut self, tp: &Tp, offset: i64) {
        if let Some(e) = self.parts.get_mut(tp).and_then(|p| p.open.get_mut(&offset)) {
            e.0 = State::Abandoned;
        }
    }

    /// A message is done (handled, skipped or given up on). Returns false
    /// when the partition is not tracked any more (revoked meanwhile).
    pub fn finish(&mut self, tp: &Tp, offset: i64) -> bool {
        let Some(p) = self.parts.get_mut(tp) else {
            return false;
        };
        match p.open.get_mut(&offset) {
            Some(e) if e.0 == State::Running => e.0 = State::Done,
            _ => return false,
        }
        while let Some(entry) = p.open.first_entry() {
            if entry.get().0 != State::Done {
                break;
            }
            let (o, (_, ts)) = entry.remove_entry();
            p.done_upto = Some(o + 1);
            p.oldest_done = Some(p.oldest_done.map_or(ts, |t| t.min(ts)));
        }
        true
    }

    /// Messages of `tp` taken and not done.
    pub fn in_flight(&self, tp: &Tp) -> usize {
        self.parts.get(tp).map_or(0, |p| {
            p.open.values().filter(|e| e.0 == State::Running).count()
        })
    }

    pub fn total_in_flight(&self) -> usize {
        self.parts
            .values()
            .map(|p| p.open.values().filter(|e| e.0 == State::Running).count())
            .sum()
    }

    /// The commits due: `(partition, next offset)` for every partition whose
    /// done prefix moved since the last call, and the oldest broker
    /// timestamp among the messages they cover. The caller commits them.
    pub fn due(&mut self) -> (Vec<(Tp, i64)>, Option<i64>) {
        let mut out = Vec::new();
        let mut oldest: Option<i64> = None;
        for (tp, p) in &mut self.parts {
            if let Some(upto) = p.done_upto
                && p.committed.is_none_or(|c| upto > c)
            {
                p.committed = Some(upto);
                out.push((tp.clone(), upto));
                if let Some(ts) = p.oldest_done.take() {
                    oldest = Some(oldest.map_or(ts, |o| o.min(ts)));
                }
            }
        }
        out.sort();
        (out, oldest)
    }

    /// The broker did not take these commits: offer them again.
    pub fn commit_failed(&mut self, due: &[(Tp, i64)]) {
        for (tp, o) in due {
            if let Some(p) = self.parts.get_mut(tp)
                && p.committed == Some(*o)
            {
                p.committed = None;
            }
        }
    }

    /// The next offset committed for `tp`, if any.
    pub fn committed(&self, tp: &Tp) -> Option<i64> {
        self.parts.get(tp).and_then(|p| p.committed)
    }

    /// Forgets a partition (revoked): later `finish`es for it are ignored.
    pub fn forget(&mut self, tp: &Tp) {
        self.parts.remove(tp);
    }

    pub fn partitions(&self) -> Vec<Tp> {
        self.parts.keys().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tp(p: i32) -> Tp {
        ("t".into(), p)
    }

    #[test]
    fn commits_only_the_contiguous_done_prefix() {
        let mut t = Tracker::default();
        for o in 10..14 {
            t.start(&tp(0), o, o);
        }
        t.finish(&tp(0), 12);
        t.finish(&tp(0), 13);
        assert!(t.due().0.is_empty(), "10 still running: nothing to commit");
        t.finish(&tp(0), 10);
        assert_eq!(t.due(), (vec![(tp(0), 11)], Some(10)));
        assert!(t.due().0.is_empty(), "no commit twice");
        t.finish(&tp(0), 11);
        assert_eq!(t.due(), (vec![(tp(0), 14)], Some(11)));
        assert_eq!(t.in_flight(&tp(0)), 0);
    }

    #[test]
    fn partitions_are_independent_and_forgotten_ones_ignored() {
        let mut t = Tracker::default();
        t.start(&tp(0), 0, 0);
        t.start(&tp(1), 5, 0);
        t.start(&tp(1), 6, 0);
        assert!(t.finish(&tp(1), 6));
        assert_eq!(t.total_in_flight(), 2);
        t.forget(&tp(0));
        assert!(!t.finish(&tp(0), 0));
        t.finish(&tp(1), 5);
        assert_eq!(t.due().0, vec![(tp(1), 7)]);
    }

    #[test]
    fn commits_never_move_backwards() {
        let mut t = Tracker::default();
        t.start(&tp(0), 4, 0);
        t.finish(&tp(0), 4);
        assert_eq!(t.due().0, vec![(tp(0), 5)]);
        // A redelivered older message (after a seek) finishing later.
        t.start(&tp(0), 2, 0);
        t.finish(&tp(0), 2);
        assert!(t.due().0.is_empty());
    }

    #[test]
    fn a_failed_commit_is_offered_again() {
        let mut t = Tracker::default();
        t.start(&tp(0), 0, 0);
        t.finish(&tp(0), 0);
        let (due, _) = t.due();
        t.commit_failed(&due);
        assert_eq!(t.due().0, vec![(tp(0), 1)]);
        assert!(t.due().0.is_empty());
    }

    #[test]
    fn an_abandoned_message_holds_the_commit_back() {
        let mut t = Tracker::default();
        for o in 0..3 {
            t.start(&tp(0), o, 0);
        }
        t.finish(&tp(0), 0);
        t.abandon(&tp(0), 1);
        t.finish(&tp(0), 2);
        assert_eq!(t.due().0, vec![(tp(0), 1)]);
        assert_eq!(t.in_flight(&tp(0)), 0);
        assert!(!t.finish(&tp(0), 1), "an abandoned message cannot finish");
    }
}
