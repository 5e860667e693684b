//! The block index at the tail of a field file: what a clean close leaves so that the next open
//! reads a few MiB instead of every slot header.
//!
//! ```text
//! 4 KiB           header | pair 0 | pair 1 | … | pair P-1 | (dead bytes) | index | footer
//!                                                          ^ pairs end     ^ index_offset
//!                                                                                 ^ file length − 4 KiB
//! ```
//!
//! At a clean close (`BlockStore::write_index`, called by `Drop`) the store writes, after its
//! last pair, the **index**: one 40-byte entry per present block, then one 8-byte entry per
//! free pair; then, in the last 4 KiB of the file, the **footer**, which says where the index
//! is, how many pairs the block area holds, and carries checksums. All integers are
//! little-endian; checksums are CRC-32 (crc32fast).
//!
//! Index entry (40 bytes): block id (0..8), pair (8..16), sequence number in slot 0 (16..24)
//! and slot 1 (24..32), 0 for a slot without a valid header; byte 32 says which slot holds the
//! block's current version (0: not known, the higher sequence number is only a candidate;
//! 1: neither; 2: slot 0; 3: slot 1); bytes 33..40 are zero. A free pair's entry is its index.
//!
//! Footer (the last 4 KiB of the file, 128 bytes used, the rest zero):
//!
//! | bytes | field |
//! | --- | --- |
//! | 0..8 | magic `SFINDEX\0` |
//! | 8..12 | index format version (1) |
//! | 16..24 | pairs in the block area |
//! | 24..32 | block entries |
//! | 32..40 | free pair entries |
//! | 40..48 | byte offset of the index |
//! | 48..56 | the file's length when the footer was written |
//! | 56..60 | CRC-32 of the index (block entries then free entries) |
//! | 60..64 | CRC-32 of the file header's first 64 bytes (binds the index to the layout) |
//! | 124..128 | CRC-32 of bytes 0..124 |
//!
//! The open accepts the index only if the footer sits in the last 4 KiB of the file, checks
//! out, names the file's current length, and the index checks out entry by entry (every pair
//! below the pair count used exactly once, by a block or as a free pair). Anything else sends
//! the open to the scan. Why an accepted index is never stale is argued in `store`'s module
//! documentation; this module only encodes, writes, reads and checks.

use std::collections::HashMap;
use std::fs::File;
use std::os::unix::fs::FileExt;

use super::{advise, Current, Geometry, Pair};

/// The footer's size: the last 4 KiB of a file with an index.
pub(super) const FOOTER_BYTES: u64 = 4096;
const FOOTER_USED: usize = 128;
const MAGIC: [u8; 8] = *b"SFINDEX\0";
const VERSION: u32 = 1;
const ENTRY_BYTES: usize = 40;
const FREE_BYTES: usize = 8;
/// The index is written and read through a buffer of this size, whatever its length.
pub(super) const IO_CHUNK: usize = 1 << 20;

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

/// What a footer says. A footer that parses (magic and own checksum) is not yet an accepted
/// index: [`load`] checks the rest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Footer {
    /// Where the footer itself sits.
    pub pos: u64,
    pub pair_count: u64,
    pub entries: u64,
    pub free: u64,
    pub index_offset: u64,
    pub file_len: u64,
    pub index_crc: u32,
    pub header_crc: u32,
}

impl Footer {
    fn index_len(&self) -> Option<u64> {
        let e = self.entries.checked_mul(ENTRY_BYTES as u64)?;
        e.checked_add(self.free.checked_mul(FREE_BYTES as u64)?)
    }

    fn encode(&self) -> Vec<u8> {
        let mut b = vec![0u8; FOOTER_BYTES as usize];
        b[0..8].copy_from_slice(&MAGIC);
        b[8..12].copy_from_slice(&VERSION.to_le_bytes());
        b[16..24].copy_from_slice(&self.pair_count.to_le_bytes());
        b[24..32].copy_from_slice(&self.entries.to_le_bytes());
        b[32..40].copy_from_slice(&self.free.to_le_bytes());
        b[40..48].copy_from_slice(&self.index_offset.to_le_bytes());
        b[48..56].copy_from_slice(&self.file_len.to_le_bytes());
        b[56..60].copy_from_slice(&self.index_crc.to_le_bytes());
        b[60..64].copy_from_slice(&self.header_crc.to_le_bytes());
        let crc = crc32fast::hash(&b[0..FOOTER_USED - 4]);
        b[FOOTER_USED - 4..FOOTER_USED].copy_from_slice(&crc.to_le_bytes());
        b
    }

