//! The latest result of every poll, kept in memory, and what `/metrics` serves from it.
//!
//! The scheduler [`publish`](Snapshot::publish)es each poll's families here, already encoded
//! into Prometheus' text format (the work is done once per poll, off the scrape path), and once a
//! scraper has asked for gzip also compressed ([`crate::gzip`]). A scrape
//! [`render`](Snapshot::render)s the exposition as one block of bytes per metric family (one
//! `# HELP`/`# TYPE` each, every source's samples under it) next to pgvitals' own metrics. When
//! nothing was published since the last render it is the same blocks again; otherwise only the
//! families whose sources published are stitched anew from their sources' encoded (or
//! compressed) parts, the others are reused as they are. A scrape never touches a database.
//! Downstream readers (the evaluator, `/readyz`) read the typed families and readiness from here
//! too.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::SystemTime;

use bytes::Bytes;
use tokio::sync::watch;

use crate::collectors::Output;
use crate::detail::Report;
use crate::gzip::Piece;
use crate::metrics::{encode_samples, write_header, Family, Kind};
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
        crate::clock::unix(self.at)
    }
}

/// One poll's samples of one family, encoded. `id` is unique for the life of the process, so a
/// family block made of the same ids holds the same bytes.
#[derive(Debug)]
struct EncodedFamily {
    id: u64,
    name: &'static str,
    help: &'static str,
    kind: Kind,
    lines: String,
    /// `lines` compressed, made when a gzip render first needs it or at publish once gzip is
    /// asked for.
    gz: OnceLock<Piece>,
}

impl EncodedFamily {
    fn gz(&self) -> &Piece {
        self.gz
            .get_or_init(|| Piece::compress(self.lines.as_bytes()))
    }
}

/// Source of [`EncodedFamily::id`].
static NEXT_ID: AtomicU64 = AtomicU64::new(0);

/// A family's block of the exposition and the encoded parts it was stitched from.
struct Block {
    parts: Vec<u64>,
    bytes: Bytes,
    gz: Option<Piece>,
}

struct Rendered {
    generation: u64,
    chunks: Arc<[Bytes]>,
    /// The same, compressed: only once a scraper asked for gzip.
    gz: Option<Arc<[Piece]>>,
    blocks: HashMap<&'static str, Block>,
}

