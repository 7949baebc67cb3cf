//! Interval deltas of pg_stat_statements entries: the pure part of the `statements` collector.
//!
//! [`Baseline`] keeps the previous reading of every entry (keyed by dbid, userid, queryid,
//! toplevel) and pgvitals' running sums of what each entry did. A poll is
//! [`begin`](Baseline::begin), one [`observe`](Baseline::observe) per entry as the rows stream
//! in, and [`finish`](Baseline::finish), which forgets entries pg_stat_statements no longer
//! has. One map, updated in place: memory is one slot per entry the extension holds (bounded by
//! `pg_stat_statements.max`), and nothing in a poll is worse than linear in the entries.
//!
//! The rules: per interval Δcalls, Δexecution time, Δrows, Δshared blocks hit/read and Δio time,
//! and, from the population standard deviation pg_stat_statements keeps, the interval's exact
//! mean and standard deviation (Chan's parallel-variance formula run backwards: the interval's
//! M2 is the new M2 minus the old M2 minus the shift of the mean). An entry seen for the first
//! time since the last poll was created in the interval: all its counters belong to it. An entry
//! whose counters went down or whose `stats_since` moved was reset in the interval, and so was
//! everything when `pg_stat_statements_info.stats_reset` moved: its counters since the reset
//! are the interval's (what ran between the last poll and the reset is lost, never negative),
//! and [`Baseline::resets`] counts it. The first poll only sets the baseline.

use std::collections::HashMap;

use crate::figures::Delta;

/// Identity of a pg_stat_statements entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EntryKey {
    /// Database oid.
    pub dbid: i64,
    /// Role oid.
    pub userid: i64,
    /// pg_stat_statements queryid.
    pub queryid: i64,
    /// Run at top level (false: nested in a function).
    pub toplevel: bool,
}

/// One reading of an entry's cumulative counters: the counts since the entry was created, and
/// when its statistics started.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reading {
    /// The counters, cumulative.
    pub totals: Delta,
    /// When the entry's statistics started (PostgreSQL 17+).
    pub stats_since: Option<f64>,
}

impl Reading {
    fn went_back_from(&self, p: &Reading) -> bool {
        let (now, before) = (&self.totals, &p.totals);
        now.spread.n < before.spread.n
            || now.total_ms < before.total_ms - 1e-6
            || now.rows < before.rows
            || now.hit < before.hit
            || now.read < before.read
            || self.stats_since != p.stats_since
    }

    /// The interval's share: everything since `p`, or since zero when `p` is `None`.
    fn since(&self, p: Option<&Reading>) -> Delta {
        let (now, p) = (&self.totals, p.map_or(&Delta::ZERO, |p| &p.totals));
        Delta {
            spread: now.spread.since(p.spread),
            total_ms: (now.total_ms - p.total_ms).max(0.0),
            rows: now.rows - p.rows,
            hit: now.hit - p.hit,
            read: now.read - p.read,
            io_ms: (now.io_ms - p.io_ms).max(0.0),
            parallel_workers: (now.parallel_workers - p.parallel_workers).max(0.0),
        }
    }
}

/// pgvitals' running sums of the interval deltas, for the `_total` counters.
#[derive(Debug, Clone, Copy, Default)]
pub struct Cumulative {
    /// Executions.
    pub calls: f64,
    /// Execution time, seconds.
    pub exec_seconds: f64,
    /// Rows.
    pub rows: f64,
}

impl Cumulative {
    /// Adds an interval.
    pub fn add(&mut self, d: &Delta) {
        self.calls += d.spread.n;
        self.exec_seconds += d.total_ms / 1000.0;
        self.rows += d.rows;
    }
}

/// What is kept per entry between polls.
#[derive(Debug, Clone, Copy)]
struct Slot {
    reading: Reading,
    cumulative: Cumulative,
    /// The poll that last saw the entry.
    seen: u64,
}

/// The previous reading of every entry, and what each did since pgvitals started.
#[derive(Debug, Default)]
pub struct Baseline {
    slots: HashMap<EntryKey, Slot>,
    /// Polls begun; 0 before the first.
    poll: u64,
    /// Whether the current poll is the first since the baseline was (re)set.
    first: bool,
    /// The current poll found everything reset (`stats_reset` moved).
    global_reset: bool,
    stats_reset: Option<f64>,
    resets: u64,
}

impl Baseline {
    /// An empty baseline: the next poll only records.
    pub fn new() -> Baseline {
        Baseline::default()
    }

    /// Starts a poll. `stats_reset` is `pg_stat_statements_info.stats_reset` (Unix seconds;
    /// `None` before PostgreSQL 14). Returns whether this poll only sets the baseline.
    pub fn begin(&mut self, stats_reset: Option<f64>) -> bool {
        self.first = self.poll == 0;
        self.poll += 1;
        self.global_reset = !self.first
            && stats_reset.is_some()
            && self.stats_reset.is_some()
            && stats_reset != self.stats_reset;
        if self.global_reset {
            self.resets += 1;
        }
        self.stats_reset = stats_reset;
        self.first
    }

