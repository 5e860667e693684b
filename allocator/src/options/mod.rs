//! Configuration: one table of `SACS_*` environment variables, read once from the raw `environ`.
//!
//! The table [`OPTIONS`] is the single source of every setting's name, default and meaning;
//! `docs/configuration.md` is written from it. Reading happens at the allocator's first use,
//! without allocating and without `std::env` (which would allocate, and may run before the Rust
//! runtime is up when SACS is preloaded). Values are decimal integers, with a unit suffix where
//! the option's name ends in one ([`parse`]); every option also accepts the words `abort`,
//! `no`, `off`, `false` (0) and `continue`, `yes`, `on`, `true` (1), in any case.

use core::sync::atomic::{AtomicU8, AtomicUsize, Ordering::Relaxed};

use crate::platform::{self, env};

/// Index of each option in [`OPTIONS`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(usize)]
pub enum Opt {
    PurgeDelayMs = 0,
    HotMs,
    WarmMs,
    WarmPoolPages,
    PrefillPages,
    BigCacheMib,
    SegmentCache,
    WhaleRing,
    WhaleRingMib,
    WhaleRingPercent,
    WhaleRingMaxMib,
    WhaleWastePercent,
    WhaleHugePages,
    Stats,
    OnError,
    Verbose,
    Sites,
    SitesSampleEvery,
    SitesShortMs,
    Profile,
    ProfileSampleEvery,
    PressurePercent,
    ThreadBigCacheMib,
    Learn,
    LearnWeightPercent,
    LearnWindowMs,
    SegmentSpaceGib,
    LargerClassSpan,
}

/// Number of options.
pub const OPTION_COUNT: usize = 28;

impl Opt {
    /// Every option, in [`OPTIONS`] order (`Opt::ALL[i] as usize == i`).
    pub const ALL: [Opt; OPTION_COUNT] = [
        Opt::PurgeDelayMs,
        Opt::HotMs,
        Opt::WarmMs,
        Opt::WarmPoolPages,
        Opt::PrefillPages,
        Opt::BigCacheMib,
        Opt::SegmentCache,
        Opt::WhaleRing,
        Opt::WhaleRingMib,
        Opt::WhaleRingPercent,
        Opt::WhaleRingMaxMib,
        Opt::WhaleWastePercent,
        Opt::WhaleHugePages,
        Opt::Stats,
        Opt::OnError,
        Opt::Verbose,
        Opt::Sites,
        Opt::SitesSampleEvery,
        Opt::SitesShortMs,
        Opt::Profile,
        Opt::ProfileSampleEvery,
        Opt::PressurePercent,
        Opt::ThreadBigCacheMib,
        Opt::Learn,
        Opt::LearnWeightPercent,
        Opt::LearnWindowMs,
        Opt::SegmentSpaceGib,
        Opt::LargerClassSpan,
    ];
}

/// One configurable setting.
pub struct OptionDesc {
    /// The environment variable.
    pub name: &'static str,
    /// Value when the variable is unset or unreadable.
    pub default: usize,
    /// One line for the documentation.
    pub doc: &'static str,
}

