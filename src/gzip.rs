//! gzip for `/metrics` made of pieces compressed apart: each piece is raw DEFLATE that ends on a
//! byte boundary without a final block, so pieces compressed once (when a poll publishes) are
//! laid side by side under one gzip header and closed by an empty final block and a trailer whose
//! CRC-32 is combined from the pieces' own. A scrape then copies compressed bytes instead of
//! compressing the exposition again; what did not change since the last scrape is not
//! compressed again either.

use bytes::Bytes;
use flate2::{Compress, Compression, FlushCompress};

/// gzip's member header: deflate, no name, no time, unknown OS.
const HEADER: &[u8] = &[0x1f, 0x8b, 0x08, 0, 0, 0, 0, 0, 0, 0xff];

/// A compressed piece: raw DEFLATE (not final, byte-aligned), and the CRC-32 and length of the
/// text it holds.
#[derive(Debug, Clone, Default)]
pub struct Piece {
    /// The compressed bytes.
    pub bytes: Bytes,
    crc: u32,
    len: u64,
}

impl Piece {
    /// Compresses `text` at the fastest level (the exposition is repetitive; level 1 gets most
    /// of the gain at a fraction of the time).
    pub fn compress(text: &[u8]) -> Piece {
        let mut c = Compress::new(Compression::fast(), false);
        let mut out = Vec::with_capacity(text.len() / 4 + 64);
        loop {
            let done = c.total_in() as usize;
            if out.capacity() - out.len() < 64 {
                out.reserve(out.capacity().max(4096));
            }
            c.compress_vec(&text[done..], &mut out, FlushCompress::Sync)
                .expect("deflate of an in-memory buffer");
            // A sync flush is complete when all input is in and the output did not fill up.
            if c.total_in() as usize == text.len() && out.len() < out.capacity() {
                break;
            }
        }
        let mut h = crc32fast::Hasher::new();
        h.update(text);
        Piece {
            bytes: Bytes::from(out),
            crc: h.finalize(),
            len: text.len() as u64,
        }
    }

    /// The pieces one after the other, as one piece.
    pub fn join<'a>(pieces: impl IntoIterator<Item = &'a Piece>) -> Piece {
        let mut out = Vec::new();
        let mut crc = Crc::default();
        for p in pieces {
            out.extend_from_slice(&p.bytes);
            crc.add(p);
        }
        Piece {
            bytes: Bytes::from(out),
            crc: crc.hasher.finalize(),
            len: crc.len,
        }
    }
}

/// A whole gzip member of the pieces, as buffers to send one after the other: the header, each
/// piece's bytes (shared, not copied), the final block and the trailer.
pub fn member<'a>(pieces: impl IntoIterator<Item = &'a Piece>) -> Vec<Bytes> {
    let mut crc = Crc::default();
    let mut out = vec![Bytes::from_static(HEADER)];
    for p in pieces {
        crc.add(p);
        out.push(p.bytes.clone());
    }
    out.push(crc.trailer());
    out
}

/// The running CRC-32 and length of pieces laid side by side.
#[derive(Default)]
struct Crc {
    hasher: crc32fast::Hasher,
    len: u64,
}

impl Crc {
    /// Adds the next piece.
    fn add(&mut self, p: &Piece) {
        self.hasher
            .combine(&crc32fast::Hasher::new_with_initial_len(p.crc, p.len));
        self.len += p.len;
    }

    /// The empty final block and the gzip trailer (CRC-32 and length mod 2³²) that close a
    /// member made of the pieces added.
    fn trailer(self) -> Bytes {
        let mut out = vec![0x03, 0x00];
        out.extend_from_slice(&self.hasher.finalize().to_le_bytes());
        out.extend_from_slice(&(self.len as u32).to_le_bytes());
        Bytes::from(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn inflate(parts: &[Bytes]) -> Vec<u8> {
        let all: Vec<u8> = parts.iter().flat_map(|b| b.iter().copied()).collect();
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&all[..])
            .read_to_end(&mut out)
            .expect("a valid gzip member");
        out
    }

    #[test]
    fn pieces_compressed_apart_make_one_gzip_member() {
        let texts: Vec<Vec<u8>> = vec![
            b"# HELP a x\n# TYPE a gauge\n".to_vec(),
            (0..5000)
                .map(|i| format!("a{{target=\"t{i}\"}} {i}\n"))
                .collect::<String>()
                .into_bytes(),
            Vec::new(),
            b"b 1\n".to_vec(),
        ];
        let pieces: Vec<Piece> = texts.iter().map(|t| Piece::compress(t)).collect();
        let joined = Piece::join(&pieces[1..3]);
        let body = member([&pieces[0], &joined, &pieces[3]]);
        assert_eq!(inflate(&body), texts.concat());
        // Compressed, it is much smaller than the text.
        let size: usize = body.iter().map(Bytes::len).sum();
        assert!(size * 4 < texts.concat().len(), "{size} bytes");
        // No piece at all is a valid empty member.
        assert!(inflate(&member([])).is_empty());
    }
}