    fn decode(b: &[u8], pos: u64) -> Option<Footer> {
        if b.len() < FOOTER_USED || b[0..8] != MAGIC {
            return None;
        }
        if crc32fast::hash(&b[0..FOOTER_USED - 4]) != u32_at(b, FOOTER_USED - 4) {
            return None;
        }
        Some(Footer {
            pos,
            pair_count: u64_at(b, 16),
            entries: u64_at(b, 24),
            free: u64_at(b, 32),
            index_offset: u64_at(b, 40),
            file_len: u64_at(b, 48),
            index_crc: u32_at(b, 56),
            header_crc: u32_at(b, 60),
        })
        .filter(|_| u32_at(b, 8) == VERSION)
    }
}

/// Reads the last 4 KiB of a file of length `len` and parses them as a footer (`None` if the
/// file is too short to hold one or they are not one). Returns the bytes read too.
pub(super) fn read_footer(
    file: &File,
    len: u64,
    first_pair: u64,
) -> std::io::Result<(Option<Footer>, u64)> {
    if len < first_pair + FOOTER_BYTES {
        return Ok((None, 0));
    }
    let pos = len - FOOTER_BYTES;
    let mut b = vec![0u8; FOOTER_USED];
    file.read_exact_at(&mut b, pos)?;
    Ok((Footer::decode(&b, pos), FOOTER_USED as u64))
}

/// What an accepted index gives the store.
pub(super) struct Loaded {
    pub pairs: HashMap<u64, Pair>,
    pub free_pairs: Vec<u64>,
    pub pair_count: u64,
    /// Bytes of index read.
    pub bytes_read: u64,
}

/// Checks `footer` against the file (length `len`, header checksum `header_crc`) and reads and
/// checks the index it points to. `Err` names the first check that failed; the caller then
/// scans. An I/O error also sends it to the scan (which reports the error if it recurs).
pub(super) fn load(
    file: &File,
    footer: &Footer,
    len: u64,
    header_crc: u32,
    g: &Geometry,
) -> Result<Loaded, &'static str> {
    if footer.file_len != len {
        return Err("the file's length changed after the index was written");
    }
    if footer.header_crc != header_crc {
        return Err("the index belongs to another file header");
    }
    let index_len = footer.index_len().ok_or("index length overflows")?;
    let pairs_end = footer
        .pair_count
        .checked_mul(g.pair_bytes)
        .and_then(|b| b.checked_add(g.first_pair))
        .ok_or("pair count overflows")?;
    if pairs_end > footer.index_offset
        || footer
            .index_offset
            .checked_add(index_len)
            .is_none_or(|end| end > footer.pos)
    {
        return Err("the index overlaps the pairs or the footer");
    }
    if footer.entries.checked_add(footer.free) != Some(footer.pair_count) {
        return Err("blocks and free pairs do not add up to the pair count");
    }
    if footer.entries > g.block_count {
        return Err("more entries than the layout has blocks");
    }
    let mut map = MapBuilder {
        pairs: HashMap::with_capacity(footer.entries as usize),
        free_pairs: Vec::with_capacity(footer.free as usize),
        used: vec![0u64; footer.pair_count.div_ceil(64) as usize],
        pair_count: footer.pair_count,
        block_count: g.block_count,
    };
    // The checksum is checked first: a structural fault found on the way is reported only if
    // the bytes are those the footer vouches for.
    let mut fault: Option<&'static str> = None;
    let mut crc = crc32fast::Hasher::new();
    let mut buf = vec![0u8; IO_CHUNK.min(index_len as usize)];
    let entry_end = footer.entries * ENTRY_BYTES as u64;
    let mut at = 0u64;
    while at < index_len {
        let n = (index_len - at).min(chunk_for(at, footer.entries) as u64) as usize;
        let bytes = &mut buf[..n];
        file.read_exact_at(bytes, footer.index_offset + at)
            .map_err(|_| "the index cannot be read")?;
        crc.update(bytes);
        if fault.is_none() {
            let parsed = if at < entry_end {
                bytes
                    .chunks_exact(ENTRY_BYTES)
                    .try_for_each(|e| map.entry(e))
            } else {
                bytes.chunks_exact(FREE_BYTES).try_for_each(|e| map.free(e))
            };
            fault = parsed.err();
        }
        at += n as u64;
    }
    if crc.finalize() != footer.index_crc {
        return Err("the index fails its checksum");
    }
    if let Some(fault) = fault {
        return Err(fault);
    }
    advise(
        file,
        footer.index_offset,
        len - footer.index_offset,
        libc::POSIX_FADV_DONTNEED,
    );
    Ok(Loaded {
        pairs: map.pairs,
        free_pairs: map.free_pairs,
        pair_count: footer.pair_count,
        bytes_read: index_len,
    })
}

