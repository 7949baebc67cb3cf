//! Hot paths of a poll and a scrape, timed in-process: `cargo bench --bench hot_paths`.
//!
//! - encoding a poll's families into the exposition (10,000 series) and rendering a scrape;
//! - rendering an unchanged snapshot (what most scrapes cost);
//! - the latency estimator over the interval moments of 5,000 statements;
//! - interval deltas of 10,000 pg_stat_statements entries (a poll's reading after the baseline);
//! - a scrape of 200 targets after one source published;
//! - statement history: 24 hours of 15-second intervals of 50 statements per target, its
//!   memory at 200 targets, and a 15-minute window summed over it.
//!
//! Each case runs for about a second after a warm-up and prints the mean time per iteration.
//! Timing lives here, not in tests.

use std::sync::Arc;
use std::time::{Duration, Instant};

use pgvitals::latency::{Mixture, Moments};
use pgvitals::metrics::Family;
use pgvitals::snapshot::{Snapshot, SourceKey};
use pgvitals::telemetry::Telemetry;

fn bench(name: &str, mut f: impl FnMut()) {
    for _ in 0..3 {
        f();
    }
    let mut n = 0u32;
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(1) || n < 5 {
        f();
        n += 1;
    }
    let per = started.elapsed() / n;
    println!("{name:<55} {per:>12.3?} per iteration ({n} iterations)");
}

fn table_families(tables: usize) -> Vec<Family> {
    families(
        &[
            "pgvitals_table_total_bytes",
            "pgvitals_table_heap_bytes",
            "pgvitals_table_index_bytes",
            "pgvitals_table_toast_bytes",
            "pgvitals_table_rows_estimate",
        ],
        tables,
    )
}

/// Families of the given names with `tables` samples each.
fn families(names: &[&'static str], tables: usize) -> Vec<Family> {
    names
        .iter()
        .map(|n| {
            let mut f = Family::gauge(n, "bench");
            for t in 0..tables {
                f.push(
                    [("schema", "public".to_string()), ("table", format!("t{t}"))],
                    (t * 8192) as f64,
                );
            }
            f
        })
        .collect()
}

fn main() {
    let snapshot = Snapshot::new(Arc::new(Telemetry::new(0.05)));
    let key = SourceKey {
        target: "main".into(),
        database: "app".into(),
        collector: "table_sizes",
    };
    let families = table_families(2000); // 10,000 series
    bench("publish 10,000 series (encode) + render the scrape", || {
        snapshot.publish(
            key.clone(),
            &[("target", "main"), ("database", "app")],
            families.clone().into(),
        );
        std::hint::black_box(snapshot.render_chunks());
    });
    bench("render an unchanged snapshot of 10,000 series", || {
        std::hint::black_box(snapshot.render_chunks());
    });
    println!("  exposition size: {} bytes", snapshot.render().len());

    scale_case();
    deltas_case();
    history_case();

    let moments: Vec<Moments> = (0..5000)
        .map(|i| Moments {
            calls: 1.0 + (i % 97) as f64,
            mean: 0.0005 * (1 + i % 400) as f64,
            stddev: 0.0002 * (1 + i % 50) as f64,
        })
        .collect();
    bench(
        "latency mixture of 5,000 statements: fraction under 100 ms",
        || {
            std::hint::black_box(Mixture::new(moments.iter()).cdf(0.1));
        },
    );
    bench("latency mixture of 5,000 statements: p95 and p99", || {
        let m = Mixture::new(moments.iter());
        std::hint::black_box((m.quantile(0.95), m.quantile(0.99)));
    });
}

/// 200 targets of ~750 series each (what `bench/scale.sh` exports), their self-metrics, and a
/// scrape rendered after one source changed.
fn scale_case() {
    let telemetry = Arc::new(Telemetry::new(0.05));
    let snapshot = Snapshot::new(telemetry.clone());
    let collectors = [
        "connection",
        "statements",
        "indexes",
        "migrations",
        "table_sizes",
    ];
    for t in 0..200 {
        let target = format!("c{}-db{}", t / 50, t % 50);
        for c in collectors {
            telemetry.init_collector(&target, &target, c);
            let l = [target.as_str(), target.as_str(), c];
            telemetry.collector_success.set(l, 1.0);
            telemetry.collector_duration.set(l, 0.01);
            telemetry.collector_last_success.set(l, 1.7e9);
            let key = SourceKey {
                target: target.clone(),
                database: target.clone(),
                collector: c,
            };
            snapshot.publish(
                key,
                &[("target", &target), ("database", &target)],
                families(&names(c), 30).into(),
            );
        }
        telemetry.up.set([&target], 1.0);
        for m in ["connect", "pool"] {
            telemetry.acquisition.observe([&target, &target, m], 0.002);
        }
    }
    let key = SourceKey {
        target: "c0-db0".into(),
        database: "c0-db0".into(),
        collector: "statements",
    };
    let statements = families(&names("statements"), 30);
    bench("200 targets: self-metrics encode", || {
        std::hint::black_box(telemetry.encode());
    });
    bench("200 targets: one source published + render", || {
        snapshot.publish(
            key.clone(),
            &[("target", "c0-db0"), ("database", "c0-db0")],
            statements.clone().into(),
        );
        std::hint::black_box(snapshot.render_chunks());
    });
    let body = snapshot.render();
    println!(
        "  exposition size: {} bytes, {} lines",
        body.len(),
        body.iter().filter(|b| **b == b'\n').count()
    );
}

/// Five family names of a collector (each collector exports its own families).
fn names(collector: &str) -> Vec<&'static str> {
    (0..5)
        .map(|i| &*Box::leak(format!("pgvitals_{collector}_{i}").into_boxed_str()))
        .collect()
}

