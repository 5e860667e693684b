//! The bytes of a field file: the file header and the block records, with their checksums.
//!
//! ```text
//! offset 0        file header (FILE_HEADER_BYTES = 4 KiB region; 64 bytes used)
//! offset 4 KiB    pair 0: slot 0 | slot 1
//!                 pair 1: slot 0 | slot 1
//!                 …        (pairs are appended as blocks are first written)
//! ```
//!
//! A slot holds one version of one block: a 64-byte record header, then the payload (the
//! block's features, little-endian: f32, or a f32 scale then one int8 per value), the whole
//! rounded up to 512 bytes (a slot has room for the f32 encoding; a read takes only the
//! record's bytes, [`record_bytes`], so an int8 one reads a quarter of them). Each written block
//! owns one pair of slots and writes its versions alternately into them (see `store`). All
//! integers are little-endian. Checksums are CRC-32 (crc32fast): the file header's covers its
//! first 60 bytes; a record header's covers its first 60 bytes, which include the payload's
//! own CRC-32, so a record whose header or payload was torn is detected.
//!
//! File header:
//!
//! | bytes | field |
//! | --- | --- |
//! | 0..8 | magic `SACSFLD\0` |
//! | 8..12 | format version (2; version 1 files, written before byte 34 existed, open as spatial hashing) |
//! | 12..16 | header region size (4096) |
//! | 16, 17, 18, 19 | dim, levels, log2_table, features |
//! | 20..24, 24..28 | base_resolution, finest_resolution |
//! | 28..32 | tiles_per_axis |
//! | 32 | log2_block_bytes |
//! | 33 | cold encoding (0: f32, 1: int8 with a per-block scale) |
//! | 34 | hashing (0: spatial, 1: local, 2: bricked, local with bricked dense levels; version 2) |
//! | 36..40 | init_scale (f32 bits) |
//! | 40..48 | seed |
//! | 48..52 | slot size in bytes (derived, stored as a check) |
//! | 60..64 | CRC-32 of bytes 0..60 |
//!
//! Record header:
//!
//! | bytes | field |
//! | --- | --- |
//! | 0..4 | magic `SFBK` |
//! | 4..6 | payload encoding (0: f32, 1: int8) |
//! | 8..16 | block id |
//! | 16..24 | sequence number of this version (1, 2, …) |
//! | 24..28 | payload length in bytes |
//! | 28..32 | CRC-32 of the payload |
//! | 60..64 | CRC-32 of bytes 0..60 |
//!
//! An all-zero slot (never written, or a hole) fails the magic check and holds no version.

use crate::error::{Error, Result};
use crate::layout::{Blocking, Encoding, Hashing, Layout};

/// Size of the region the file header occupies; block pairs start here.
pub const FILE_HEADER_BYTES: u64 = 4096;
/// Bytes of the file header that carry data (the rest of the region is zero).
const FILE_HEADER_USED: usize = 64;
const FILE_MAGIC: [u8; 8] = *b"SACSFLD\0";
/// The format version this crate writes. It reads this one and [`FORMAT_VERSION_SPATIAL_ONLY`].
pub const FORMAT_VERSION: u32 = 2;
/// The first format, before the hashing byte: its files have byte 34 zero and open as
/// [`Hashing::Spatial`], their only hashing.
pub const FORMAT_VERSION_SPATIAL_ONLY: u32 = 1;

/// Size of a record header.
pub const RECORD_HEADER_BYTES: usize = 64;
const RECORD_MAGIC: [u8; 4] = *b"SFBK";
/// Slots are rounded up to this (a disk sector).
const SLOT_ALIGN: usize = 512;

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

/// Bytes of one slot for a blocking: record header plus f32 payload, rounded up to 512.
pub fn slot_bytes(blocking: &Blocking) -> usize {
    (RECORD_HEADER_BYTES + blocking.floats_per_block() * 4).next_multiple_of(SLOT_ALIGN)
}

/// Bytes of one record for a blocking in `encoding`: its header plus its payload, unrounded.
/// A slot has room for the f32 record; reading a block reads only this much of its slot
/// (`store`), so an int8 block (64 + 4 + 4,096 bytes for 16 KiB blocks) reads two pages of
/// the file instead of the slot's five.
pub fn record_bytes(blocking: &Blocking, encoding: Encoding) -> usize {
    RECORD_HEADER_BYTES + encoding.payload_bytes(blocking.floats_per_block())
}