/// Every setting SACS reads, in [`Opt`] order.
pub static OPTIONS: [OptionDesc; OPTION_COUNT] = [
    OptionDesc {
        name: "SACS_PURGE_DELAY_MS",
        default: 10,
        doc: "Milliseconds an empty small/mid page or an empty segment stays committed before its memory is given back (MADV_DONTNEED). Purging runs on the allocator's slow paths, never in the background; 0 purges at the next one. The shortest delay: a thread heap whose purged memory comes back soon lengthens its own (up to 8 times SACS_WARM_MS).",
    },
    OptionDesc {
        name: "SACS_HOT_MS",
        default: 100,
        doc: "BigCache: milliseconds a freed block stays hot (committed, reusable at no cost) before it is released with MADV_FREE (warm). An arena whose warmed blocks are taken back soon after stretches its own delay, up to its cold delay.",
    },
    OptionDesc {
        name: "SACS_WARM_MS",
        default: 600,
        doc: "BigCache, whale ring, segment cache: milliseconds a freed block, mapping or empty segment may stay cached before it turns cold: decommitted (big) or unmapped (whale, segment). A big arena whose decommitted blocks are carved back soon after, and a thread heap whose purged memory is, stretch their own delays up to 8 times this.",
    },
    OptionDesc {
        name: "SACS_WARM_POOL_PAGES",
        default: 8,
        doc: "Empty small/mid pages each thread keeps ready for its next page refill (the warm pool).",
    },
    OptionDesc {
        name: "SACS_PREFILL_PAGES",
        default: 4,
        doc: "Pages carved at once when a thread's warm pool is empty (secondary prefill).",
    },
    OptionDesc {
        name: "SACS_BIG_CACHE_MIB",
        default: 64,
        doc: "BigCache: most MiB of freed blocks each arena keeps cached; the oldest are released beyond it.",
    },
    OptionDesc {
        name: "SACS_SEGMENT_CACHE",
        default: 8,
        doc: "Empty 4 MiB segments kept mapped process-wide for reuse before they are unmapped.",
    },
    OptionDesc {
        name: "SACS_WHALE_RING",
        default: 16,
        doc: "Whale: most freed mappings (>= 2 MiB, or pieces of them) kept in the ring for reuse; 0 unmaps at once. At most 64.",
    },
    OptionDesc {
        name: "SACS_WHALE_RING_MIB",
        default: 32,
        doc: "Whale: the floor of the ring's byte budget, in MiB: it keeps at least this much of freed mappings however few whales are live.",
    },
    OptionDesc {
        name: "SACS_WHALE_RING_PERCENT",
        default: 33,
        doc: "Whale: the ring's byte budget as a percentage of the live whale footprint (the most bytes of whales live lately); the oldest mappings are unmapped beyond it, and a larger mapping is unmapped at once. The share doubles (up to 100) when a request has to map soon after the ring pushed mappings out, and halves after 8 x SACS_WARM_MS without that.",
    },
    OptionDesc {
        name: "SACS_WHALE_RING_MAX_MIB",
        default: 1024,
        doc: "Whale: the ceiling of the ring's byte budget, in MiB (a ceiling below the floor counts as the floor).",
    },
    OptionDesc {
        name: "SACS_WHALE_WASTE_PERCENT",
        default: 25,
        doc: "Whale: W_MAX, how much longer (in percent of the request) a cached mapping may be and serve it whole; a longer one is split (or its tail trimmed).",
    },
    OptionDesc {
        name: "SACS_WHALE_HUGE_PAGES",
        default: 1,
        doc: "Whale: advise transparent huge pages (MADV_HUGEPAGE) on fresh mappings of whales that realloc grows and of large-page regions (1), of every whale (2), or of none (0).",
    },
    OptionDesc {
        name: "SACS_STATS",
        default: 0,
        doc: "`1` (or `table`) prints the statistics table at exit, `json` (2) one JSON object on one line (docs/statistics.md); on standard error, or appended to SACS_STATS_FILE (read by the preload library).",
    },
    OptionDesc {
        name: "SACS_ON_ERROR",
        default: 0,
        doc: "What a bad pointer does after its message: `abort` (0, default) or `continue` (1: the block is leaked, the heap untouched).",
    },
    OptionDesc {
        name: "SACS_VERBOSE",
        default: 0,
        doc: "1 prints every option's effective value on standard error when SACS starts, and a line when SACS cannot get memory from the system.",
    },
    OptionDesc {
        name: "SACS_SITES",
        default: 0,
        doc: "Site Rules for `malloc` under LD_PRELOAD: `off` (0); `observe` (2): sample allocations by call site, learn each site's lifetime class and predict it, without changing placement (the prediction accuracy is in the statistics); `on` (1): the same, and blocks of sites learned long-lived go to pages of their own, and big blocks (32 KiB – 2 MiB) of a site that reuses only after `SACS_WARM_MS` are decommitted at their free. Chosen once at load.",
    },
    OptionDesc {
        name: "SACS_SITES_SAMPLE_EVERY",
        default: 32,
        doc: "Site Rules: a thread samples one in this many of the `malloc`s (up to 32 KiB) that find their page's free list empty, the misses of the HOT path (at least 1).",
    },
    OptionDesc {
        name: "SACS_SITES_SHORT_MS",
        default: 100,
        doc: "Site Rules: a sampled block freed within this many milliseconds is short-lived; one still live after it is long-lived.",
    },
    OptionDesc {
        name: "SACS_PROFILE",
        default: 0,
        doc: "1 writes the heap profile (the top call sites by live bytes, allocated bytes and fragmentation cost, from sampled `malloc`s) on standard error at exit and on `malloc_stats()`. It samples one in SACS_PROFILE_SAMPLE_EVERY `malloc`s by a countdown (two instructions on the HOT `malloc`), instead of Site Rules' sampling at misses; with SACS_SITES=0 the samples also feed Site Rules in observe mode.",
    },
    OptionDesc {
        name: "SACS_PROFILE_SAMPLE_EVERY",
        default: 4096,
        doc: "The heap profile: a thread samples one in this many of its `malloc`s of up to 32 KiB (at least 1); the profile's estimates are the sampled counts and bytes times this.",
    },
    OptionDesc {
        name: "SACS_PRESSURE_PERCENT",
        default: 90,
        doc: "Memory pressure: the process is under pressure when its memory cgroup's working set (usage less inactive file cache) is at least this percentage of the cgroup's limit, or when tasks waited for memory 10 % or more of the last 10 s (/proc/pressure/memory); checked on slow paths, at most every 100 ms. SACS then purges its caches at once, keeps no memory longer than its options' delays and moves the learner's knobs to their lean ends. 0 turns the checks off.",
    },
    OptionDesc {
        name: "SACS_THREAD_BIG_CACHE_MIB",
        default: 4,
        doc: "BigCache: most MiB of freed big blocks (32 KiB - 2 MiB) each thread keeps in its own cache, at most 4 per class, taken back with no lock; 0 sends every big free to its arena.",
    },
    OptionDesc {
        name: "SACS_LEARN",
        default: 0,
        doc: "1 lets SACS tune its knobs (the options in docs/learning.md: purge and cache delays, warm pool, prefill, thread big cache, whale waste bound) to the running program: candidates play short windows scored on measured cost, rated by ELO, and the choice freezes once the ratings settle, re-opening when the workload changes. A knob set explicitly (SACS_* in the environment or sacs_option_set) is never changed.",
    },
    OptionDesc {
        name: "SACS_LEARN_WEIGHT_PERCENT",
        default: 100,
        doc: "Learning: the weight of memory against time in a window's score, in percent (score = time cost / its mean + weight x (committed - in use) / its mean); 0 learns for time alone.",
    },
    OptionDesc {
        name: "SACS_LEARN_WINDOW_MS",
        default: 50,
        doc: "Learning: the length of one window in milliseconds (closed on a slow path by the first thread past its end).",
    },
    OptionDesc {
        name: "SACS_SEGMENT_SPACE_GIB",
        default: 64,
        doc: "GiB of address space reserved (no access, nothing committed) when the first segment is needed; segments are mapped inside it, where the HOT free finds a block's page with one table load. At most 64; halved down to 1 while the system refuses (ulimit -v); 0 maps every segment on its own, as do segments beyond the space.",
    },
    OptionDesc {
        name: "SACS_LARGER_CLASS_SPAN",
        default: 4,
        doc: "Tiny and mid blocks: when a class's current page would carve never-used blocks, a free block of one of the next this-many larger classes (at most half again as large, as aligned, from a page keeping 4 KiB of free blocks) serves instead. 0 turns it off; at most 8.",
    },
];

