//! The latest result of every poll, kept in memory, and what `/metrics` serves from it.
//!
//! The scheduler [`publish`](Snapshot::publish)es each poll's families here, already encoded
//! into Prometheus' text format (the work is done once per poll, off the scrape path). A scrape
//! [`render`](Snapshot::render)s the exposition: when nothing was published since the last
//! render it is the same bytes again; otherwise the encoded chunks are stitched together per
//! family (one `# HELP`/`# TYPE` each) next to pgvitals' own metrics. A scrape never touches a
//! database. Downstream readers (the evaluator, `/readyz`) read the typed families and
//! readiness from here too.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, RwLock};
use std::time::SystemTime;

use bytes::Bytes;
use tokio::sync::watch;

use crate::collectors::{Output, Report};
use crate::metrics::{encode_samples, Family, Kind};
use crate::telemetry::Telemetry;

/// Where a poll result came from.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SourceKey {
    /// Target name.
    pub target: String,
    /// Database polled (for cluster-wide collectors: the database it ran on).
    pub database: String,
    /// Collector name.
    pub collector: &'static str,
}

/// One published poll result.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The typed families.
    pub families: Arc<Vec<Family>>,
    /// Structured detail for JSON endpoints.
    pub report: Option<Report>,
    /// When the poll finished.
    pub at: SystemTime,
    /// The labels that say where the samples came from (`target`, maybe `database`), which
    /// the exposition puts before each sample's own.
    pub source_labels: Arc<Vec<(&'static str, String)>>,
    encoded: Arc<Vec<EncodedFamily>>,
}

impl Entry {
    /// When the poll finished, as Unix seconds.
    pub fn polled_at_unix(&self) -> f64 {
        self.at
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0)
    }
}

#[derive(Debug)]
struct EncodedFamily {
    name: &'static str,
    help: &'static str,
    kind: Kind,
    lines: String,
}

struct Rendered {
    generation: u64,
    body: Bytes,
}

/// The in-memory snapshot.
pub struct Snapshot {
    entries: RwLock<BTreeMap<SourceKey, Entry>>,
    ready: RwLock<BTreeMap<String, bool>>,
    generation: watch::Sender<u64>,
    rendered: Mutex<Option<Rendered>>,
    telemetry: Arc<Telemetry>,
}

impl Snapshot {
    /// An empty snapshot; `telemetry` is rendered with it.
    pub fn new(telemetry: Arc<Telemetry>) -> Snapshot {
        Snapshot {
            entries: RwLock::new(BTreeMap::new()),
            ready: RwLock::new(BTreeMap::new()),
            generation: watch::channel(0).0,
            rendered: Mutex::new(None),
            telemetry,
        }
    }

    /// The self-metrics rendered with the snapshot.
    pub fn telemetry(&self) -> &Arc<Telemetry> {
        &self.telemetry
    }