/// Encodes the file header region (`FILE_HEADER_BYTES` bytes) of a validated layout.
pub fn encode_file_header(layout: &Layout) -> Vec<u8> {
    let mut b = vec![0u8; FILE_HEADER_BYTES as usize];
    b[0..8].copy_from_slice(&FILE_MAGIC);
    b[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    b[12..16].copy_from_slice(&(FILE_HEADER_BYTES as u32).to_le_bytes());
    b[16] = layout.dim;
    b[17] = layout.levels;
    b[18] = layout.log2_table;
    b[19] = layout.features;
    b[20..24].copy_from_slice(&layout.base_resolution.to_le_bytes());
    b[24..28].copy_from_slice(&layout.finest_resolution.to_le_bytes());
    b[28..32].copy_from_slice(&layout.tiles_per_axis.to_le_bytes());
    b[32] = layout.log2_block_bytes;
    b[33] = layout.cold_encoding.code();
    b[34] = layout.hashing.code();
    b[36..40].copy_from_slice(&layout.init_scale.to_bits().to_le_bytes());
    b[40..48].copy_from_slice(&layout.seed.to_le_bytes());
    let slot = slot_bytes(&Blocking::new(layout)) as u32;
    b[48..52].copy_from_slice(&slot.to_le_bytes());
    let crc = crc32fast::hash(&b[0..60]);
    b[60..64].copy_from_slice(&crc.to_le_bytes());
    b
}

/// Decodes and checks a file header (at least its first 64 bytes).
pub fn decode_file_header(b: &[u8]) -> Result<Layout> {
    if b.len() < FILE_HEADER_USED {
        return Err(Error::BadHeader(format!(
            "file is {} bytes, shorter than a header",
            b.len()
        )));
    }
    if b[0..8] != FILE_MAGIC {
        return Err(Error::BadHeader("not a field file (magic)".into()));
    }
    let crc = crc32fast::hash(&b[0..60]);
    if crc != u32_at(b, 60) {
        return Err(Error::BadHeader("header checksum mismatch".into()));
    }
    let version = u32_at(b, 8);
    let hashing = match version {
        FORMAT_VERSION => Hashing::from_code(b[34])
            .ok_or_else(|| Error::BadHeader(format!("unknown hashing {}", b[34])))?,
        FORMAT_VERSION_SPATIAL_ONLY if b[34] == 0 => Hashing::Spatial,
        _ => {
            return Err(Error::BadHeader(format!(
                "format version {version} (byte 34: {}), this crate reads 1 and 2",
                b[34]
            )))
        }
    };
    if u32_at(b, 12) as u64 != FILE_HEADER_BYTES {
        return Err(Error::BadHeader("header region size".into()));
    }
    let layout = Layout {
        dim: b[16],
        levels: b[17],
        log2_table: b[18],
        features: b[19],
        base_resolution: u32_at(b, 20),
        finest_resolution: u32_at(b, 24),
        tiles_per_axis: u32_at(b, 28),
        log2_block_bytes: b[32],
        init_scale: f32::from_bits(u32_at(b, 36)),
        seed: u64_at(b, 40),
        cold_encoding: Encoding::from_code(b[33])
            .ok_or_else(|| Error::BadHeader(format!("unknown cold encoding {}", b[33])))?,
        hashing,
    };
    layout
        .validate()
        .map_err(|e| Error::BadHeader(e.to_string()))?;
    if u32_at(b, 48) as usize != slot_bytes(&Blocking::new(&layout)) {
        return Err(Error::BadHeader(
            "slot size does not match the layout".into(),
        ));
    }
    Ok(layout)
}

/// What a valid record header says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordHeader {
    /// The block this record is a version of.
    pub block: u64,
    /// Its sequence number (versions of a block are numbered 1, 2, …).
    pub seq: u64,
    /// How the payload is encoded.
    pub encoding: Encoding,
    /// Payload length in bytes.
    pub payload_len: u32,
    /// CRC-32 of the payload.
    pub payload_crc: u32,
}