mod ladders;

pub use ladders::{Ladder, CANDIDATES_MAX, KNOB_COUNT, LADDERS};

/// A setting whose value is text (a path), read with the numbers.
pub struct TextOptionDesc {
    /// The environment variable.
    pub name: &'static str,
    /// One line for the documentation.
    pub doc: &'static str,
}

/// Every text setting SACS reads, in [`TextOpt`] order.
pub static TEXT_OPTIONS: [TextOptionDesc; TEXT_OPTION_COUNT] = [
    TextOptionDesc {
        name: "SACS_STATS_FILE",
        doc: "Where `SACS_STATS` writes at exit instead of standard error: a path, in which `%p` becomes the process ID; the file is created or appended to. If it cannot be opened, standard error.",
    },
    TextOptionDesc {
        name: "SACS_LEARN_FILE",
        doc: "With `SACS_LEARN=1`: a file in which the learner keeps what it learned (each knob's value, games, ratings and state, and the workload it froze for) from one run of a program to the next: read at the first window, written (replaced whole) when learning freezes and at exit. A program run many times, each run too short to learn in, resumes where the last run stopped. Unset: nothing is kept.",
    },
];

/// Index of each text option in [`TEXT_OPTIONS`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(usize)]
pub enum TextOpt {
    StatsFile = 0,
    LearnFile,
}

