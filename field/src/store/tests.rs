//! Unit tests of the block store: slots, versions, torn writes, the index and its fallback.

use super::*;

fn small_layout() -> Layout {
    Layout {
        dim: 2,
        levels: 2,
        log2_table: 14,
        features: 2,
        base_resolution: 4,
        finest_resolution: 64,
        log2_block_bytes: 12,
        ..Layout::default()
    }
}

/// Byte offset of a block's slot, to damage the file on purpose.
fn slot_of(store: &BlockStore, block: u64, slot: usize) -> u64 {
    store.slot_offset(store.pairs[&block].index, slot)
}

/// Drops the store the way a killed process would: without writing its index.
fn crash(mut store: BlockStore) {
    store.index_current = true;
    drop(store);
}

fn damage(path: &Path, at: u64, bytes: &[u8]) {
    let file = OpenOptions::new().write(true).open(path).unwrap();
    file.write_all_at(bytes, at).unwrap();
}

fn file_len(path: &Path) -> u64 {
    std::fs::metadata(path).unwrap().len()
}

fn values(n: usize, v: f32) -> Vec<f32> {
    (0..n).map(|i| v + i as f32 * 1e-3).collect()
}

#[test]
fn versions_alternate_slots_and_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f");
    let layout = small_layout();
    let n = Blocking::new(&layout).floats_per_block();
    let mut store = BlockStore::create(&path, &layout).unwrap();
    let v1 = vec![1.0f32; n];
    let v2 = vec![2.0f32; n];
    let mut out = vec![0f32; n];
    assert!(!store.read(5, &mut out).unwrap(), "never written");
    store.write_back(&[(5, &v1), (9, &v1)]).unwrap();
    store.write_back(&[(5, &v2)]).unwrap();
    assert_eq!(store.pairs[&5].seq, [1, 2]);
    drop(store);
    let (l, mut store) = BlockStore::open(&path).unwrap();
    assert_eq!(l, layout);
    assert_eq!(store.stats().opened_by, OpenedBy::Index);
    assert_eq!(store.present_blocks(), vec![5, 9]);
    assert!(store.read(5, &mut out).unwrap());
    assert_eq!(out, v2);
    assert!(store.read(9, &mut out).unwrap());
    assert_eq!(out, v1);
    // The third version overwrites slot 0 (version 1), not the current one.
    store.write_back(&[(5, &v1)]).unwrap();
    assert_eq!(store.pairs[&5].seq, [3, 2]);
}

#[test]
fn a_torn_newest_version_falls_back_to_the_previous_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f");
    let layout = small_layout();
    let n = Blocking::new(&layout).floats_per_block();
    let mut store = BlockStore::create(&path, &layout).unwrap();
    let old = vec![1.5f32; n];
    let new = vec![-2.5f32; n];
    store.write_back(&[(3, &old), (4, &old)]).unwrap();
    store.write_back(&[(3, &new)]).unwrap();
    let torn_at = slot_of(&store, 3, 1) + 2048; // inside version 2's payload
    let torn_first = slot_of(&store, 4, 0) + 100; // block 4's only version
    crash(store);
    damage(&path, torn_at, &[0x5a; 1000]);
    damage(&path, torn_first, &[0x5a; 10]);
    let (_, mut store) = BlockStore::open(&path).unwrap();
    assert_eq!(store.stats().opened_by, OpenedBy::Scan);
    let report = store.check().unwrap();
    assert_eq!(
        report,
        CheckReport {
            blocks: 2,
            readable: 1,
            torn_slots: 2,
            free_pairs: 0
        }
    );
    let mut out = vec![0f32; n];
    assert!(store.read(3, &mut out).unwrap());
    assert_eq!(out, old, "the old version, not a torn mix");
    assert!(
        !store.read(4, &mut out).unwrap(),
        "a torn first write leaves no version"
    );
    // Rewriting goes to the torn slot, and then reads back.
    store.write_back(&[(3, &new)]).unwrap();
    assert_eq!(store.pairs[&3].seq, [1, 3]);
    drop(store);
    let (_, store) = BlockStore::open(&path).unwrap();
    assert_eq!(store.stats().opened_by, OpenedBy::Index);
    assert!(store.read(3, &mut out).unwrap());
    assert_eq!(out, new);
}