/// Writes a record (header, then the payload: `values` in `encoding`) into `out`, which must
/// be exactly one slot long; the tail past the payload is zeroed.
pub fn encode_record(block: u64, seq: u64, encoding: Encoding, values: &[f32], out: &mut [u8]) {
    let payload_len = encoding.payload_bytes(values.len());
    assert!(
        RECORD_HEADER_BYTES + payload_len <= out.len(),
        "record larger than its slot"
    );
    let (head, rest) = out.split_at_mut(RECORD_HEADER_BYTES);
    match encoding {
        Encoding::F32 => {
            for (chunk, v) in rest.chunks_exact_mut(4).zip(values) {
                chunk.copy_from_slice(&v.to_le_bytes());
            }
        }
        Encoding::Int8 => {
            let max = values.iter().fold(0f32, |m, v| m.max(v.abs()));
            let scale = max / 127.0;
            rest[0..4].copy_from_slice(&scale.to_le_bytes());
            for (q, v) in rest[4..].iter_mut().zip(values) {
                let level = if scale > 0.0 {
                    (v / scale).round().clamp(-127.0, 127.0)
                } else {
                    0.0
                };
                *q = (level as i8) as u8;
            }
        }
    }
    rest[payload_len..].fill(0);
    let payload_crc = crc32fast::hash(&rest[..payload_len]);
    head.fill(0);
    head[0..4].copy_from_slice(&RECORD_MAGIC);
    head[4..6].copy_from_slice(&(encoding.code() as u16).to_le_bytes());
    head[8..16].copy_from_slice(&block.to_le_bytes());
    head[16..24].copy_from_slice(&seq.to_le_bytes());
    head[24..28].copy_from_slice(&(payload_len as u32).to_le_bytes());
    head[28..32].copy_from_slice(&payload_crc.to_le_bytes());
    let crc = crc32fast::hash(&head[0..60]);
    head[60..64].copy_from_slice(&crc.to_le_bytes());
}

/// Parses a record header; `None` if its magic, checksum or encoding is wrong (an empty, torn
/// or foreign slot).
pub fn decode_record_header(b: &[u8]) -> Option<RecordHeader> {
    if b.len() < RECORD_HEADER_BYTES || b[0..4] != RECORD_MAGIC {
        return None;
    }
    if crc32fast::hash(&b[0..60]) != u32_at(b, 60) {
        return None;
    }
    let code = u16::from_le_bytes([b[4], b[5]]);
    let encoding = Encoding::from_code(u8::try_from(code).ok()?)?;
    Some(RecordHeader {
        block: u64_at(b, 8),
        seq: u64_at(b, 16),
        encoding,
        payload_len: u32_at(b, 24),
        payload_crc: u32_at(b, 28),
    })
}