/// Number of text options.
pub const TEXT_OPTION_COUNT: usize = 2;

/// The longest text option value SACS keeps (longer ones are refused with a warning).
pub const TEXT_MAX: usize = 511;
/// The longest `SACS_STATS_FILE` SACS keeps.
pub const STATS_FILE_MAX: usize = TEXT_MAX;

/// Copies the value of `SACS_STATS_FILE` as read at load into `out` and returns its length, or
/// `None` when it is unset. A copy is kept from load because programs that set their process
/// title (redis-server, nginx, postgres) write over their `environ` strings.
pub fn stats_file(out: &mut [u8; STATS_FILE_MAX]) -> Option<usize> {
    text(TextOpt::StatsFile, out)
}

/// Copies the value of the text option `opt` as read at load into `out` and returns its
/// length, or `None` when it is unset.
pub fn text(opt: TextOpt, out: &mut [u8; TEXT_MAX]) -> Option<usize> {
    load();
    let slot = &TEXT[opt as usize];
    let len = slot.len.load(Relaxed);
    if len == UNSET {
        return None;
    }
    for (o, b) in out.iter_mut().zip(slot.bytes.iter()).take(len) {
        *o = b.load(Relaxed);
    }
    Some(len)
}

/// A text option's bytes as read at load, and their length (`UNSET`: not set).
struct TextSlot {
    bytes: [AtomicU8; TEXT_MAX],
    len: AtomicUsize,
}

#[allow(clippy::declare_interior_mutable_const)]
const NUL: AtomicU8 = AtomicU8::new(0);
#[allow(clippy::declare_interior_mutable_const)]
const TEXT_SLOT: TextSlot = TextSlot {
    bytes: [NUL; TEXT_MAX],
    len: AtomicUsize::new(UNSET),
};
static TEXT: [TextSlot; TEXT_OPTION_COUNT] = [TEXT_SLOT; TEXT_OPTION_COUNT];

const UNSET: usize = usize::MAX;

struct Values([AtomicUsize; OPTION_COUNT]);

#[allow(clippy::declare_interior_mutable_const)]
const UNSET_SLOT: AtomicUsize = AtomicUsize::new(UNSET);
static VALUES: Values = Values([UNSET_SLOT; OPTION_COUNT]);
/// Bit `i` set: option `i` was given by the environment or by [`set`], so the learner leaves it.
static EXPLICIT: AtomicUsize = AtomicUsize::new(0);
static LOADED: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);
/// Whether the environment's mistakes were reported (once per process).
static WARNED: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);

/// Names of the project's own scripts' and tests' variables, which are not options.
const NOT_OPTIONS: [&[u8]; 2] = [b"SACS_TEST_", b"SACS_BENCH_"];

/// The value of `opt` (loading the environment on first use).
#[inline]
pub fn get(opt: Opt) -> usize {
    let v = VALUES.0[opt as usize].load(Relaxed);
    if v != UNSET {
        return v;
    }
    load();
    VALUES.0[opt as usize].load(Relaxed)
}

/// Overrides `opt` for the rest of the process (tests and embedding programs use it). The
/// value counts as explicit: the learner never changes it.
pub fn set(opt: Opt, value: usize) {
    load();
    EXPLICIT.fetch_or(1 << opt as usize, Relaxed);
    VALUES.0[opt as usize].store(value, Relaxed);
}

/// Whether `opt` was given by the environment or by [`set`] (not its default).
pub fn is_explicit(opt: Opt) -> bool {
    load();
    EXPLICIT.load(Relaxed) & (1 << opt as usize) != 0
}

/// Sets `opt` to a value the learner chose, unless the option is explicit. Returns whether it
/// was set.
pub fn set_learned(opt: Opt, value: usize) -> bool {
    if is_explicit(opt) {
        return false;
    }
    VALUES.0[opt as usize].store(value, Relaxed);
    true
}

