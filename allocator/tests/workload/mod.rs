//! A realistic Rust workload: collections, strings, text processing, threads exchanging
//! strings over channels, sorting. Deterministic for its seed; it knows nothing of the
//! allocator, so its results are the same whatever `#[global_allocator]` the binary has.
//! Every part checks itself against an independent computation and returns checksums.

use crate::common::Rng;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;

/// FNV-1a, 64-bit.
pub fn fnv(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

fn fnv_mix(h: u64, x: u64) -> u64 {
    fnv(&(h ^ x).to_le_bytes()) ^ h.rotate_left(17)
}

const SYLLABLES: &[&str] = &[
    "ka", "lo", "mi", "ne", "ru", "sa", "to", "vi", "ze", "qua", "ber", "lin", "dor", "ph", "st",
    "an", "el", "or", "um", "ix",
];

fn make_word(r: &mut Rng) -> String {
    let n = 1 + r.below(4);
    let mut w = String::new();
    for _ in 0..n {
        w.push_str(SYLLABLES[r.below(SYLLABLES.len())]);
    }
    w
}

/// Results of every part, compared by the test with known values.
#[derive(Debug, PartialEq, Eq)]
pub struct Results {
    pub words: usize,
    pub distinct: usize,
    pub top: Vec<(String, usize)>,
    pub freq_hash: u64,
    pub channel_hash: u64,
    pub sort_hash: u64,
    pub map_hash: u64,
    pub vec_sum: u64,
    pub string_len: usize,
}

/// Text: a vocabulary with Zipf-like use, punctuation, capitals and line breaks.
fn generate_text(r: &mut Rng, words: usize) -> String {
    let vocab: Vec<String> = {
        let mut seen = HashSet::new();
        let mut v = Vec::new();
        while v.len() < 3000 {
            let w = make_word(r);
            if seen.insert(w.clone()) {
                v.push(w);
            }
        }
        v
    };
    let mut text = String::new();
    for i in 0..words {
        // Skewed choice: small indexes far more often.
        let a = r.below(vocab.len());
        let idx = r.below(a + 1);
        let w = &vocab[idx];
        if r.chance(5) {
            let mut c = w.chars();
            let first = c.next().unwrap().to_ascii_uppercase();
            text.push(first);
            text.push_str(c.as_str());
        } else {
            text.push_str(w);
        }
        match r.below(40) {
            0 => text.push_str(". "),
            1 => text.push_str(", "),
            2 => text.push('\n'),
            _ => text.push(' '),
        }
        if i % 1000 == 999 {
            text.push_str("\n\n");
        }
    }
    text
}

fn normalize(token: &str) -> Option<String> {
    let t = token.trim_matches(|c: char| !c.is_alphanumeric());
    if t.is_empty() {
        None
    } else {
        Some(t.to_lowercase())
    }
}

/// Word frequencies three ways (HashMap, BTreeMap, sort-and-count), which must agree.
fn word_frequencies(text: &str) -> (usize, usize, Vec<(String, usize)>, u64) {
    let mut hm: HashMap<String, usize> = HashMap::new();
    for tok in text.split_whitespace() {
        if let Some(w) = normalize(tok) {
            *hm.entry(w).or_insert(0) += 1;
        }
    }
    let mut bt: BTreeMap<String, usize> = BTreeMap::new();
    for line in text.lines() {
        for tok in line.split(' ') {
            if let Some(w) = normalize(tok) {
                *bt.entry(w).or_default() += 1;
            }
        }
    }
    let mut all: Vec<String> = text
        .split_ascii_whitespace()
        .filter_map(normalize)
        .collect();
    all.sort_unstable();
    let mut counted: Vec<(String, usize)> = Vec::new();
    for w in all {
        match counted.last_mut() {
            Some((last, n)) if *last == w => *n += 1,
            _ => counted.push((w, 1)),
        }
    }
    let from_hm: BTreeMap<String, usize> = hm.into_iter().collect();
    assert_eq!(from_hm, bt, "HashMap and BTreeMap word counts differ");
    let from_sort: BTreeMap<String, usize> = counted.into_iter().collect();
    assert_eq!(
        from_sort, bt,
        "sort-and-count and BTreeMap word counts differ"
    );

    let total: usize = bt.values().sum();
    let mut by_count: Vec<(String, usize)> = bt.iter().map(|(w, &n)| (w.clone(), n)).collect();
    by_count.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let mut h = 0;
    for (w, n) in &bt {
        h = fnv_mix(h, fnv(w.as_bytes()) ^ *n as u64);
    }
    by_count.truncate(5);
    (total, bt.len(), by_count, h)
}

/// Producers send Strings to a pool of workers over a shared channel; workers transform them
/// and send them back; the result is order-independent and compared with a sequential run.
fn channel_exchange(seed: u64, per_producer: usize) -> u64 {
    fn line(p: u64, i: usize, r: &mut Rng) -> String {
        format!("{p}:{i}:{}", make_word(r).repeat(1 + r.below(20)))
    }
    fn transform(s: &str) -> u64 {
        let up = s.to_uppercase();
        let rev: String = up.chars().rev().collect();
        fnv(rev.as_bytes()) ^ (up.len() as u64) << 56
    }
    const PRODUCERS: u64 = 4;
    let (tx, rx) = mpsc::channel::<String>();
    let rx = Arc::new(Mutex::new(rx));
    let (back_tx, back_rx) = mpsc::channel::<(String, u64)>();
    let mut handles = Vec::new();
    for p in 0..PRODUCERS {
        let tx = tx.clone();
        handles.push(thread::spawn(move || {
            let mut r = Rng::new(seed ^ p);
            for i in 0..per_producer {
                tx.send(line(p, i, &mut r)).unwrap();
            }
        }));
    }
    drop(tx);
    for _ in 0..3 {
        let (rx, back_tx) = (rx.clone(), back_tx.clone());
        handles.push(thread::spawn(move || loop {
            let msg = rx.lock().unwrap().recv();
            match msg {
                Ok(s) => {
                    let h = transform(&s);
                    back_tx.send((s, h)).unwrap();
                }
                Err(_) => return,
            }
        }));
    }
    drop(back_tx);
    let mut sum = 0u64;
    let mut n = 0;
    let mut strings = Vec::new();
    for (s, h) in back_rx {
        sum = sum.wrapping_add(h);
        n += 1;
        strings.push(s);
    }
    for h in handles {
        h.join().unwrap();
    }
    assert_eq!(n, PRODUCERS as usize * per_producer);
    // Sequential reference.
    let mut expect = 0u64;
    let mut reference = Vec::new();
    for p in 0..PRODUCERS {
        let mut r = Rng::new(seed ^ p);
        for i in 0..per_producer {
            let s = line(p, i, &mut r);
            expect = expect.wrapping_add(transform(&s));
            reference.push(s);
        }
    }
    assert_eq!(
        sum, expect,
        "threads computed a different result than the sequential run"
    );
    strings.sort();
    reference.sort();
    assert!(strings == reference, "strings changed in transit");
    sum
}

/// Sort random strings two ways; they must agree and be sorted.
fn sorting(r: &mut Rng, n: usize) -> u64 {
    let v: Vec<String> = (0..n)
        .map(|_| format!("{}{}", make_word(r), r.below(1000)))
        .collect();
    let mut a = v.clone();
    a.sort();
    let mut b = v;
    b.sort_unstable_by(|x, y| x.as_bytes().cmp(y.as_bytes()));
    assert!(a == b, "stable and unstable sorts disagree");
    assert!(a.windows(2).all(|w| w[0] <= w[1]));
    a.dedup();
    let mut h = a.len() as u64;
    for s in a.iter().step_by(97) {
        h = fnv_mix(h, fnv(s.as_bytes()));
    }
    h
}

/// BTreeMap of byte vectors under random inserts / removes / updates, against a HashMap model.
fn map_churn(r: &mut Rng, ops: usize) -> u64 {
    let mut bt: BTreeMap<u64, Vec<u8>> = BTreeMap::new();
    let mut model: HashMap<u64, Vec<u8>> = HashMap::new();
    for i in 0..ops {
        let key = r.below(5000) as u64;
        match r.below(10) {
            0..=4 => {
                let len = if r.chance(2) {
                    r.range(2000, 100_000)
                } else {
                    r.range(0, 300)
                };
                let v: Vec<u8> = (0..len).map(|j| (key as usize + j) as u8).collect();
                bt.insert(key, v.clone());
                model.insert(key, v);
            }
            5..=7 => {
                assert_eq!(bt.remove(&key), model.remove(&key));
            }
            _ => {
                if let (Some(a), Some(b)) = (bt.get_mut(&key), model.get_mut(&key)) {
                    a.extend_from_slice(b"more");
                    b.extend_from_slice(b"more");
                }
            }
        }
        if i % 10_000 == 0 {
            assert_eq!(bt.len(), model.len());
            for (k, v) in &bt {
                assert_eq!(model.get(k), Some(v), "map and model differ at key {k}");
            }
        }
    }
    let mut h = bt.len() as u64;
    for (k, v) in &bt {
        h = fnv_mix(h, *k ^ fnv(v));
    }
    h
}

pub fn run() -> Results {
    let mut r = Rng::new(2024);
    let words = 300_000;
    let text = generate_text(&mut r, words);
    let (total, distinct, top, freq_hash) = word_frequencies(&text);
    assert_eq!(total, words, "every generated word must be counted once");
    drop(text);

    let channel_hash = channel_exchange(7, 20_000);
    let sort_hash = sorting(&mut r, 200_000);
    let map_hash = map_churn(&mut r, 100_000);

    // Vec growth through every tier: 4 Mi u64 = 32 MiB at the end.
    let mut v: Vec<u64> = Vec::new();
    for i in 1..=(4u64 << 20) {
        v.push(i);
    }
    let vec_sum: u64 = v.iter().sum();
    assert_eq!(vec_sum, (4u64 << 20) * ((4u64 << 20) + 1) / 2);
    v.truncate(10);
    v.shrink_to_fit();
    assert_eq!(v, (1..=10).collect::<Vec<u64>>());

    // A string grown to ~8 MiB, then searched.
    let mut s = String::new();
    let mut i = 0u64;
    while s.len() < 8 << 20 {
        s.push_str(&i.to_string());
        s.push(';');
        i += 1;
    }
    assert!(s.contains(";123456;"));
    let string_len = s.len();

    Results {
        words: total,
        distinct,
        top,
        freq_hash,
        channel_hash,
        sort_hash,
        map_hash,
        vec_sum,
        string_len,
    }
}