/// Interval deltas over 10,000 entries: one poll's worth of readings after the baseline, a
/// tenth of them new (the rest of the statements ran again).
fn deltas_case() {
    use pgvitals::collectors::statement_deltas::{Baseline, EntryKey, Reading};
    use pgvitals::figures::{Delta, Spread};
    let reading = |i: usize, poll: usize| {
        let calls = (1 + i % 50 + poll * (i % 3)) as f64;
        let total_ms = calls * 0.5 * (1 + i % 40) as f64;
        Reading {
            totals: Delta {
                spread: Spread::from_totals(calls, total_ms, 0.1 * (1 + i % 7) as f64),
                total_ms,
                rows: calls,
                hit: calls * 10.0,
                read: calls,
                io_ms: 0.0,
                parallel_workers: 0.0,
            },
            stats_since: None,
        }
    };
    let key = |i: usize| EntryKey {
        dbid: 1 + (i % 4) as i64,
        userid: 10,
        queryid: (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) as i64,
        toplevel: true,
    };
    let mut baseline = Baseline::new();
    baseline.begin(Some(0.0));
    for i in 0..10_000 {
        baseline.observe(key(i), reading(i, 0));
    }
    baseline.finish();
    let mut poll = 0;
    let mut ran = 0;
    bench(
        "interval deltas of 10,000 pg_stat_statements entries",
        || {
            poll += 1;
            baseline.begin(Some(0.0));
            ran = 0;
            for i in 0..10_000 {
                // A tenth of the entries are replaced each poll (evicted and new).
                let id = if i % 10 == poll % 10 {
                    i + 10_000 * poll
                } else {
                    i
                };
                ran += usize::from(baseline.observe(key(id), reading(id, poll)).is_some());
            }
            std::hint::black_box(baseline.finish());
        },
    );
    println!("  entries that ran in the last interval: {ran}");
}

/// 24 hours of one target's history: 50 statements running in every 15 s interval, plus
/// `other`; the bytes its buckets take (× 200 targets), and the cost of adding an interval and
/// of summing a 15-minute window (what `/statements` does per target).
fn history_case() {
    use pgvitals::figures::{Delta, Spread};
    use pgvitals::history::{History, BUCKET_BYTES};
    let delta = |i: u64| Delta {
        spread: Spread {
            n: 10.0,
            mean: 1.0 + (i % 7) as f64,
            m2: 3.0,
        },
        total_ms: 10.0 * (1.0 + (i % 7) as f64),
        rows: 10.0,
        hit: 100.0,
        read: 1.0,
        ..Delta::ZERO
    };
    let start: u64 = 1_800_000_000;
    let mut h: History<u32> = History::new(100);
    let intervals = 24 * 3600 / 15;
    let t = Instant::now();
    for i in 0..intervals {
        let now = start + 15 * i;
        for s in 0..51u32 {
            h.add(&s, now, &delta(u64::from(s)));
        }
        h.expire(now);
    }
    let per_interval = t.elapsed() / intervals as u32;
    let bytes = h.buckets() * BUCKET_BYTES;
    println!(
        "{:<55} {per_interval:>12.3?} per interval (51 statements)",
        "history: add one interval"
    );
    println!(
        "  24 h of history, 50 statements + other: {} statements, {} buckets, {:.0} KiB per target (bucket data), {:.1} MiB at 200 targets",
        h.len(),
        h.buckets(),
        bytes as f64 / 1024.0,
        bytes as f64 * 200.0 / (1024.0 * 1024.0)
    );
    let end = start + 15 * (intervals - 1);
    bench("history: sum a 15-minute window of 51 statements", || {
        for (_, st) in h.iter() {
            std::hint::black_box(st.total(end, 900));
        }
    });
}
