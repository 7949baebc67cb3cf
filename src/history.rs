//! Statement history: each statement's interval figures rolled up in time buckets, so the
//! statement that paged someone is still on the page they open after its workload stopped.
//!
//! Two rollups per statement, each sparse (a bucket exists only for time the statement ran):
//! 1-minute buckets for the last hour and 10-minute buckets for the last 24 hours. Every interval
//! the statements collector reads is added to the current bucket of both. A window of up to an
//! hour is summed from the 1-minute buckets, a longer one from the 10-minute buckets.
//!
//! **Which statements**: those that were among the top N of any interval, and the `other`
//! bucket; at most `max_statements` per target: a new one evicts the statement seen longest ago.
//!
//! **Memory**: a bucket is 40 bytes (calls, time and M2 as f64; rows and blocks as f32; its
//! start). A statement that runs every minute holds 60 + 144 buckets: 8.2 KB. 50 such
//! statements per target are 408 KB; 200 targets 82 MB. `max_statements` bounds the worst case
//! (default 100: 816 KB per target).

use std::collections::HashMap;

use crate::figures::{Delta, Spread};

/// Seconds in a fine bucket.
pub const FINE_SECONDS: u64 = 60;
/// Fine buckets kept (one hour).
pub const FINE_BUCKETS: u64 = 60;
/// Seconds in a coarse bucket.
pub const COARSE_SECONDS: u64 = 600;
/// Coarse buckets kept (24 hours).
pub const COARSE_BUCKETS: u64 = 144;

/// One bucket: what a statement did in one minute (or ten).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bucket {
    /// Executions.
    pub calls: f64,
    /// Execution time, ms.
    pub total_ms: f64,
    /// Sum of squared deviations of execution times, ms².
    pub m2: f64,
    /// Rows returned or affected.
    pub rows: f32,
    /// Shared blocks hit.
    pub hit: f32,
    /// Shared blocks read.
    pub read: f32,
    /// Start, in bucket units since the Unix epoch.
    at: u32,
}

impl Bucket {
    fn empty(at: u32) -> Bucket {
        Bucket {
            calls: 0.0,
            total_ms: 0.0,
            m2: 0.0,
            rows: 0.0,
            hit: 0.0,
            read: 0.0,
            at,
        }
    }

    /// The executions' spread (count, mean, M2).
    pub fn spread(&self) -> Spread {
        Spread {
            n: self.calls,
            mean: if self.calls > 0.0 {
                self.total_ms / self.calls
            } else {
                0.0
            },
            m2: self.m2,
        }
    }

    fn add(&mut self, d: &Delta) {
        let merged = self.spread().merge(d.spread);
        self.calls = merged.n;
        self.total_ms += d.total_ms;
        self.m2 = merged.m2;
        self.rows += d.rows as f32;
        self.hit += d.hit as f32;
        self.read += d.read as f32;
    }

    /// Adds another bucket (disjoint executions).
    pub fn merge(&mut self, o: &Bucket) {
        let merged = self.spread().merge(o.spread());
        self.calls = merged.n;
        self.total_ms += o.total_ms;
        self.m2 = merged.m2;
        self.rows += o.rows;
        self.hit += o.hit;
        self.read += o.read;
    }

    /// Start of the bucket, Unix seconds, for a bucket of `width` seconds.
    pub fn start(&self, width: u64) -> u64 {
        u64::from(self.at) * width
    }

    /// Mean execution time, ms; `None` without executions.
    pub fn mean_ms(&self) -> Option<f64> {
        (self.calls > 0.0).then(|| self.total_ms / self.calls)
    }
}

/// One rollup: buckets of one width, oldest first, at most `keep`.
#[derive(Debug, Clone, Default)]
struct Rollup {
    buckets: std::collections::VecDeque<Bucket>,
}

impl Rollup {
    fn add(&mut self, now: u64, width: u64, keep: u64, d: &Delta) {
        let at = (now / width) as u32;
        match self.buckets.back_mut() {
            Some(b) if b.at == at => b.add(d),
            _ => {
                let mut b = Bucket::empty(at);
                b.add(d);
                self.buckets.push_back(b);
            }
        }
        self.expire(now, width, keep);
    }

    fn expire(&mut self, now: u64, width: u64, keep: u64) {
        let oldest = (now / width).saturating_sub(keep - 1) as u32;
        while self.buckets.front().is_some_and(|b| b.at < oldest) {
            self.buckets.pop_front();
        }
    }

    fn since(&self, from_at: u32) -> impl Iterator<Item = &Bucket> {
        self.buckets.iter().filter(move |b| b.at >= from_at)
    }
}

