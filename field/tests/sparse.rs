//! A field far larger than the machine: 1 PiB of logical features, of which only the blocks
//! touched exist on disk. Creating, updating, reopening and querying it must cost time and
//! space in proportion to what was touched.

use std::time::Instant;

use field::{Field, Layout};

#[test]
fn a_petabyte_field_opens_and_answers_in_proportion_to_use() {
    // 64³ tiles × 8 levels × 2^24 entries × 8 features × 4 bytes = 2^50 bytes.
    let layout = Layout {
        dim: 3,
        levels: 8,
        log2_table: 24,
        features: 8,
        base_resolution: 16,
        finest_resolution: 4096,
        tiles_per_axis: 64,
        log2_block_bytes: 14,
        init_scale: 1e-3,
        seed: 1,
        cold_encoding: field::Encoding::F32,
        hashing: field::layout::Hashing::Spatial,
    };
    assert_eq!(layout.logical_bytes(), 1u128 << 50);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pib.field");
    let points = [
        [0.001f32, 0.002, 0.003],
        [0.5, 0.25, 0.125],
        [0.999, 0.999, 0.5],
        [0.7, 0.1, 0.9],
    ];
    let mut answers = Vec::new();
    {
        let mut f = Field::create(&path, layout).unwrap();
        let grad = vec![0.25f32; f.output_len()];
        for p in &points {
            f.update(p, &grad, 0.5).unwrap();
        }
        f.flush().unwrap();
        for p in &points {
            let mut out = vec![0f32; f.output_len()];
            f.query(p, &mut out).unwrap();
            answers.push(out);
        }
        let stored = f.stats().stored_blocks;
        // 4 points × 8 levels × 8 corners at most.
        assert!(stored > 0 && stored <= 256, "{stored} blocks stored");
    }
    let (len, allocated) = {
        let started = Instant::now();
        let mut f = Field::open(&path).unwrap();
        let opened = started.elapsed();
        // A generous bound for a loaded debug build: the work is a header and ≤ 256 record
        // headers; a scan of anything proportional to the logical size could not finish.
        assert!(opened.as_secs_f64() < 2.0, "open took {opened:?}");
        eprintln!("opened in {opened:?}");
        for (p, a) in points.iter().zip(&answers) {
            let mut out = vec![0f32; f.output_len()];
            f.query(p, &mut out).unwrap();
            assert_eq!(&out, a);
        }
        assert_eq!(
            f.check_file().unwrap().readable,
            f.stats().stored_blocks as u64
        );
        f.disk_usage().unwrap()
    };
    // Each stored block takes one slot of 16.5 KiB (its pair's second slot is a hole or past
    // the end): at most 256 × 16.5 KiB ≈ 4.1 MiB, plus the header.
    eprintln!("file length {len} bytes, {allocated} bytes allocated on disk");
    assert!(allocated < 8 << 20, "{allocated} bytes allocated on disk");
    assert!(len < 16 << 20, "file length {len}");
}