/// Checks a record (header and payload: a whole slot, or its first [`record_bytes`]) as a
/// version of `block` and decodes its values into `out`. Returns the record's sequence
/// number, or `None` if anything fails to match.
pub fn decode_record(slot: &[u8], block: u64, out: &mut [f32]) -> Option<u64> {
    let h = decode_record_header(slot)?;
    let len = h.encoding.payload_bytes(out.len());
    if h.block != block || h.payload_len as usize != len || slot.len() < RECORD_HEADER_BYTES + len {
        return None;
    }
    let payload = &slot[RECORD_HEADER_BYTES..RECORD_HEADER_BYTES + len];
    if crc32fast::hash(payload) != h.payload_crc {
        return None;
    }
    match h.encoding {
        Encoding::F32 => {
            for (v, chunk) in out.iter_mut().zip(payload.chunks_exact(4)) {
                *v = f32::from_le_bytes(chunk.try_into().expect("4 bytes"));
            }
        }
        Encoding::Int8 => {
            let scale = f32::from_le_bytes(payload[0..4].try_into().expect("4 bytes"));
            for (v, &q) in out.iter_mut().zip(&payload[4..]) {
                *v = (q as i8) as f32 * scale;
            }
        }
    }
    Some(h.seq)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_header_round_trips_and_detects_damage() {
        let layout = Layout {
            dim: 2,
            features: 4,
            seed: 99,
            ..Layout::default()
        };
        let mut b = encode_file_header(&layout);
        assert_eq!(decode_file_header(&b).unwrap(), layout);
        b[17] ^= 1; // levels
        assert!(matches!(decode_file_header(&b), Err(Error::BadHeader(_))));
        b[17] ^= 1;
        b[0] = b'X';
        assert!(matches!(decode_file_header(&b), Err(Error::BadHeader(_))));
    }

    /// Rewrites a header's version and hashing byte, with a fresh checksum.
    fn with_version(layout: &Layout, version: u32, hashing_byte: u8) -> Vec<u8> {
        let mut b = encode_file_header(layout);
        b[8..12].copy_from_slice(&version.to_le_bytes());
        b[34] = hashing_byte;
        let crc = crc32fast::hash(&b[0..60]);
        b[60..64].copy_from_slice(&crc.to_le_bytes());
        b
    }

    #[test]
    fn hashing_round_trips_and_version_1_files_open_as_spatial() {
        for (hashing, code) in [
            (Hashing::Spatial, 0),
            (Hashing::Local, 1),
            (Hashing::Bricked, 2),
        ] {
            let layout = Layout {
                hashing,
                ..Layout::default()
            };
            let b = encode_file_header(&layout);
            assert_eq!(u32_at(&b, 8), FORMAT_VERSION);
            assert_eq!(b[34], code, "{hashing:?}");
            assert_eq!(decode_file_header(&b).unwrap(), layout);
        }
        // A version 1 file (byte 34 zero) is spatial.
        let v1 = with_version(&Layout::default(), 1, 0);
        assert_eq!(decode_file_header(&v1).unwrap().hashing, Hashing::Spatial);
        // Version 1 never had a hashing byte; an unknown code or version is refused.
        for (version, byte) in [(1, 1), (1, 2), (2, 3), (3, 0)] {
            let bad = with_version(&Layout::default(), version, byte);
            assert!(
                matches!(decode_file_header(&bad), Err(Error::BadHeader(_))),
                "version {version}, byte {byte}"
            );
        }
    }

    #[test]
    fn record_round_trips_and_a_torn_payload_fails() {
        let values: Vec<f32> = (0..1024).map(|i| i as f32 * 0.5 - 3.0).collect();
        let mut slot = vec![0xAAu8; 4608];
        encode_record(7, 3, Encoding::F32, &values, &mut slot);
        let mut out = vec![0f32; 1024];
        assert_eq!(decode_record(&slot, 7, &mut out), Some(3));
        assert_eq!(out, values);
        assert_eq!(
            decode_record(&slot, 8, &mut out),
            None,
            "another block's record"
        );
        // A write torn after the first 4 KiB: the tail keeps older bytes.
        slot[4096..].fill(0x55);
        assert_eq!(decode_record(&slot, 7, &mut out), None);
        assert!(
            decode_record_header(&[0u8; 64]).is_none(),
            "an empty slot holds nothing"
        );
    }

    #[test]
    fn an_int8_record_of_a_16_kib_block_spans_two_pages_from_any_slot() {
        let blocking = Blocking::new(&Layout {
            features: 4,
            ..Layout::default()
        });
        let slot = slot_bytes(&blocking);
        assert_eq!(slot, 16_896, "64 + 16,384 rounded up to 512");
        assert_eq!(record_bytes(&blocking, Encoding::F32), 16_448);
        assert_eq!(record_bytes(&blocking, Encoding::Int8), 4_164);
        // Slots start at 4 KiB + a multiple of 512 (pairs of two slots): the whole slot or the
        // f32 record covers five 4 KiB pages wherever it starts, the int8 record two.
        let pages = |at: usize, len: usize| (at + len).div_ceil(4096) - at / 4096;
        for k in 0..64 {
            let at = FILE_HEADER_BYTES as usize + k * slot;
            assert_eq!(pages(at, slot), 5, "slot {k}");
            assert_eq!(pages(at, record_bytes(&blocking, Encoding::F32)), 5);
            assert_eq!(pages(at, record_bytes(&blocking, Encoding::Int8)), 2);
        }
        // A record decodes from its own bytes, without the rest of the slot.
        let values: Vec<f32> = (0..blocking.floats_per_block())
            .map(|i| (i % 19) as f32 * 0.01)
            .collect();
        let mut buf = vec![0u8; slot];
        encode_record(5, 2, Encoding::Int8, &values, &mut buf);
        let mut out = vec![0f32; values.len()];
        assert_eq!(decode_record(&buf[..4_164], 5, &mut out), Some(2));
        assert_eq!(
            decode_record(&buf[..4_163], 5, &mut out),
            None,
            "one byte short"
        );
    }

    #[test]
    fn int8_records_quantise_within_half_a_step() {
        let values: Vec<f32> = (0..1024)
            .map(|i| ((i * 37) % 101) as f32 * 0.01 - 0.5)
            .collect();
        let mut slot = vec![0u8; 4608];
        encode_record(2, 1, Encoding::Int8, &values, &mut slot);
        let h = decode_record_header(&slot).unwrap();
        assert_eq!((h.encoding, h.payload_len), (Encoding::Int8, 4 + 1024));
        let mut out = vec![0f32; 1024];
        assert_eq!(decode_record(&slot, 2, &mut out), Some(1));
        let step = 0.5 / 127.0;
        for (v, q) in values.iter().zip(&out) {
            assert!((v - q).abs() <= step / 2.0 + 1e-7, "{v} → {q}");
        }
        let extreme = values.iter().position(|&v| v == -0.5).unwrap();
        assert_eq!(out[extreme], -0.5, "the largest magnitude is exact");
        encode_record(2, 1, Encoding::Int8, &[0.0; 1024], &mut slot);
        assert_eq!(decode_record(&slot, 2, &mut out), Some(1));
        assert!(out.iter().all(|&v| v == 0.0));
    }
}