/// Reads every option from `environ`. Racing callers may both parse; they store the same values.
pub fn load() {
    if LOADED.load(Relaxed) {
        return;
    }
    let warn = !WARNED.swap(true, Relaxed);
    for (i, desc) in OPTIONS.iter().enumerate() {
        // SAFETY: SACS reads the environment once, at its first use, before a program's threads
        // would change it.
        let text = unsafe { env::lookup(desc.name.as_bytes()) };
        let value = match text.map(|t| (t, parse(desc.name, t))) {
            None => desc.default,
            Some((_, Some(v))) => {
                EXPLICIT.fetch_or(1 << i, Relaxed);
                v
            }
            Some((t, None)) => {
                if warn {
                    warn_bad_value(desc, t);
                }
                desc.default
            }
        };
        // Only the first loader sets values, so `set` made after loading is never overwritten.
        let _ = VALUES.0[i].compare_exchange(UNSET, value, Relaxed, Relaxed);
    }
    for (desc, slot) in TEXT_OPTIONS.iter().zip(TEXT.iter()) {
        // SAFETY: as above.
        let Some(path) = (unsafe { env::lookup(desc.name.as_bytes()) }) else {
            continue;
        };
        if path.len() <= TEXT_MAX {
            for (b, &c) in slot.bytes.iter().zip(path) {
                b.store(c, Relaxed);
            }
            let _ = slot
                .len
                .compare_exchange(UNSET, path.len(), Relaxed, Relaxed);
        } else if warn {
            Message::new()
                .put(b"sacs: ")
                .put(desc.name.as_bytes())
                .put(b" is longer than ")
                .num(TEXT_MAX)
                .put(b" bytes; ignored")
                .write();
        }
    }
    if warn {
        // SAFETY: as above.
        unsafe { env::for_each(warn_if_unknown) };
    }
    LOADED.store(true, Relaxed);
    if warn && VALUES.0[Opt::Verbose as usize].load(Relaxed) != 0 {
        print_effective();
    }
}

/// `SACS_VERBOSE`: one line per option, its value and where it came from.
#[inline(never)]
#[link_section = ".sacs_rare"]
fn print_effective() {
    for (i, desc) in OPTIONS.iter().enumerate() {
        let value = VALUES.0[i].load(Relaxed);
        let mut m = Message::new();
        m.put(b"sacs: option ").put(desc.name.as_bytes()).put(b"=");
        m.num(value);
        // SAFETY: as in `load`.
        let from = match unsafe { env::lookup(desc.name.as_bytes()) } {
            Some(t) if parse(desc.name, t) == Some(value) => &b" (set)"[..],
            Some(_) => b" (default: the value set is not understood)",
            None => b" (default)",
        };
        m.put(from).write();
    }
    for (i, desc) in TEXT_OPTIONS.iter().enumerate() {
        let mut m = Message::new();
        m.put(b"sacs: option ").put(desc.name.as_bytes()).put(b"=");
        let mut path = [0u8; TEXT_MAX];
        let opt = if i == 0 {
            TextOpt::StatsFile
        } else {
            TextOpt::LearnFile
        };
        match text(opt, &mut path) {
            Some(len) => m.put(&path[..len.min(QUOTE_MAX * 4)]).put(b" (set)"),
            None if opt == TextOpt::StatsFile => m.put(b" (unset: standard error)"),
            None => m.put(b" (unset)"),
        };
        m.write();
    }
}

/// A message of at most 256 bytes, built without allocating.
struct Message {
    buf: [u8; 256],
    len: usize,
}

impl Message {
    #[link_section = ".sacs_rare"]
    fn new() -> Self {
        Self {
            buf: [0; 256],
            len: 0,
        }
    }

    /// Appends `bytes`, cut to what fits (leaving room for the newline).
    #[link_section = ".sacs_rare"]
    fn put(&mut self, bytes: &[u8]) -> &mut Self {
        let n = bytes.len().min(self.buf.len() - 1 - self.len);
        self.buf[self.len..self.len + n].copy_from_slice(&bytes[..n]);
        self.len += n;
        self
    }

