//! What a statement did, as numbers: the count, mean and spread of its execution times
//! ([`Spread`]) and everything else it did in an interval ([`Delta`]). The statements collector
//! computes them from pg_stat_statements; the history, the detail pages and the alert
//! annotations read them.

use crate::latency::Moments;

/// Count, mean and sum of squared deviations (M2) of execution times, milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Spread {
    /// Executions.
    pub n: f64,
    /// Mean execution time, ms.
    pub mean: f64,
    /// Sum of squared deviations from the mean, ms².
    pub m2: f64,
}

impl Spread {
    /// The spread of `calls` executions taking `total_ms` with population standard deviation
    /// `stddev_ms`, as pg_stat_statements reports them.
    pub fn from_totals(calls: f64, total_ms: f64, stddev_ms: f64) -> Spread {
        Spread {
            n: calls,
            mean: if calls > 0.0 { total_ms / calls } else { 0.0 },
            m2: stddev_ms * stddev_ms * calls,
        }
    }

    /// Merges two disjoint sets of executions (Chan et al.).
    pub fn merge(self, o: Spread) -> Spread {
        if self.n == 0.0 {
            return o;
        }
        if o.n == 0.0 {
            return self;
        }
        let n = self.n + o.n;
        let d = o.mean - self.mean;
        Spread {
            n,
            mean: self.mean + d * o.n / n,
            m2: self.m2 + o.m2 + d * d * self.n * o.n / n,
        }
    }

    /// The executions in `self` that are not in `earlier` (a prefix of the same series).
    pub fn since(self, earlier: Spread) -> Spread {
        let n = self.n - earlier.n;
        if n <= 0.0 {
            return Spread::default();
        }
        let sum = self.mean * self.n - earlier.mean * earlier.n;
        let mean = sum / n;
        let d = mean - earlier.mean;
        let m2 = self.m2 - earlier.m2 - d * d * earlier.n * n / self.n;
        Spread {
            n,
            mean,
            m2: m2.max(0.0),
        }
    }

    /// Population standard deviation, ms.
    pub fn stddev(&self) -> f64 {
        if self.n > 0.0 {
            (self.m2 / self.n).sqrt()
        } else {
            0.0
        }
    }

    /// The moments in seconds, for the latency estimator.
    pub fn moments_seconds(&self) -> Moments {
        Moments {
            calls: self.n,
            mean: self.mean / 1000.0,
            stddev: self.stddev() / 1000.0,
        }
    }
}

/// What one entry (or a bucket of them) did: in an interval, or since it was created (in a
/// [`Reading`]).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Delta {
    /// Executions and their time spread.
    pub spread: Spread,
    /// Execution time, ms.
    pub total_ms: f64,
    /// Rows returned or affected.
    pub rows: f64,
    /// Shared blocks hit.
    pub hit: f64,
    /// Shared blocks read.
    pub read: f64,
    /// Block read + write time, ms.
    pub io_ms: f64,
    /// Parallel workers launched (PostgreSQL 18+; 0 before).
    pub parallel_workers: f64,
}

impl Delta {
    /// Nothing yet.
    pub const ZERO: Delta = Delta {
        spread: Spread {
            n: 0.0,
            mean: 0.0,
            m2: 0.0,
        },
        total_ms: 0.0,
        rows: 0.0,
        hit: 0.0,
        read: 0.0,
        io_ms: 0.0,
        parallel_workers: 0.0,
    };

    /// Adds another entry's interval (a disjoint set of executions).
    pub fn add(&mut self, o: &Delta) {
        self.spread = self.spread.merge(o.spread);
        self.total_ms += o.total_ms;
        self.rows += o.rows;
        self.hit += o.hit;
        self.read += o.read;
        self.io_ms += o.io_ms;
        self.parallel_workers += o.parallel_workers;
    }

    /// Shared-buffer hit ratio; `None` with no block access.
    pub fn hit_ratio(&self) -> Option<f64> {
        let all = self.hit + self.read;
        (all > 0.0).then(|| self.hit / all)
    }
}