/// One statement's history.
#[derive(Debug, Clone, Default)]
pub struct StatementHistory {
    fine: Rollup,
    coarse: Rollup,
    /// Unix seconds of the last interval added.
    pub last_seen: u64,
    /// The statement's normalized text, once known.
    pub text: Option<String>,
}

impl StatementHistory {
    /// The 1-minute buckets, oldest first (their starts: [`Bucket::start`] with
    /// [`FINE_SECONDS`]).
    pub fn minutes(&self) -> impl Iterator<Item = &Bucket> {
        self.fine.buckets.iter()
    }

    /// The buckets covering the last `window` seconds before `now`: 1-minute buckets for a
    /// window of up to an hour, else 10-minute buckets; and their width.
    pub fn window(&self, now: u64, window: u64) -> (u64, Vec<Bucket>) {
        let (rollup, width) = if window <= FINE_SECONDS * FINE_BUCKETS {
            (&self.fine, FINE_SECONDS)
        } else {
            (&self.coarse, COARSE_SECONDS)
        };
        let from = (now.saturating_sub(window) / width) as u32;
        (width, rollup.since(from).copied().collect())
    }

    /// The sum of the buckets covering the last `window` seconds.
    pub fn total(&self, now: u64, window: u64) -> Bucket {
        let (_, buckets) = self.window(now, window);
        let mut sum = Bucket::empty(0);
        for b in &buckets {
            sum.merge(b);
        }
        sum
    }

    /// The median of the 1-minute means of the last hour before the current minute, over
    /// minutes with at least `min_calls` executions; `None` with fewer than `min_minutes`.
    pub fn baseline_mean_ms(&self, now: u64, min_calls: f64, min_minutes: usize) -> Option<f64> {
        let current = (now / FINE_SECONDS) as u32;
        let mut means: Vec<f64> = self
            .fine
            .buckets
            .iter()
            .filter(|b| b.at < current && b.calls >= min_calls)
            .filter_map(Bucket::mean_ms)
            .collect();
        if means.len() < min_minutes.max(1) {
            return None;
        }
        means.sort_by(f64::total_cmp);
        let mid = means.len() / 2;
        Some(if means.len() % 2 == 0 {
            (means[mid - 1] + means[mid]) / 2.0
        } else {
            means[mid]
        })
    }
}

/// The history of every statement of one target, by key, within `max_statements`.
#[derive(Debug)]
pub struct History<K> {
    statements: HashMap<K, StatementHistory>,
    max_statements: usize,
}

impl<K: std::hash::Hash + Eq + Clone> History<K> {
    /// An empty history holding at most `max_statements` statements.
    pub fn new(max_statements: usize) -> History<K> {
        History {
            statements: HashMap::new(),
            max_statements: max_statements.max(1),
        }
    }

    /// Sets a statement's text (kept from then on, also when it leaves the top).
    pub fn set_text(&mut self, key: &K, text: &str) {
        if let Some(h) = self.statements.get_mut(key) {
            if h.text.is_none() {
                h.text = Some(text.to_string());
            }
        }
    }

    /// Adds one statement's interval, ending at `now` (Unix seconds).
    pub fn add(&mut self, key: &K, now: u64, d: &Delta) {
        if !self.statements.contains_key(key) && self.statements.len() >= self.max_statements {
            let oldest = self
                .statements
                .iter()
                .min_by_key(|(_, h)| h.last_seen)
                .map(|(k, _)| k.clone());
            if let Some(k) = oldest {
                self.statements.remove(&k);
            }
        }
        let h = self.statements.entry(key.clone()).or_default();
        h.fine.add(now, FINE_SECONDS, FINE_BUCKETS, d);
        h.coarse.add(now, COARSE_SECONDS, COARSE_BUCKETS, d);
        h.last_seen = now;
    }

    /// Drops buckets older than the rollups keep, and statements left with none.
    pub fn expire(&mut self, now: u64) {
        self.statements.retain(|_, h| {
            h.fine.expire(now, FINE_SECONDS, FINE_BUCKETS);
            h.coarse.expire(now, COARSE_SECONDS, COARSE_BUCKETS);
            !h.coarse.buckets.is_empty()
        });
    }

    /// One statement's history.
    pub fn get(&self, key: &K) -> Option<&StatementHistory> {
        self.statements.get(key)
    }

    /// Every statement's history.
    pub fn iter(&self) -> impl Iterator<Item = (&K, &StatementHistory)> {
        self.statements.iter()
    }

    /// Statements held.
    pub fn len(&self) -> usize {
        self.statements.len()
    }

    /// No statement held.
    pub fn is_empty(&self) -> bool {
        self.statements.is_empty()
    }

