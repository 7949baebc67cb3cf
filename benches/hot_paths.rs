//! Hot paths of a poll and a scrape, timed in-process: `cargo bench --bench hot_paths`.
//!
//! - encoding a poll's families into the exposition (10,000 series) and rendering a scrape;
//! - rendering an unchanged snapshot (what most scrapes cost);
//! - the latency estimator over the interval moments of 5,000 statements.
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
    let names = [
        "pgvitals_table_total_bytes",
        "pgvitals_table_heap_bytes",
        "pgvitals_table_index_bytes",
        "pgvitals_table_toast_bytes",
        "pgvitals_table_rows_estimate",
    ];
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
        std::hint::black_box(snapshot.render());
    });
    bench("render an unchanged snapshot of 10,000 series", || {
        std::hint::black_box(snapshot.render());
    });
    println!("  exposition size: {} bytes", snapshot.render().len());

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
