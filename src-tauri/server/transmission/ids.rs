//! Transmission's numeric torrent ids beside Magnetar's info-hash ids: numbered 1, 2, 3, ... in
//! the order the tasks were added (the first time the endpoint sees them), never reused while
//! the server runs (a task removed and added again gets a new number). They are not saved: a
//! restart numbers the tasks afresh, as Transmission does.
//!
//! Also remembers which numbers went away recently, for `ids: "recently-active"`'s `removed`.

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// How long a removed task stays in `removed`; Transmission's "recently" is 60 s.
pub const RECENT: Duration = Duration::from_secs(60);

/// Removed numbers kept at most (a client that never asks must not grow this forever).
const MAX_REMOVED: usize = 10_000;

#[derive(Default)]
pub struct Ids {
    last: i64,
    by_hash: HashMap<String, i64>,
    removed: Vec<(i64, Instant)>,
}

impl Ids {
    /// Numbers every task in `tasks` ((hash, added) pairs, any order) that has none yet, in
    /// added order (then hash), and notes the numbered tasks that are gone.
    pub fn sync(&mut self, tasks: &[(String, u64)]) {
        let mut new: Vec<&(String, u64)> = tasks
            .iter()
            .filter(|(hash, _)| !self.by_hash.contains_key(hash))
            .collect();
        new.sort_by(|a, b| a.1.cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
        for (hash, _) in new {
            self.assign(hash);
        }
        let present: std::collections::HashSet<&str> =
            tasks.iter().map(|(h, _)| h.as_str()).collect();
        let now = Instant::now();
        let removed = &mut self.removed;
        self.by_hash.retain(|hash, id| {
            let keep = present.contains(hash.as_str());
            if !keep {
                removed.push((*id, now));
            }
            keep
        });
        let cutoff = Instant::now().checked_sub(RECENT);
        self.removed
            .retain(|(_, when)| cutoff.is_none_or(|cutoff| *when >= cutoff));
        if self.removed.len() > MAX_REMOVED {
            let extra = self.removed.len() - MAX_REMOVED;
            self.removed.drain(..extra);
        }
    }

    /// The number of task `hash`, given one now if it has none.
    pub fn assign(&mut self, hash: &str) -> i64 {
        if let Some(id) = self.by_hash.get(hash) {
            return *id;
        }
        self.last += 1;
        self.by_hash.insert(hash.to_owned(), self.last);
        self.last
    }

    pub fn id_of(&self, hash: &str) -> Option<i64> {
        self.by_hash.get(hash).copied()
    }

    /// The numbers of tasks removed in the last [`RECENT`].
    pub fn recently_removed(&self) -> Vec<i64> {
        self.removed.iter().map(|(id, _)| *id).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tasks(list: &[(&str, u64)]) -> Vec<(String, u64)> {
        list.iter().map(|(h, a)| (h.to_string(), *a)).collect()
    }

    #[test]
    fn numbers_follow_added_order_and_are_never_reused() {
        let mut ids = Ids::default();
        ids.sync(&tasks(&[("bb", 20), ("aa", 10), ("cc", 10)]));
        assert_eq!(ids.id_of("aa"), Some(1));
        assert_eq!(ids.id_of("cc"), Some(2));
        assert_eq!(ids.id_of("bb"), Some(3));
        ids.sync(&tasks(&[("aa", 10), ("bb", 20)]));
        assert_eq!(ids.id_of("cc"), None);
        assert_eq!(ids.recently_removed(), vec![2]);
        ids.sync(&tasks(&[("aa", 10), ("bb", 20), ("cc", 30)]));
        assert_eq!(
            ids.id_of("cc"),
            Some(4),
            "a task added again gets a new number"
        );
        ids.sync(&[]);
        assert_eq!(ids.recently_removed().len(), 4);
    }
}