/// The map being rebuilt from index entries, with the checks each entry must pass.
struct MapBuilder {
    pairs: HashMap<u64, Pair>,
    free_pairs: Vec<u64>,
    /// One bit per pair: named by an entry already.
    used: Vec<u64>,
    pair_count: u64,
    block_count: u64,
}

impl MapBuilder {
    fn claim(&mut self, pair: u64) -> Result<(), &'static str> {
        if pair >= self.pair_count {
            return Err("an entry names a pair beyond the pair count");
        }
        let (word, bit) = ((pair / 64) as usize, pair % 64);
        if self.used[word] & (1 << bit) != 0 {
            return Err("a pair is named twice");
        }
        self.used[word] |= 1 << bit;
        Ok(())
    }

    fn entry(&mut self, e: &[u8]) -> Result<(), &'static str> {
        let block = u64_at(e, 0);
        let pair = u64_at(e, 8);
        let seq = [u64_at(e, 16), u64_at(e, 24)];
        let current = Current::from_code(e[32]).ok_or("an entry's current slot is unknown")?;
        if e[33..40].iter().any(|&z| z != 0) {
            return Err("an entry's padding is not zero");
        }
        if block >= self.block_count {
            return Err("an entry names a block beyond the layout");
        }
        if let Current::Slot(s) = current {
            if seq[s] == 0 {
                return Err("an entry's current slot has no version");
            }
        }
        if seq == [0, 0] {
            return Err("an entry names a pair with no valid header");
        }
        self.claim(pair)?;
        if self
            .pairs
            .insert(block, Pair::new(pair, seq, current))
            .is_some()
        {
            return Err("a block has two entries");
        }
        Ok(())
    }

    fn free(&mut self, e: &[u8]) -> Result<(), &'static str> {
        let pair = u64::from_le_bytes(e.try_into().expect("8 bytes"));
        self.claim(pair)?;
        self.free_pairs.push(pair);
        Ok(())
    }
}

/// How many bytes to read or write from index byte `at`: up to [`IO_CHUNK`], never across the
/// boundary between block entries and free entries, and always whole entries.
fn chunk_for(at: u64, entries: u64) -> usize {
    let entry_end = entries * ENTRY_BYTES as u64;
    if at < entry_end {
        let whole = (IO_CHUNK / ENTRY_BYTES * ENTRY_BYTES) as u64;
        whole.min(entry_end - at) as usize
    } else {
        IO_CHUNK / FREE_BYTES * FREE_BYTES
    }
}

/// Where an index of a given size goes: right after the pairs (rounded up to 4 KiB), or, if
/// the file is already longer, against its end, for the file never shrinks.
pub(super) struct Placement {
    pub entries: u64,
    pub free: u64,
    pub pair_count: u64,
    pub index_offset: u64,
    pub footer_pos: u64,
    pub file_len: u64,
}

impl Placement {
    /// The place of an index of `entries` blocks and `free` free pairs, for `pair_count`
    /// pairs, in a file now `len` bytes long.
    pub fn new(entries: u64, free: u64, pair_count: u64, len: u64, g: &Geometry) -> Placement {
        let index_len = entries * ENTRY_BYTES as u64 + free * FREE_BYTES as u64;
        let pairs_end = g.first_pair + pair_count * g.pair_bytes;
        let index_room = index_len.next_multiple_of(FOOTER_BYTES);
        let needed = pairs_end.next_multiple_of(FOOTER_BYTES) + index_room + FOOTER_BYTES;
        let file_len = len.max(needed);
        let footer_pos = file_len - FOOTER_BYTES;
        Placement {
            entries,
            free,
            pair_count,
            index_offset: footer_pos - index_room,
            footer_pos,
            file_len,
        }
    }
}