#[test]
fn a_pair_left_without_a_valid_record_is_reused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f");
    let layout = small_layout();
    let n = Blocking::new(&layout).floats_per_block();
    let mut store = BlockStore::create(&path, &layout).unwrap();
    store
        .write_back(&[(1, &vec![1.0; n]), (2, &vec![2.0; n]), (4, &vec![4.0; n])])
        .unwrap();
    assert_eq!(store.pairs[&2].index, 1);
    // Block 2's first write torn inside its record header: the pair names no block.
    let header = slot_of(&store, 2, 0) + 10;
    crash(store);
    damage(&path, header, &[0xff; 8]);
    let length = file_len(&path);
    let (_, mut store) = BlockStore::open(&path).unwrap();
    assert_eq!(store.present_blocks(), vec![1, 4]);
    assert_eq!(store.check().unwrap().free_pairs, 1);
    store.write_back(&[(3, &vec![3.0; n])]).unwrap();
    assert_eq!(store.pairs[&3].index, 1, "block 3 took the free pair");
    assert_eq!(file_len(&path), length, "the file did not grow");
    drop(store);
    let (_, store) = BlockStore::open(&path).unwrap();
    assert_eq!(store.present_blocks(), vec![1, 3, 4]);
    let mut out = vec![0f32; n];
    assert!(store.read(3, &mut out).unwrap());
    assert!(out.iter().all(|&v| v == 3.0));
}

#[test]
fn a_second_opener_is_refused_and_a_damaged_header_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f");
    let store = BlockStore::create(&path, &small_layout()).unwrap();
    assert!(matches!(BlockStore::open(&path), Err(Error::Locked)));
    drop(store);
    damage(&path, 20, &[9]);
    assert!(matches!(BlockStore::open(&path), Err(Error::BadHeader(_))));
    assert!(
        BlockStore::create(&path, &small_layout()).is_err(),
        "create never overwrites"
    );
}

/// A file with blocks 0..40 written once and 0..10 twice, closed cleanly.
fn written_file(path: &Path) -> (usize, Vec<Vec<f32>>) {
    let layout = small_layout();
    let n = Blocking::new(&layout).floats_per_block();
    let mut store = BlockStore::create(path, &layout).unwrap();
    let mut expect: Vec<Vec<f32>> = (0..40).map(|b| values(n, b as f32)).collect();
    let first: Vec<(u64, &[f32])> = expect
        .iter()
        .enumerate()
        .map(|(b, v)| (b as u64, &v[..]))
        .collect();
    store.write_back(&first).unwrap();
    for (b, v) in expect.iter_mut().enumerate().take(10) {
        *v = values(n, -(b as f32));
    }
    let second: Vec<(u64, &[f32])> = expect
        .iter()
        .enumerate()
        .take(10)
        .map(|(b, v)| (b as u64, &v[..]))
        .collect();
    store.write_back(&second).unwrap();
    store.close().unwrap();
    (n, expect)
}

fn assert_blocks(store: &BlockStore, expect: &[Vec<f32>]) {
    let mut out = vec![0f32; expect[0].len()];
    assert_eq!(store.present_count(), expect.len());
    for (b, v) in expect.iter().enumerate() {
        assert!(store.read(b as u64, &mut out).unwrap(), "block {b}");
        assert_eq!(&out, v, "block {b}");
    }
}

#[test]
fn a_clean_reopen_reads_only_the_index() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f");
    let (_, expect) = written_file(&path);
    let (_, store) = BlockStore::open(&path).unwrap();
    let stats = store.stats();
    assert_eq!(
        (stats.opened_by, stats.scans, stats.slot_reads),
        (OpenedBy::Index, 0, 0)
    );
    // The header (64), the footer (128) and 40 bytes per block; no slot.
    assert_eq!(stats.open_bytes_read, 64 + 128 + 40 * 40);
    assert_blocks(&store, &expect);
    // The same file, scanned, gives the same map.
    drop(store);
    let (_, store) = BlockStore::open_with(&path, false).unwrap();
    assert_eq!(store.stats().opened_by, OpenedBy::Scan);
    assert_eq!(
        store.stats().scan_reason,
        Some("the caller asked for a scan")
    );
    assert_blocks(&store, &expect);
}

