//! A realistic Rust program with SACS as its `#[global_allocator]`: text processing with
//! HashMap / BTreeMap, threads exchanging Strings over channels, sorting, map churn, Vec and
//! String growth into the whale tier. Its results must equal the known values (computed with
//! the system allocator), and SACS's statistics must show it served every tier.

mod common;
mod workload;

use sacs::Sacs;

#[global_allocator]
static GLOBAL: Sacs = Sacs;

#[test]
fn realistic_workload_with_sacs_as_global_allocator() {
    common::watchdog(600, "realistic_workload_with_sacs_as_global_allocator");
    let before = sacs::stats();
    // A heap block on purpose: the question is who allocated it.
    #[allow(clippy::useless_vec)]
    let probe = vec![1u8; 100];
    assert!(
        sacs::owns(probe.as_ptr()),
        "the global allocator is not SACS"
    );

    let got = workload::run();
    println!("{got:?}");
    let want = workload::Results {
        words: 300_000,
        distinct: EXPECTED_DISTINCT,
        top: EXPECTED_TOP
            .iter()
            .map(|&(w, n)| (w.to_string(), n))
            .collect(),
        freq_hash: EXPECTED_FREQ_HASH,
        channel_hash: EXPECTED_CHANNEL_HASH,
        sort_hash: EXPECTED_SORT_HASH,
        map_hash: EXPECTED_MAP_HASH,
        vec_sum: (4u64 << 20) * ((4u64 << 20) + 1) / 2,
        string_len: EXPECTED_STRING_LEN,
    };
    assert_eq!(got, want);

    let after = sacs::stats();
    for (t, name) in ["tiny", "mid", "big", "whale"].iter().enumerate() {
        let n = after.tiers[t].allocs - before.tiers[t].allocs;
        assert!(
            n > 0,
            "the {name} tier served no allocation of the workload"
        );
    }
    assert!(
        after.tiers[0].allocs - before.tiers[0].allocs > 1_000_000,
        "tiny allocations fewer than expected"
    );
    assert!(
        after.heaps_created >= before.heaps_created + 7,
        "the workload's threads got no heaps"
    );
    let mut buf = [0u8; 4096];
    let n = after.write_table(&mut buf);
    println!("{}", std::str::from_utf8(&buf[..n]).unwrap());
}

// Known values, from the same workload run with the system allocator.
const EXPECTED_DISTINCT: usize = 2967;
const EXPECTED_TOP: [(&str, usize); 5] = [
    ("ph", 903),
    ("zeruqualin", 716),
    ("or", 686),
    ("orumlovi", 649),
    ("stnelolin", 644),
];
const EXPECTED_FREQ_HASH: u64 = 18009934677476793171;
const EXPECTED_CHANNEL_HASH: u64 = 12084024020144787176;
const EXPECTED_SORT_HASH: u64 = 13549614447888519706;
const EXPECTED_MAP_HASH: u64 = 7973509926084661124;
const EXPECTED_STRING_LEN: usize = 8388610;
