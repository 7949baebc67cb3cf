//! `checkpoints` collector: checkpoints, the background writer, WAL generation and, on 16+,
//! I/O by backend type — the counters that say whether writes are paced or forced.
//!
//! Cluster-wide. Reads `queries/checkpoints.sql` (pg_stat_bgwriter; on 17+ pg_stat_checkpointer
//! with it, where the checkpoint columns moved), `queries/wal_stats.sql` (pg_stat_wal, 14+; on
//! 18 its write and sync counters moved to pg_stat_io) and `queries/io_stats.sql` (pg_stat_io,
//! 16+, summed over I/O contexts). All are PostgreSQL's own counters, exported as they are for
//! `rate()`; a column a version does not have gives no sample.

use super::{BoxFuture, CollectResult, Collector, PollContext};
use crate::metrics::Family;
use crate::queries;

/// (column, metric, labels, help, scale to the metric's unit) of one counter row.
type Counter = (
    &'static str,
    &'static str,
    &'static [(&'static str, &'static str)],
    &'static str,
    f64,
);

const CHECKPOINTS: &[Counter] = &[
    ("checkpoints_timed", "pgvitals_checkpoints_total", &[("kind", "timed")], "Checkpoints, by kind: timed (checkpoint_timeout) or requested (max_wal_size reached, CHECKPOINT, shutdown); many requested ones mean max_wal_size is too small.", 1.0),
    ("checkpoints_requested", "pgvitals_checkpoints_total", &[("kind", "requested")], "", 1.0),
    ("write_ms", "pgvitals_checkpoint_write_seconds_total", &[], "Time checkpoints spent writing buffers out.", 1e-3),
    ("sync_ms", "pgvitals_checkpoint_sync_seconds_total", &[], "Time checkpoints spent syncing files to disk.", 1e-3),
    ("buffers_checkpoint", "pgvitals_buffers_written_total", &[("by", "checkpointer")], "Shared buffers written, by who wrote them: the checkpointer, the background writer, or backends themselves (13-16; on 17+ see pgvitals_io_operations_total).", 1.0),
    ("buffers_clean", "pgvitals_buffers_written_total", &[("by", "bgwriter")], "", 1.0),
    ("buffers_backend", "pgvitals_buffers_written_total", &[("by", "backend")], "", 1.0),
    ("maxwritten_clean", "pgvitals_bgwriter_maxwritten_clean_total", &[], "Background writer rounds stopped at bgwriter_lru_maxpages.", 1.0),
    ("buffers_alloc", "pgvitals_buffers_allocated_total", &[], "Shared buffers allocated.", 1.0),
];

const WAL: &[Counter] = &[
    (
        "records",
        "pgvitals_wal_records_total",
        &[],
        "WAL records generated (14+).",
        1.0,
    ),
    (
        "full_page_images",
        "pgvitals_wal_full_page_images_total",
        &[],
        "Full-page images written to WAL (14+); many after each checkpoint is normal.",
        1.0,
    ),
    (
        "bytes",
        "pgvitals_wal_bytes_total",
        &[],
        "Bytes of WAL generated (14+).",
        1.0,
    ),
    (
        "buffers_full",
        "pgvitals_wal_buffers_full_total",
        &[],
        "WAL written out because wal_buffers was full (14+); rising: raise wal_buffers.",
        1.0,
    ),
    (
        "writes",
        "pgvitals_wal_writes_total",
        &[],
        "WAL buffer writes to disk (14-17; 18: pgvitals_io_operations_total{object=\"wal\"}).",
        1.0,
    ),
    (
        "syncs",
        "pgvitals_wal_syncs_total",
        &[],
        "WAL syncs to disk (14-17).",
        1.0,
    ),
    (
        "write_ms",
        "pgvitals_wal_write_seconds_total",
        &[],
        "Time spent writing WAL (14-17, with track_wal_io_timing).",
        1e-3,
    ),
    (
        "sync_ms",
        "pgvitals_wal_sync_seconds_total",
        &[],
        "Time spent syncing WAL (14-17, with track_wal_io_timing).",
        1e-3,
    ),
];

const IO_OPERATIONS: &[&str] = &["reads", "writes", "extends", "hits", "evictions", "fsyncs"];

/// Adds the counters of `row` to `families` (one family per metric name, in order).
fn counters(
    row: &tokio_postgres::Row,
    table: &[Counter],
    families: &mut Vec<Family>,
) -> Result<(), tokio_postgres::Error> {
    for (column, name, labels, help, scale) in table {
        let Some(v) = row.try_get::<_, Option<f64>>(*column)? else {
            continue;
        };
        let i = match families.iter().position(|f| f.name == *name) {
            Some(i) => i,
            None => {
                // The help is on a family's first counter in the table.
                let help = table.iter().find(|c| c.1 == *name).map_or(*help, |c| c.3);
                families.push(Family::counter(name, help));
                families.len() - 1
            }
        };
        families[i].samples.push(crate::metrics::Sample {
            labels: labels.iter().map(|(k, v)| (*k, v.to_string())).collect(),
            value: v * scale,
        });
    }
    Ok(())
}

/// Polls checkpoints, WAL and I/O statistics.
#[derive(Debug, Default)]
pub struct CheckpointsCollector;

impl Collector for CheckpointsCollector {
    fn collect<'a>(&'a mut self, cx: PollContext<'a>) -> BoxFuture<'a, CollectResult> {
        Box::pin(async move {
            let v = cx.server_version;
            let mut families = Vec::new();
            let row = cx
                .client
                .query_one(queries::CHECKPOINTS.sql(v)?, &[])
                .await?;
            counters(&row, CHECKPOINTS, &mut families)?;
            for row in cx.client.query(queries::WAL_STATS.sql(v)?, &[]).await? {
                counters(&row, WAL, &mut families)?;
            }
            let mut io = Family::counter(
                "pgvitals_io_operations_total",
                "I/O operations by backend type, object (relation, temp relation, wal on 18) and operation (reads, writes, extends, hits, evictions, fsyncs), from pg_stat_io (16+), summed over contexts.",
            );
            for row in cx.client.query(queries::IO_STATS.sql(v)?, &[]).await? {
                let backend: String = row.try_get("backend_type")?;
                let object: String = row.try_get("object")?;
                for op in IO_OPERATIONS {
                    io.push(
                        [
                            ("backend_type", backend.clone()),
                            ("object", object.clone()),
                            ("operation", op.to_string()),
                        ],
                        row.try_get(*op)?,
                    );
                }
            }
            families.push(io);
            Ok(families.into())
        })
    }
}