#[test]
fn a_write_back_invalidates_the_index_before_writing_a_slot() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f");
    let (n, mut expect) = written_file(&path);
    let (_, mut store) = BlockStore::open(&path).unwrap();
    let footer = store.footer_at.expect("a clean file has a footer");
    assert_eq!(footer, file_len(&path) - index::FOOTER_BYTES);
    // A new version of an old block: the footer is zeroed on disk before the slot is written.
    expect[3] = values(n, 300.0);
    store.write_back(&[(3, &expect[3])]).unwrap();
    assert_eq!(store.stats().index_invalidations, 1);
    let file = File::open(&path).unwrap();
    assert_eq!(
        file_len(&path),
        footer + index::FOOTER_BYTES,
        "no pair appended"
    );
    let mut tail = vec![0u8; index::FOOTER_BYTES as usize];
    file.read_exact_at(&mut tail, footer).unwrap();
    assert!(tail.iter().all(|&b| b == 0), "the footer is zeroed");
    // New blocks, appended over the old index and footer; no second invalidation.
    expect.push(values(n, 40.0));
    expect.push(values(n, 41.0));
    store
        .write_back(&[(40, &expect[40]), (41, &expect[41])])
        .unwrap();
    assert_eq!(store.stats().index_invalidations, 1);
    let (parsed, _) = index::read_footer(&file, file_len(&path), FILE_HEADER_BYTES).unwrap();
    assert_eq!(parsed, None, "no footer at the end");
    crash(store);
    let (_, store) = BlockStore::open(&path).unwrap();
    let stats = store.stats();
    assert_eq!((stats.opened_by, stats.scans), (OpenedBy::Scan, 1));
    assert_eq!(stats.scan_reason, Some("no index at the end of the file"));
    assert_blocks(&store, &expect);
    // A clean close after the scan leaves an index again.
    drop(store);
    let (_, store) = BlockStore::open(&path).unwrap();
    assert_eq!(store.stats().opened_by, OpenedBy::Index);
    assert_blocks(&store, &expect);
}

#[test]
fn a_damaged_index_or_footer_falls_back_to_the_scan() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f");
    let (_, expect) = written_file(&path);
    let footer_pos = file_len(&path) - index::FOOTER_BYTES;
    let file = File::open(&path).unwrap();
    let (footer, _) = index::read_footer(&file, file_len(&path), FILE_HEADER_BYTES).unwrap();
    let index_at = footer.unwrap().index_offset;
    drop(file);
    let cases: [(u64, &str); 3] = [
        (index_at + 40 * 7 + 9, "the index fails its checksum"),
        (footer_pos + 20, "no index at the end of the file"),
        // The file grown past its footer (a write past the end after the close).
        (footer_pos + 5000, "no index at the end of the file"),
    ];
    for (at, reason) in cases {
        let copy = dir.path().join("copy");
        std::fs::copy(&path, &copy).unwrap();
        damage(&copy, at, &[0xa5]);
        let (_, store) = BlockStore::open(&copy).unwrap();
        let stats = store.stats();
        assert_eq!(
            (stats.opened_by, stats.scan_reason),
            (OpenedBy::Scan, Some(reason))
        );
        assert_blocks(&store, &expect);
        drop(store);
        let (_, store) = BlockStore::open(&copy).unwrap();
        assert_eq!(store.stats().opened_by, OpenedBy::Index, "rebuilt at close");
        assert_blocks(&store, &expect);
        drop(store);
        std::fs::remove_file(&copy).unwrap();
    }
}

#[test]
fn an_index_written_after_a_scan_keeps_unchecked_and_torn_slots_right() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f");
    let layout = small_layout();
    let n = Blocking::new(&layout).floats_per_block();
    let mut store = BlockStore::create(&path, &layout).unwrap();
    let old = values(n, 1.0);
    let new = values(n, 2.0);
    store.write_back(&[(7, &old), (8, &old)]).unwrap();
    store.write_back(&[(7, &new), (8, &new)]).unwrap();
    let torn = slot_of(&store, 7, 1) + 1000;
    crash(store);
    damage(&path, torn, &[0x11; 64]);
    // Scan, then close without reading: the index records both pairs as unchecked.
    let (_, store) = BlockStore::open(&path).unwrap();
    assert_eq!(store.stats().opened_by, OpenedBy::Scan);
    drop(store);
    let (_, mut store) = BlockStore::open(&path).unwrap();
    assert_eq!(store.stats().opened_by, OpenedBy::Index);
    assert_eq!(store.pairs[&7].current(), Current::Unchecked);
    let mut out = vec![0f32; n];
    assert!(store.read(7, &mut out).unwrap());
    assert_eq!(out, old, "the torn newest version is skipped");
    assert!(store.read(8, &mut out).unwrap());
    assert_eq!(out, new);
    // The next version of 7 goes over the torn slot, not over the current one.
    store.write_back(&[(7, &new)]).unwrap();
    assert_eq!(store.pairs[&7].seq, [1, 3]);
}