    /// Stores a poll's result. `source_labels` are prepended to every sample (`target`, and
    /// `database` for per-database collectors).
    pub fn publish(&self, key: SourceKey, source_labels: &[(&'static str, &str)], output: Output) {
        let Output { families, report } = output;
        let encoded = families
            .iter()
            .map(|f| EncodedFamily {
                name: f.name,
                help: f.help,
                kind: f.kind,
                lines: encode_samples(f, source_labels),
            })
            .collect();
        let entry = Entry {
            families: Arc::new(families),
            report,
            at: SystemTime::now(),
            source_labels: Arc::new(
                source_labels
                    .iter()
                    .map(|(k, v)| (*k, v.to_string()))
                    .collect(),
            ),
            encoded: Arc::new(encoded),
        };
        self.entries.write().unwrap().insert(key, entry);
        self.bump();
    }

    /// Removes a source's result (its collector stopped, or the target is gone).
    pub fn remove(&self, key: &SourceKey) {
        if self.entries.write().unwrap().remove(key).is_some() {
            self.bump();
        }
    }

    /// Removes every result of a target and its readiness.
    pub fn remove_target(&self, target: &str) {
        self.entries
            .write()
            .unwrap()
            .retain(|k, _| k.target != target);
        self.ready.write().unwrap().remove(target);
        self.bump();
    }

    /// Marks that something changed (self-metrics too), so the next render rebuilds.
    pub fn bump(&self) {
        self.generation.send_modify(|g| *g += 1);
    }

    /// A receiver that changes whenever something is published.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.generation.subscribe()
    }

    /// A copy of the current entries (cheap: families are shared).
    pub fn entries(&self) -> BTreeMap<SourceKey, Entry> {
        self.entries.read().unwrap().clone()
    }

    /// Registers a target as expected; it is not ready until [`Snapshot::set_ready`].
    pub fn expect_target(&self, target: &str) {
        self.ready
            .write()
            .unwrap()
            .entry(target.to_string())
            .or_insert(false);
    }

    /// Marks a target as polled at least once.
    pub fn set_ready(&self, target: &str) {
        self.ready.write().unwrap().insert(target.to_string(), true);
        self.bump();
    }

    /// Every target the snapshot expects (polled or not).
    pub fn targets(&self) -> Vec<String> {
        self.ready.read().unwrap().keys().cloned().collect()
    }

    /// Targets not yet polled once (empty when the daemon is ready).
    pub fn not_ready(&self) -> Vec<String> {
        self.ready
            .read()
            .unwrap()
            .iter()
            .filter(|(_, r)| !**r)
            .map(|(t, _)| t.clone())
            .collect()
    }

    /// The exposition in Prometheus' text format.
    pub fn render(&self) -> Bytes {
        let generation = *self.generation.borrow();
        let mut cache = self.rendered.lock().unwrap();
        if let Some(r) = cache.as_ref() {
            if r.generation == generation {
                return r.body.clone();
            }
        }
        let entries: Vec<Arc<Vec<EncodedFamily>>> = self
            .entries
            .read()
            .unwrap()
            .values()
            .map(|e| e.encoded.clone())
            .collect();
        let mut by_name: BTreeMap<&'static str, Vec<&EncodedFamily>> = BTreeMap::new();
        let mut size = 0;
        for fams in &entries {
            for f in fams.iter() {
                size += f.lines.len();
                by_name.entry(f.name).or_default().push(f);
            }
        }
        let telemetry = self.telemetry.encode();
        let mut out = String::with_capacity(size + telemetry.len() + by_name.len() * 128);
        let mut seen = BTreeSet::new();
        for (name, parts) in &by_name {
            let first = parts[0];
            seen.insert(*name);
            out.push_str("# HELP ");
            out.push_str(name);
            out.push(' ');
            out.push_str(first.help);
            out.push_str("\n# TYPE ");
            out.push_str(name);
            out.push(' ');
            out.push_str(first.kind.as_str());
            out.push('\n');
            for p in parts {
                out.push_str(&p.lines);
            }
        }
        out.push_str(&telemetry);
        let body = Bytes::from(out);
        *cache = Some(Rendered {
            generation,
            body: body.clone(),
        });
        body
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(target: &str, collector: &'static str) -> SourceKey {
        SourceKey {
            target: target.into(),
            database: "db".into(),
            collector,
        }
    }

    #[test]
    fn families_from_many_sources_share_one_header() {
        let s = Snapshot::new(Arc::new(Telemetry::new(0.05)));
        for t in ["a", "b"] {
            let f = Family::gauge("pgvitals_demo_bytes", "demo").with([("x", "1".into())], 2.0);
            s.publish(key(t, "c"), &[("target", t)], vec![f].into());
        }
        let text = String::from_utf8(s.render().to_vec()).unwrap();
        assert_eq!(text.matches("# TYPE pgvitals_demo_bytes gauge").count(), 1);
        assert!(text.contains("pgvitals_demo_bytes{target=\"a\",x=\"1\"} 2\npgvitals_demo_bytes{target=\"b\",x=\"1\"} 2\n"));
        assert!(text.contains("pgvitals_build_info{version="));
        // Unchanged snapshot: the very same buffer.
        assert_eq!(s.render().as_ptr(), s.render().as_ptr());
        s.remove_target("a");
        let text = String::from_utf8(s.render().to_vec()).unwrap();
        assert!(!text.contains("target=\"a\""));
    }
}