    /// Buckets held, both rollups.
    pub fn buckets(&self) -> usize {
        self.statements
            .values()
            .map(|h| h.fine.buckets.len() + h.coarse.buckets.len())
            .sum()
    }
}

/// Bytes one bucket takes.
pub const BUCKET_BYTES: usize = std::mem::size_of::<Bucket>();

#[cfg(test)]
mod tests {
    use super::*;

    fn delta(calls: f64, mean_ms: f64) -> Delta {
        Delta {
            spread: Spread {
                n: calls,
                mean: mean_ms,
                m2: 0.0,
            },
            total_ms: calls * mean_ms,
            ..Delta::ZERO
        }
    }

    #[test]
    fn a_bucket_is_forty_bytes() {
        assert_eq!(BUCKET_BYTES, 40);
    }

    #[test]
    fn windows_sum_the_buckets_they_cover() {
        let mut h = History::new(10);
        let t0 = 1_800_000_000; // a multiple of 600: bucket starts line up
                                // 15 s intervals for 30 minutes, 10 calls of 50 ms each.
        for i in 0..120 {
            h.add(&1, t0 + 15 * i, &delta(10.0, 50.0));
        }
        let end = t0 + 15 * 119;
        let s = h.get(&1).unwrap();
        assert_eq!(s.minutes().count(), 30);
        let w = s.total(end, 15 * 60);
        // The window starts inside a minute bucket: 15 whole minutes + the current one.
        assert_eq!(w.calls, 16.0 * 40.0);
        assert!((w.mean_ms().unwrap() - 50.0).abs() < 1e-9);
        assert_eq!(s.total(end, 3600).calls, 1200.0);
        let (width, day) = s.window(end, 86_400);
        assert_eq!(width, 600);
        assert_eq!(day.len(), 3);
        assert_eq!(s.total(end, 86_400).calls, 1200.0);
    }

    #[test]
    fn a_statement_stays_listed_after_its_workload_stopped() {
        let mut h = History::new(10);
        let t0 = 1_800_000_000;
        for i in 0..8 {
            h.add(&7, t0 + 15 * i, &delta(4.0, 700.0));
        }
        // Five minutes later nothing ran; the 15-minute window still has it.
        let later = t0 + 15 * 7 + 300;
        h.expire(later);
        let w = h.get(&7).unwrap().total(later, 900);
        assert_eq!(w.calls, 32.0);
        assert!((w.mean_ms().unwrap() - 700.0).abs() < 1e-9);
        // Past 24 h it is gone.
        h.expire(later + 86_400 + 600);
        assert!(h.is_empty());
    }

    #[test]
    fn buckets_expire_and_the_oldest_statement_is_evicted() {
        let mut h = History::new(2);
        let t0 = 1_800_000_000;
        h.add(&1, t0, &delta(1.0, 1.0));
        h.add(&2, t0 + 60, &delta(1.0, 1.0));
        h.add(&3, t0 + 120, &delta(1.0, 1.0));
        assert!(h.get(&1).is_none(), "seen longest ago");
        assert_eq!(h.len(), 2);
        h.add(&2, t0 + 2 * 3600, &delta(1.0, 1.0));
        assert_eq!(
            h.get(&2).unwrap().minutes().count(),
            1,
            "older minutes expired"
        );
    }

    #[test]
    fn the_baseline_is_the_median_of_earlier_minutes() {
        let mut h = History::new(10);
        let t0 = 1_800_000_000;
        for (m, mean) in [10.0, 12.0, 11.0, 50.0, 9.0].iter().enumerate() {
            h.add(&1, t0 + 60 * m as u64, &delta(20.0, *mean));
        }
        // A few calls only: not counted.
        h.add(&1, t0 + 300, &delta(1.0, 500.0));
        // The current minute is left out.
        h.add(&1, t0 + 360, &delta(20.0, 90.0));
        let s = h.get(&1).unwrap();
        assert_eq!(s.baseline_mean_ms(t0 + 370, 5.0, 3), Some(11.0));
        assert_eq!(s.baseline_mean_ms(t0 + 370, 5.0, 6), None);
    }

    #[test]
    fn merged_buckets_keep_the_spread() {
        let mut a = Bucket::empty(0);
        a.add(&Delta {
            spread: Spread {
                n: 2.0,
                mean: 10.0,
                m2: 0.0,
            },
            total_ms: 20.0,
            ..Delta::ZERO
        });
        let mut b = Bucket::empty(1);
        b.add(&delta(2.0, 30.0));
        a.merge(&b);
        // Four calls: 10, 10, 30, 30 → mean 20, population sd 10.
        assert_eq!(a.mean_ms(), Some(20.0));
        assert!((a.spread().stddev() - 10.0).abs() < 1e-9);
    }
}