    /// Appends `n` in decimal.
    #[link_section = ".sacs_rare"]
    fn num(&mut self, mut n: usize) -> &mut Self {
        let mut digits = [0u8; 20];
        let mut i = digits.len();
        loop {
            i -= 1;
            digits[i] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        self.put(&digits[i..])
    }

    #[link_section = ".sacs_rare"]
    fn write(&mut self) {
        self.buf[self.len] = b'\n';
        platform::write_stderr(&self.buf[..self.len + 1]);
    }
}

/// The longest part of a value a warning quotes.
const QUOTE_MAX: usize = 40;

/// `SACS_X=text` that [`parse`] does not understand: says so, and that the default holds.
#[inline(never)]
#[link_section = ".sacs_rare"]
fn warn_bad_value(desc: &OptionDesc, text: &[u8]) {
    Message::new()
        .put(b"sacs: ")
        .put(desc.name.as_bytes())
        .put(b"=\"")
        .put(&text[..text.len().min(QUOTE_MAX)])
        .put(b"\" is not a number or a word SACS understands; using the default, ")
        .num(desc.default)
        .write();
}

/// An environment entry `SACS_...=...` that names no option: says so, with the option of the
/// nearest name when one is close (a typo).
fn warn_if_unknown(entry: &[u8]) {
    let name = entry.split(|&b| b == b'=').next().unwrap_or(entry);
    if !name.starts_with(b"SACS_")
        || NOT_OPTIONS.iter().any(|p| name.starts_with(p))
        || OPTIONS.iter().any(|o| o.name.as_bytes() == name)
        || TEXT_OPTIONS.iter().any(|o| o.name.as_bytes() == name)
    {
        return;
    }
    report_unknown(name);
}

/// [`warn_if_unknown`]'s message.
#[inline(never)]
#[link_section = ".sacs_rare"]
fn report_unknown(name: &[u8]) {
    let mut m = Message::new();
    m.put(b"sacs: ")
        .put(&name[..name.len().min(QUOTE_MAX)])
        .put(b" is not an option of SACS; ignored");
    if let Some(near) = nearest_option(name) {
        m.put(b" (did you mean ").put(near.as_bytes()).put(b"?)");
    }
    m.write();
}

/// The option whose name is within 2 edits of `name`, if exactly one is closest.
#[inline(never)]
#[link_section = ".sacs_rare"]
fn nearest_option(name: &[u8]) -> Option<&'static str> {
    let mut best: Option<(usize, &'static str)> = None;
    for o in OPTIONS.iter() {
        let d = edit_distance(name, o.name.as_bytes());
        if d <= 2 && best.is_none_or(|(bd, _)| d < bd) {
            best = Some((d, o.name));
        }
    }
    best.map(|(_, n)| n)
}

/// Levenshtein distance of two names of at most 63 bytes (longer ones count as far apart).
fn edit_distance(a: &[u8], b: &[u8]) -> usize {
    const MAX: usize = 63;
    if a.len() > MAX || b.len() > MAX {
        return usize::MAX;
    }
    let mut row = [0usize; MAX + 1];
    for (j, cell) in row.iter_mut().enumerate().take(b.len() + 1) {
        *cell = j;
    }
    for i in 1..=a.len() {
        let mut diag = row[0];
        row[0] = i;
        for j in 1..=b.len() {
            let up = row[j];
            let cost = usize::from(a[i - 1] != b[j - 1]);
            row[j] = (up + 1).min(row[j - 1] + 1).min(diag + cost);
            diag = up;
        }
    }
    row[b.len()]
}

/// Words one option understands beside the switch words: `SACS_STATS=json`, `SACS_SITES=observe`.
fn own_words(name: &str) -> &'static [(&'static [u8], usize)] {
    match name.as_bytes() {
        b"SACS_STATS" => &[(b"table", 1), (b"json", 2)],
        b"SACS_SITES" => &[(b"observe", 2)],
        _ => &[],
    }
}

/// Unit suffixes an option's number may carry, by the unit its name ends in, with their
/// multipliers: `SACS_HOT_MS=2s`, `SACS_BIG_CACHE_MIB=1GiB`, `SACS_WHALE_RING_PERCENT=40%`.
fn units(name: &str) -> &'static [(&'static [u8], usize)] {
    let n = name.as_bytes();
    if n.ends_with(b"_MS") {
        &[(b"ms", 1), (b"s", 1000)]
    } else if n.ends_with(b"_MIB") {
        &[(b"mib", 1), (b"m", 1), (b"gib", 1024), (b"g", 1024)]
    } else if n.ends_with(b"_PERCENT") {
        &[(b"%", 1)]
    } else {
        &[]
    }
}