    /// Records an entry's reading; returns what it did in the interval when it ran at all
    /// (never on the baseline poll).
    pub fn observe(&mut self, key: EntryKey, reading: Reading) -> Option<Delta> {
        let poll = self.poll;
        let (first, global_reset) = (self.first, self.global_reset);
        let mut reset = false;
        let delta = match self.slots.get_mut(&key) {
            Some(slot) => {
                let delta = if global_reset {
                    reading.since(None)
                } else if reading.went_back_from(&slot.reading) {
                    reset = true;
                    reading.since(None)
                } else {
                    reading.since(Some(&slot.reading))
                };
                slot.reading = reading;
                slot.seen = poll;
                (!first && delta.spread.n > 0.0).then(|| {
                    slot.cumulative.add(&delta);
                    delta
                })
            }
            None => {
                let delta = reading.since(None);
                let ran = !first && delta.spread.n > 0.0;
                let mut cumulative = Cumulative::default();
                if ran {
                    cumulative.add(&delta);
                }
                self.slots.insert(
                    key,
                    Slot {
                        reading,
                        cumulative,
                        seen: poll,
                    },
                );
                ran.then_some(delta)
            }
        };
        if reset && !first {
            self.resets += 1;
        }
        delta
    }

    /// Ends a poll: forgets the entries it did not see. Returns the entries tracked.
    pub fn finish(&mut self) -> usize {
        let poll = self.poll;
        self.slots.retain(|_, s| s.seen == poll);
        self.slots.len()
    }

    /// Forgets everything: the next poll sets a new baseline (pg_stat_statements went away).
    pub fn clear(&mut self) {
        self.slots = HashMap::new();
        self.poll = 0;
        self.stats_reset = None;
    }

    /// Whether pg_stat_statements holds the entry (as of the last poll).
    pub fn contains(&self, key: &EntryKey) -> bool {
        self.slots.contains_key(key)
    }

    /// The entries pg_stat_statements held at the last poll.
    pub fn keys(&self) -> impl Iterator<Item = &EntryKey> {
        self.slots.keys()
    }

    /// What the entry did since pgvitals started watching it.
    pub fn cumulative(&self, key: &EntryKey) -> Cumulative {
        self.slots
            .get(key)
            .map(|s| s.cumulative)
            .unwrap_or_default()
    }

    /// Entries found reset between two polls, and global resets, since pgvitals started.
    pub fn resets(&self) -> u64 {
        self.resets
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::figures::Spread;

    fn spread_of(xs: &[f64]) -> Spread {
        let n = xs.len() as f64;
        let mean = xs.iter().sum::<f64>() / n;
        Spread {
            n,
            mean,
            m2: xs.iter().map(|x| (x - mean) * (x - mean)).sum(),
        }
    }

    fn reading(calls: f64, total_ms: f64) -> Reading {
        Reading {
            totals: Delta {
                spread: Spread::from_totals(calls, total_ms, 0.0),
                total_ms,
                ..Delta::ZERO
            },
            stats_since: None,
        }
    }

    fn key(queryid: i64) -> EntryKey {
        EntryKey {
            dbid: 1,
            userid: 10,
            queryid,
            toplevel: true,
        }
    }

    #[test]
    fn interval_moments_are_exact() {
        let before = [1.0, 2.0, 3.0, 10.0];
        let after = [5.0, 7.0, 30.0];
        let all: Vec<f64> = before.iter().chain(after.iter()).copied().collect();
        let got = spread_of(&all).since(spread_of(&before));
        let want = spread_of(&after);
        assert!((got.n - want.n).abs() < 1e-9);
        assert!((got.mean - want.mean).abs() < 1e-9);
        assert!((got.m2 - want.m2).abs() < 1e-6, "{got:?} vs {want:?}");
        let merged = spread_of(&before).merge(spread_of(&after));
        assert!((merged.m2 - spread_of(&all).m2).abs() < 1e-6);
    }

    #[test]
    fn baseline_new_reset_and_forgotten_entries() {
        let mut b = Baseline::new();
        assert!(b.begin(Some(100.0)));
        assert!(
            b.observe(key(1), reading(10.0, 50.0)).is_none(),
            "baseline only"
        );
        assert!(b.observe(key(2), reading(5.0, 5.0)).is_none());
        assert_eq!(b.finish(), 2);

        assert!(!b.begin(Some(100.0)));
        let d = b.observe(key(1), reading(14.0, 90.0)).unwrap();
        assert_eq!((d.spread.n, d.total_ms), (4.0, 40.0));
        // Went back: reset in the interval, its counters since then are the interval's.
        let d = b.observe(key(2), reading(2.0, 3.0)).unwrap();
        assert_eq!((d.spread.n, d.total_ms), (2.0, 3.0));
        // New entry: everything is the interval's.
        let d = b.observe(key(3), reading(1.0, 7.0)).unwrap();
        assert_eq!(d.spread.n, 1.0);
        assert_eq!(b.finish(), 3);
        assert_eq!(b.resets(), 1);
        assert_eq!(b.cumulative(&key(1)).calls, 4.0);

        // Entry 3 evicted; entry 1 idle; stats_reset moved: everything is new.
        assert!(!b.begin(Some(200.0)));
        assert!(b.observe(key(1), reading(0.0, 0.0)).is_none());
        let d = b.observe(key(2), reading(3.0, 4.0)).unwrap();
        assert_eq!(d.spread.n, 3.0);
        assert_eq!(b.finish(), 2);
        assert!(!b.contains(&key(3)));
        assert_eq!(b.resets(), 2);
        assert_eq!(b.cumulative(&key(2)).calls, 5.0);

        b.clear();
        assert!(b.begin(Some(200.0)), "cleared: a new baseline");
    }
}