/// Writes the index of `pairs` and `free_pairs` and its footer where `place` says, then syncs
/// the file's data; returns the bytes written. The caller must have synced every slot write
/// before, and must invalidate the footer before its next slot write.
pub(super) fn write(
    file: &File,
    pairs: &HashMap<u64, Pair>,
    free_pairs: &[u64],
    place: &Placement,
    header_crc: u32,
) -> std::io::Result<u64> {
    debug_assert_eq!(
        (place.entries, place.free),
        (pairs.len() as u64, free_pairs.len() as u64)
    );
    let index_len = place.entries * ENTRY_BYTES as u64 + place.free * FREE_BYTES as u64;
    let mut crc = crc32fast::Hasher::new();
    let mut buf: Vec<u8> = Vec::with_capacity(IO_CHUNK.min(index_len as usize));
    let mut at = place.index_offset;
    let mut flush = |buf: &mut Vec<u8>, crc: &mut crc32fast::Hasher| -> std::io::Result<()> {
        crc.update(buf);
        file.write_all_at(buf, at)?;
        at += buf.len() as u64;
        buf.clear();
        Ok(())
    };
    for (&block, pair) in pairs {
        if buf.len() + ENTRY_BYTES > IO_CHUNK {
            flush(&mut buf, &mut crc)?;
        }
        let mut e = [0u8; ENTRY_BYTES];
        e[0..8].copy_from_slice(&block.to_le_bytes());
        e[8..16].copy_from_slice(&pair.index.to_le_bytes());
        e[16..24].copy_from_slice(&pair.seq[0].to_le_bytes());
        e[24..32].copy_from_slice(&pair.seq[1].to_le_bytes());
        e[32] = pair.current().code();
        buf.extend_from_slice(&e);
    }
    for &pair in free_pairs {
        if buf.len() + FREE_BYTES > IO_CHUNK {
            flush(&mut buf, &mut crc)?;
        }
        buf.extend_from_slice(&pair.to_le_bytes());
    }
    flush(&mut buf, &mut crc)?;
    let footer = Footer {
        pos: place.footer_pos,
        pair_count: place.pair_count,
        entries: place.entries,
        free: place.free,
        index_offset: place.index_offset,
        file_len: place.file_len,
        index_crc: crc.finalize(),
        header_crc,
    };
    file.write_all_at(&footer.encode(), place.footer_pos)?;
    file.sync_data()?;
    advise(
        file,
        place.index_offset,
        place.file_len - place.index_offset,
        libc::POSIX_FADV_DONTNEED,
    );
    Ok(index_len + FOOTER_BYTES)
}

/// Overwrites the footer at `pos` with zeros and syncs the file's data: from then on no open
/// accepts the index, and slots may be written.
pub(super) fn invalidate(file: &File, pos: u64) -> std::io::Result<()> {
    file.write_all_at(&[0u8; FOOTER_BYTES as usize], pos)?;
    file.sync_data()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_footer_round_trips_and_any_changed_byte_is_refused() {
        let f = Footer {
            pos: 1 << 20,
            pair_count: 7,
            entries: 5,
            free: 2,
            index_offset: 4096 * 100,
            file_len: (1 << 20) + FOOTER_BYTES,
            index_crc: 0xdead_beef,
            header_crc: 0x1234_5678,
        };
        let b = f.encode();
        assert_eq!(Footer::decode(&b, f.pos), Some(f));
        for i in 0..FOOTER_USED {
            let mut d = b.clone();
            d[i] ^= 0x10;
            assert_eq!(Footer::decode(&d, f.pos), None, "byte {i} changed");
        }
        assert_eq!(Footer::decode(&[0u8; 4096], 0), None, "a zeroed footer");
    }

    #[test]
    fn chunks_hold_whole_entries() {
        let entries = 100_000u64;
        let mut at = 0u64;
        let entry_end = entries * ENTRY_BYTES as u64;
        while at < entry_end + 4000 * FREE_BYTES as u64 {
            let n = chunk_for(at, entries) as u64;
            assert!(n > 0 && n <= IO_CHUNK as u64);
            if at < entry_end {
                assert_eq!(n % ENTRY_BYTES as u64, 0);
                assert!(at + n <= entry_end, "a chunk crosses into the free entries");
            } else {
                assert_eq!(n % FREE_BYTES as u64, 0);
            }
            at += n;
        }
    }
}