/// The in-memory snapshot.
pub struct Snapshot {
    entries: RwLock<BTreeMap<SourceKey, Entry>>,
    ready: RwLock<BTreeMap<String, bool>>,
    generation: watch::Sender<u64>,
    rendered: Mutex<Option<Rendered>>,
    /// Set by the first gzip render: from then on publishing compresses too.
    gzip_wanted: AtomicBool,
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
            gzip_wanted: AtomicBool::new(false),
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
        let gzip = self.gzip_wanted.load(Ordering::Relaxed);
        let encoded = families
            .iter()
            .map(|f| {
                let e = EncodedFamily {
                    id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
                    name: f.name,
                    help: f.help,
                    kind: f.kind,
                    lines: encode_samples(f, source_labels),
                    gz: OnceLock::new(),
                };
                if gzip {
                    e.gz();
                }
                e
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

    /// The exposition in Prometheus' text format, as one contiguous buffer (a copy of
    /// [`Snapshot::render_chunks`]).
    pub fn render(&self) -> Bytes {
        let chunks = self.render_chunks();
        let mut out = Vec::with_capacity(chunks.iter().map(|c| c.len()).sum());
        for c in chunks.iter() {
            out.extend_from_slice(c);
        }
        Bytes::from(out)
    }

    /// The exposition in Prometheus' text format: one chunk per metric family, then the
    /// self-metrics. Unchanged families are the very same buffers as in the previous render.
    pub fn render_chunks(&self) -> Arc<[Bytes]> {
        self.rendered(false).0
    }

    /// The exposition compressed: one [`Piece`] per metric family, then the self-metrics, to be
    /// laid under a gzip header ([`crate::gzip`]). The first call turns on compression at
    /// publish, so later renders only join pieces already made.
    pub fn render_gzip(&self) -> Arc<[Piece]> {
        self.gzip_wanted.store(true, Ordering::Relaxed);
        self.rendered(true).1.expect("a gzip render has pieces")
    }

    fn rendered(&self, gzip: bool) -> (Arc<[Bytes]>, Option<Arc<[Piece]>>) {
        let generation = *self.generation.borrow();
        let mut cache = self.rendered.lock().unwrap();
        if let Some(r) = cache.as_ref() {
            if r.generation == generation && (!gzip || r.gz.is_some()) {
                return (r.chunks.clone(), r.gz.clone());
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
        for fams in &entries {
            for f in fams.iter() {
                by_name.entry(f.name).or_default().push(f);
            }
        }
        let mut previous = cache.take().map(|r| r.blocks).unwrap_or_default();
        let mut blocks = HashMap::with_capacity(by_name.len());
        let mut chunks = Vec::with_capacity(by_name.len() + 1);
        let mut pieces = Vec::with_capacity(if gzip { by_name.len() + 1 } else { 0 });
        for (name, parts) in by_name {
            let ids: Vec<u64> = parts.iter().map(|p| p.id).collect();
            let mut block = match previous.remove(name) {
                Some(b) if b.parts == ids => b,
                _ => Block {
                    parts: ids,
                    bytes: stitch(&parts),
                    gz: None,
                },
            };
            if gzip {
                let piece = block.gz.get_or_insert_with(|| {
                    let header = Piece::compress(header_of(parts[0]).as_bytes());
                    Piece::join(std::iter::once(&header).chain(parts.iter().map(|p| p.gz())))
                });
                pieces.push(piece.clone());
            }
            chunks.push(block.bytes.clone());
            blocks.insert(name, block);
        }
        let own = Bytes::from(self.telemetry.encode());
        if gzip {
            pieces.push(Piece::compress(&own));
        }
        chunks.push(own);
        let chunks: Arc<[Bytes]> = chunks.into();
        let gz: Option<Arc<[Piece]>> = gzip.then(|| pieces.into());
        *cache = Some(Rendered {
            generation,
            chunks: chunks.clone(),
            gz: gz.clone(),
            blocks,
        });
        (chunks, gz)
    }
}

/// A family's `# HELP` and `# TYPE` lines.
fn header_of(f: &EncodedFamily) -> String {
    let mut out = String::with_capacity(f.help.len() + 128);
    write_header(&mut out, f.name, f.help, f.kind.as_str());
    out
}

/// One family's block: its header, then every source's samples.
fn stitch(parts: &[&EncodedFamily]) -> Bytes {
    let mut out = header_of(parts[0]);
    out.reserve(parts.iter().map(|p| p.lines.len()).sum::<usize>());
    for p in parts {
        out.push_str(&p.lines);
    }
    Bytes::from(out)
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
        // Unchanged snapshot: the very same buffers.
        assert!(Arc::ptr_eq(&s.render_chunks(), &s.render_chunks()));
        // One source publishes again: its family is stitched anew, the others are reused.
        let other = Family::gauge("pgvitals_other_bytes", "other").with([], 1.0);
        s.publish(key("a", "o"), &[("target", "a")], vec![other].into());
        let before = s.render_chunks();
        let f = Family::gauge("pgvitals_demo_bytes", "demo").with([("x", "1".into())], 3.0);
        s.publish(key("b", "c"), &[("target", "b")], vec![f].into());
        let after = s.render_chunks();
        assert!(before[0].starts_with(b"# HELP pgvitals_demo_bytes "));
        assert_ne!(before[0], after[0]);
        assert_eq!(before[1].as_ptr(), after[1].as_ptr());
        assert!(String::from_utf8(s.render().to_vec())
            .unwrap()
            .contains("pgvitals_demo_bytes{target=\"b\",x=\"1\"} 3\n"));
        s.remove_target("a");
        let text = String::from_utf8(s.render().to_vec()).unwrap();
        assert!(!text.contains("target=\"a\""));
    }

    /// The gzip pieces under one header inflate to the plain exposition, before and after a
    /// source publishes again (when publishing compresses too).
    #[test]
    fn the_gzip_render_inflates_to_the_plain_one() {
        use std::io::Read;
        let s = Snapshot::new(Arc::new(Telemetry::new(0.05)));
        let inflated = |s: &Snapshot| {
            let body = crate::gzip::member(s.render_gzip().iter()).concat();
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(&body[..])
                .read_to_end(&mut out)
                .unwrap();
            out
        };
        for (t, v) in [("a", 1.0), ("b", 2.0), ("a", 3.0)] {
            let f = Family::gauge("pgvitals_demo_bytes", "demo").with([("x", "1".into())], v);
            s.publish(key(t, "c"), &[("target", t)], vec![f].into());
            assert_eq!(inflated(&s), s.render().to_vec());
        }
        assert!(String::from_utf8(inflated(&s))
            .unwrap()
            .contains("pgvitals_demo_bytes{target=\"a\",x=\"1\"} 3\n"));
    }
}