#[test]
fn reads_from_many_threads_and_read_many_agree_with_read() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f");
    let (n, expect) = written_file(&path);
    let (_, store) = BlockStore::open(&path).unwrap();
    std::thread::scope(|s| {
        for t in 0..4 {
            let (store, expect) = (&store, &expect);
            s.spawn(move || {
                let mut out = vec![0f32; n];
                for b in (t..40).step_by(4) {
                    assert!(store.read(b as u64, &mut out).unwrap());
                    assert_eq!(out, expect[b]);
                }
            });
        }
    });
    drop(store);
    // Block 5's newest version (in slot 1) torn after the close: every path must find the old.
    let (_, store) = BlockStore::open(&path).unwrap();
    let torn = slot_of(&store, 5, 1) + 700;
    drop(store);
    damage(&path, torn, &[0x77; 16]);
    let mut expect = expect;
    expect[5] = values(n, 5.0);
    for engine in [ReadEngine::Uring, ReadEngine::Threads] {
        for in_flight in [1, 3, 8, 64] {
            let (_, mut store) = BlockStore::open(&path).unwrap();
            store.set_read_engine(engine);
            // 40 stored blocks in a scrambled order, 3 never written, and block 9 again.
            let mut ids: Vec<u64> = (0..40).map(|i| (i * 17) % 40).collect();
            ids.extend([100, 101, 102, 9]);
            let mut bufs: Vec<Vec<f32>> = vec![vec![0f32; n]; ids.len()];
            let mut outs: Vec<&mut [f32]> = bufs.iter_mut().map(|b| &mut b[..]).collect();
            let found = store.read_many_with(&ids, &mut outs, in_flight).unwrap();
            for (k, &b) in ids.iter().enumerate() {
                assert_eq!(found[k], b < 40, "{engine:?} {in_flight}: block {b}");
                if b < 40 {
                    assert_eq!(
                        bufs[k], expect[b as usize],
                        "{engine:?} {in_flight}: block {b}"
                    );
                }
            }
            // 41 reads for the 41 stored blocks asked for (9 twice), and one more for block 5:
            // its torn slot was tried first (the index said it was current), then the other.
            let stats = store.stats();
            assert_eq!(stats.slot_reads, 42, "{engine:?} {in_flight}");
            if engine == ReadEngine::Threads || in_flight == 1 {
                assert_eq!(stats.ring_reads, 0);
            } else if uring::new_ring().is_ok() {
                assert_eq!(
                    stats.ring_reads, 41,
                    "one ring read per stored block asked for"
                );
            }
            assert!(store.read_many(&[], &mut []).unwrap().is_empty());
        }
    }
}

#[test]
fn a_ring_reader_reads_as_read_does_and_skips_what_the_caller_has() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f");
    let (n, mut expect) = written_file(&path);
    // Block 5's newest version torn: the ring's first read fails its check, `pread` finishes.
    let (_, store) = BlockStore::open(&path).unwrap();
    let torn = slot_of(&store, 5, 1) + 700;
    drop(store);
    damage(&path, torn, &[0x77; 16]);
    expect[5] = values(n, 5.0);
    let (_, store) = BlockStore::open(&path).unwrap();
    let Some(mut ring) = store.ring_reader(16, 8) else {
        return; // no io_uring here
    };
    // The same reader, call after call: 40 stored blocks, 3 never written, each call's
    // every third block marked as the caller's (left untouched).
    let mut ids: Vec<u64> = (0..40).map(|i| (i * 17) % 40).collect();
    ids.extend([100, 101, 102]);
    for chunk in ids.chunks(16) {
        let mut bufs = vec![vec![-1f32; n]; chunk.len()];
        let mut found: Vec<bool> = (0..chunk.len()).map(|k| k % 3 == 0).collect();
        store
            .read_with_ring(&mut ring, chunk, &mut bufs, &mut found)
            .unwrap();
        for (k, &b) in chunk.iter().enumerate() {
            if k % 3 == 0 {
                assert!(found[k] && bufs[k].iter().all(|&v| v == -1.0), "block {b}");
            } else {
                assert_eq!(found[k], b < 40, "block {b}");
                if b < 40 {
                    assert_eq!(bufs[k], expect[b as usize], "block {b}");
                }
            }
        }
    }
    assert!(store.stats().ring_reads > 0);
}