/// Parses the value of option `name`: a decimal number, optionally followed by a unit its name
/// allows (`units`; the product saturates), a switch word (`off/on`, `false/true`, `no/yes`,
/// `abort/continue`), or a word of the option's own (`own_words`), in any case. Anything
/// else (a sign, a space, a fraction, an unknown unit) is `None`.
pub fn parse(name: &str, text: &[u8]) -> Option<usize> {
    let digits = text.iter().take_while(|b| b.is_ascii_digit()).count();
    let rest = &text[digits..];
    let mut lower = [0u8; 16];
    if rest.len() > lower.len() || text.is_empty() {
        return None;
    }
    for (l, c) in lower.iter_mut().zip(rest) {
        *l = c.to_ascii_lowercase();
    }
    let word = &lower[..rest.len()];
    if digits > 0 {
        let n = platform::parse_decimal(&text[..digits]);
        if word.is_empty() {
            return Some(n);
        }
        let (_, times) = units(name).iter().find(|(u, _)| *u == word)?;
        return Some(n.saturating_mul(*times));
    }
    match word {
        b"abort" | b"no" | b"off" | b"false" => Some(0),
        b"continue" | b"yes" | b"on" | b"true" => Some(1),
        _ => own_words(name)
            .iter()
            .find(|(w, _)| *w == word)
            .map(|&(_, v)| v),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_numbers_and_words() {
        let p = |t: &[u8]| parse("SACS_WARM_POOL_PAGES", t);
        assert_eq!(p(b"250"), Some(250));
        assert_eq!(p(b"continue"), Some(1));
        assert_eq!(p(b"abort"), Some(0));
        assert_eq!(p(b"12x"), None);
        assert_eq!(p(b""), None);
        assert_eq!(p(b"-1"), None);
        assert_eq!(p(b" 1"), None);
        assert_eq!(p(b"1.5"), None);
        assert_eq!(p(b"1ms"), None, "no unit in this option's name");
        assert_eq!(p(b"TRUE"), Some(1), "words in any case");
        assert_eq!(p(b"Continue"), Some(1));
        assert_eq!(p(b"continues"), None);
        assert_eq!(p(b"observe"), None, "SACS_SITES's own word");
        assert_eq!(
            p(b"99999999999999999999999999"),
            Some(usize::MAX),
            "saturates"
        );
    }

    #[test]
    fn units_and_words_of_their_own() {
        assert_eq!(parse("SACS_HOT_MS", b"250ms"), Some(250));
        assert_eq!(parse("SACS_HOT_MS", b"2s"), Some(2000));
        assert_eq!(parse("SACS_HOT_MS", b"2S"), Some(2000));
        assert_eq!(parse("SACS_HOT_MS", b"2min"), None);
        assert_eq!(parse("SACS_HOT_MS", b"ms"), None);
        assert_eq!(parse("SACS_BIG_CACHE_MIB", b"1GiB"), Some(1024));
        assert_eq!(parse("SACS_BIG_CACHE_MIB", b"64m"), Some(64));
        assert_eq!(parse("SACS_BIG_CACHE_MIB", b"64KiB"), None);
        assert_eq!(parse("SACS_WHALE_RING_PERCENT", b"40%"), Some(40));
        assert_eq!(
            parse("SACS_WHALE_RING_MAX_MIB", b"18446744073709551615g"),
            Some(usize::MAX)
        );
        assert_eq!(parse("SACS_STATS", b"json"), Some(2));
        assert_eq!(parse("SACS_STATS", b"Table"), Some(1));
        assert_eq!(parse("SACS_SITES", b"OBSERVE"), Some(2));
        assert_eq!(parse("SACS_SITES", b"json"), None);
    }

    #[test]
    fn a_typo_finds_its_option() {
        assert_eq!(nearest_option(b"SACS_STAT"), Some("SACS_STATS"));
        assert_eq!(nearest_option(b"SACS_HOTMS"), Some("SACS_HOT_MS"));
        assert_eq!(nearest_option(b"SACS_SOMETHING_ELSE_ENTIRELY"), None);
        assert_eq!(edit_distance(b"kitten", b"sitting"), 3);
        assert_eq!(edit_distance(b"", b"abc"), 3);
        assert_eq!(edit_distance(&[b'a'; 64], b"a"), usize::MAX);
    }

    #[test]
    fn table_is_in_enum_order() {
        assert_eq!(OPTIONS[Opt::Verbose as usize].name, "SACS_VERBOSE");
        assert_eq!(OPTIONS[Opt::WhaleRing as usize].name, "SACS_WHALE_RING");
        assert_eq!(
            OPTIONS[Opt::PurgeDelayMs as usize].name,
            "SACS_PURGE_DELAY_MS"
        );
        for o in OPTIONS.iter() {
            assert!(o.name.starts_with("SACS_"));
        }
        for (i, opt) in Opt::ALL.iter().enumerate() {
            assert_eq!(*opt as usize, i, "Opt::ALL is in OPTIONS order");
        }
    }
}