#[test]
fn map_sizes_follow_the_tables_growth() {
    for n in [1usize, 3, 7, 8, 100, 3584, 3585, 10_000, 100_000] {
        let map: HashMap<u64, Pair> = HashMap::with_capacity(n);
        let cap = map.capacity();
        assert!(cap >= n);
        // The bytes of that table hold exactly that capacity, and no more.
        assert_eq!(map_capacity_within(map_table_bytes(cap)), cap, "{n}");
        let next: HashMap<u64, Pair> = HashMap::with_capacity(cap + 1);
        assert!(map_table_bytes(next.capacity()) > map_table_bytes(cap));
    }
    assert_eq!(map_table_bytes(0), 0);
    assert_eq!(map_capacity_within(4096 * 41 + 16), 3584);
    assert!(map_table_bytes(usize::MAX) == usize::MAX);
}

#[test]
fn int8_blocks_are_read_from_their_record_alone_and_a_torn_one_falls_back() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f");
    let layout = Layout {
        cold_encoding: Encoding::Int8,
        ..small_layout()
    };
    let blocking = Blocking::new(&layout);
    let n = blocking.floats_per_block();
    let record = format::record_bytes(&blocking, Encoding::Int8);
    // What a value survives as: quantised and decoded.
    let through_int8 = |v: &[f32]| {
        let mut slot = vec![0u8; format::slot_bytes(&blocking)];
        format::encode_record(0, 1, Encoding::Int8, v, &mut slot);
        let mut out = vec![0f32; n];
        format::decode_record(&slot, 0, &mut out).unwrap();
        out
    };
    let mut store = BlockStore::create(&path, &layout).unwrap();
    assert_eq!(store.record_bytes, record);
    assert!(
        record < store.slot_bytes / 3,
        "{record} of {}",
        store.slot_bytes
    );
    for b in 0..8u64 {
        store.write_back(&[(b, &values(n, b as f32))]).unwrap();
    }
    for b in [2u64, 3] {
        store
            .write_back(&[(b, &values(n, 10.0 + b as f32))])
            .unwrap();
    }
    let torn = slot_of(&store, 2, 1) + record as u64 - 8; // the end of version 2's payload
    let past = slot_of(&store, 3, 1) + record as u64 + 8; // past block 3's record, in its slot
    drop(store);
    damage(&path, torn, &[0x5a; 8]);
    damage(&path, past, &[0x5a; 64]);
    let mut expect: Vec<Vec<f32>> = (0..8).map(|b| through_int8(&values(n, b as f32))).collect();
    expect[3] = through_int8(&values(n, 13.0));
    for engine in [ReadEngine::Uring, ReadEngine::Threads] {
        for in_flight in [1, 8] {
            let (_, mut store) = BlockStore::open(&path).unwrap();
            store.set_read_engine(engine);
            let ids: Vec<u64> = (0..8).collect();
            let mut bufs = vec![vec![0f32; n]; 8];
            let mut outs: Vec<&mut [f32]> = bufs.iter_mut().map(|b| &mut b[..]).collect();
            let found = store.read_many_with(&ids, &mut outs, in_flight).unwrap();
            assert!(found.iter().all(|&f| f), "{engine:?} {in_flight}");
            assert_eq!(bufs, expect, "{engine:?} {in_flight}");
            let mut out = vec![0f32; n];
            assert!(store.read(2, &mut out).unwrap());
            assert_eq!(out, expect[2], "the torn version 2 of block 2 is skipped");
        }
    }
    let (_, store) = BlockStore::open_with(&path, false).unwrap();
    let report = store.check().unwrap();
    assert_eq!((report.readable, report.torn_slots), (8, 1), "{report:?}");
}
