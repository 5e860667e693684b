#!/usr/bin/env bash
# Real programs under LD_PRELOAD=libsacs.so (issue 3: items 5, 6 and 8), and the C API's
# contract seen from a C program.
#
# Each program runs twice, without and with the preload, and must print the same thing; the
# run under the preload sets SACS_STATS=1, and the `sacs statistics` tables it prints on
# standard error (one per process) must show that SACS served a meaningful number of
# allocations. Each case prints PASS or FAIL with a reason; the last line is
# `N passed, M failed`, and the exit status is non-zero when any case failed.
# Files of each case stay in target/preload-tests/<case>/ (under CARGO_TARGET_DIR when set) for inspection.
#
# Needs: gcc, g++, python3, sqlite3, git, redis-server, redis-cli, redis-benchmark, coreutils
# (.ci/run installs the Debian packages).
#
#   scripts/preload-tests.sh                  # SACS as it starts by default
#   scripts/preload-tests.sh --sites observe  # every case with Site Rules (SACS_SITES=observe or
#   scripts/preload-tests.sh --sites on       # on), sampling every miss of the HOT malloc, the
#                                             # most the sampled paths can be exercised; each
#                                             # case reports its sample count
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
SRC=$ROOT/tests-preload
# Cargo builds into CARGO_TARGET_DIR when it is set (a worktree's own target directory).
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}

# SACS_* settings and a preload in the caller's environment would change what the cases see.
while read -r var; do
    unset "$var"
done < <(compgen -e | grep '^SACS_' || true)
unset LD_PRELOAD
export LC_ALL=C

# Settings every preloaded run gets on top of the case's own (--sites MODE).
EXTRA_ENV=(SACS_SITES=off)
case "${1:-}" in
    "") ;;
    --sites)
        [[ -n ${2:-} ]] || { echo "usage: $0 [--sites off|observe|on]" >&2; exit 2; }
        EXTRA_ENV=(SACS_SITES="$2" SACS_SITES_SAMPLE_EVERY=1)
        ;;
    *) echo "usage: $0 [--sites off|observe|on]" >&2; exit 2 ;;
esac
echo "preload-tests: preloaded runs get ${EXTRA_ENV[*]}"

echo "preload-tests: building libsacs.so (release)"
cargo build --release -p sacs-preload
LIB=$TARGET/release/libsacs.so
[[ -f $LIB ]] || { echo "preload-tests: $LIB was not built" >&2; exit 1; }
echo "preload-tests: building libsacs.so with the core's invariant checks (feature validate)"
cargo build --release -p sacs-preload --features validate --target-dir "$TARGET/validate"
LIB_VALIDATE=$TARGET/validate/release/libsacs.so

# Every symbol the library imports must resolve when it is loaded, not only when first called:
# with LD_BIND_NOW an unresolved one fails at start. (`atexit` once stayed unresolved in a
# whole-workspace build, and only SACS_STATS=1 runs, which call it, failed.)
for lib in "$LIB" "$LIB_VALIDATE"; do
    if ! out=$(LD_BIND_NOW=1 LD_PRELOAD="$lib" SACS_STATS=1 /bin/true 2>&1); then
        echo "preload-tests: $lib does not load with LD_BIND_NOW=1: $out" >&2
        exit 1
    fi
done

WORK=$TARGET/preload-tests
rm -rf "$WORK"
mkdir -p "$WORK"
PIDS_FILE=$WORK/background.pids
: >"$PIDS_FILE"

# Processes a case started in the background (redis-server) are stopped whatever happens.
cleanup() {
    local pid
    while read -r pid; do
        [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null
    done <"$PIDS_FILE"
    return 0
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The interpreter itself, not a version manager's shim script.
PY=$(python3 -c 'import sys; print(sys.executable)' 2>/dev/null || command -v python3 || true)

passed=0
failed=0
SUMMARY=()

# ---------------------------------------------------------------------------------------------
# Helpers, for use inside a case (each case runs in its own subshell, in its own directory).

# die REASON: the case fails with REASON.
die() {
    printf '%s\n' "$*" >"$CASE_DIR/reason"
    exit 1
}

# note TEXT: appended to the case's PASS line.
note() {
    printf '%s; ' "$*" >>"$CASE_DIR/note"
}

need() {
    local tool
    for tool in "$@"; do
        command -v "$tool" >/dev/null 2>&1 || die "$tool is not installed"
    done
}

# sacs_allocs FILE: prints "<sum of allocs of every tier of every table> <number of tables>".
sacs_allocs() {
    awk '
        /^sacs statistics$/ { tables++; next }
        tables && NF == 3 && $1 ~ /^(tiny|mid|big|whale)$/ && $2 ~ /^[0-9]+$/ { sum += $2 }
        END { printf "%d %d\n", sum, tables }' "$1"
}

# expect_allocs FILE MIN [MIN_TABLES]: the tables in FILE show at least MIN allocations (and
# at least MIN_TABLES tables, i.e. processes that ran under SACS).
expect_allocs() {
    local file=$1 min=$2 min_tables=${3:-1} sum tables
    read -r sum tables < <(sacs_allocs "$file")
    ((tables > 0)) || die "no 'sacs statistics' table in $file: SACS did not serve this program"
    ((tables >= min_tables)) || die "only $tables statistics tables in $file, expected >= $min_tables processes under SACS"
    ((sum >= min)) || die "SACS served only $sum allocations (expected >= $min) per $file"
    note "${file%.err}: SACS allocs $sum in $tables process(es)"
    if [[ ${EXTRA_ENV[*]} == *SACS_SITES=observe* || ${EXTRA_ENV[*]} == *SACS_SITES=on* ]]; then
        local samples
        samples=$(awk '$1 == "sites" && $2 == "samples" { gsub(",", "", $3); n += $3 } END { print n + 0 }' "$file")
        # Every miss of the HOT malloc is sampled; calloc, realloc and C++ operator new are not
        # (the c++ case shows 0), so the count is reported, not required.
        note "site samples $samples"
    fi
}

# first_lines FILE: the start of FILE, on one line, for a failure reason.
first_lines() {
    head -c 600 "$1" | head -n "${2:-4}" | tr '\n' '|'
}

# run_plain NAME CMD...: runs CMD without the preload; NAME.out, NAME.err, NAME.rc.
run_plain() {
    local name=$1
    shift
    local rc=0
    timeout -k 5 "${CASE_TIMEOUT:-120}" "$@" >"$name.out" 2>"$name.err" || rc=$?
    echo "$rc" >"$name.rc"
}

# run_sacs NAME CMD...: runs CMD under the preload with SACS_STATS=1.
run_sacs() {
    local name=$1
    shift
    local rc=0
    timeout -k 5 "${CASE_TIMEOUT:-120}" env "${EXTRA_ENV[@]}" SACS_STATS=1 LD_PRELOAD="$LIB" "$@" \
        >"$name.out" 2>"$name.err" || rc=$?
    echo "$rc" >"$name.rc"
}

expect_rc0() {
    local name=$1 what=$2 rc
    rc=$(cat "$name.rc")
    ((rc != 124)) || die "$what: timed out; stderr: $(first_lines "$name.err")"
    ((rc == 0)) || die "$what: exit status $rc; stderr: $(first_lines "$name.err")"
}

expect_same() {
    local a=$1 b=$2
    cmp -s "$a" "$b" || die "output differs ($a vs $b): $(diff "$a" "$b" | head -n 6 | tr '\n' '|')"
}

# twice MIN_ALLOCS CMD...: CMD without and with the preload: both exit 0 with the same
# standard output, and SACS served at least MIN_ALLOCS allocations. $BEFORE_EACH (a command)
# runs before each of the two.
twice() {
    local min=$1
    shift
    ${BEFORE_EACH:-true}
    run_plain plain "$@"
    ${BEFORE_EACH:-true}
    run_sacs sacs "$@"
    expect_rc0 plain "without preload"
    expect_rc0 sacs "under preload"
    [[ -s plain.out ]] || die "no output"
    expect_same plain.out sacs.out
    expect_allocs sacs.err "$min" "${MIN_TABLES:-1}"
}

# cc OUT SRC [FLAGS...]: compiles a test program without the preload.
cc_plain() {
    local out=$1 src=$2
    shift 2
    gcc -O1 -Wall -Wno-use-after-free -o "$out" "$src" "$@" 2>"$out.cc.err" ||
        die "gcc $src failed: $(first_lines "$out.cc.err")"
}

# run_case NAME FUNCTION: runs the case and records PASS or FAIL, with the time it took.
run_case() {
    local name=$1 fn=$2 rc=0 t0 t1 ms reason
    CASE_DIR=$WORK/$name
    mkdir -p "$CASE_DIR"
    t0=$(date +%s%N)
    set +e
    (
        set -eE
        trap 'rc=$?; [[ -s $CASE_DIR/reason ]] || printf "unexpected failure (exit %d) of: %s\n" "$rc" "$BASH_COMMAND" >"$CASE_DIR/reason"' ERR
        cd "$CASE_DIR"
        "$fn"
    ) >"$CASE_DIR/case.log" 2>&1
    rc=$?
    set -e
    t1=$(date +%s%N)
    ms=$(((t1 - t0) / 1000000))
    local secs
    secs=$(printf '%d.%01d s' $((ms / 1000)) $((ms % 1000 / 100)))
    if ((rc == 0)); then
        passed=$((passed + 1))
        printf 'PASS %-18s (%s) %s\n' "$name" "$secs" "$(cat "$CASE_DIR/note" 2>/dev/null || true)"
        SUMMARY+=("PASS $name")
    else
        failed=$((failed + 1))
        reason=$(cat "$CASE_DIR/reason" 2>/dev/null || echo "failed (exit $rc)")
        printf 'FAIL %-18s (%s) %s\n' "$name" "$secs" "$reason"
        if [[ -s $CASE_DIR/case.log ]]; then
            sed 's/^/    | /' "$CASE_DIR/case.log" | tail -n 20
        fi
        echo "    (files in $CASE_DIR)"
        SUMMARY+=("FAIL $name")
    fi
}

# ---------------------------------------------------------------------------------------------
# The cases.

case_capi() {
    need gcc
    cc_plain capi "$SRC/capi.c" -fno-builtin -ldl
    run_sacs sacs ./capi
    grep -q '^capi: [0-9]* checks, 0 failed$' sacs.out ||
        die "contract checks failed: $(grep -m 6 -E '^(FAIL|capi:)' sacs.out | tr '\n' '|')"
    expect_rc0 sacs "capi under preload"
    note "$(tail -n 1 sacs.out)"
    expect_allocs sacs.err 2000
}

# The first allocations of a process (a library constructor, the executable's .preinit_array)
# come from SACS: main frees them with SACS's free, which would abort on a foreign pointer.
case_early() {
    need gcc
    gcc -O1 -Wall -shared -fPIC -DEARLY_LIB -o libearly.so "$SRC/early.c" 2>early.cc.err ||
        die "gcc early.c (library) failed: $(first_lines early.cc.err)"
    cc_plain early "$SRC/early.c" -L. -learly -Wl,-rpath,"$PWD"
    run_sacs sacs ./early
    expect_rc0 sacs "early allocations under preload"
    grep -qx 'early: ok' sacs.out || die "early: $(first_lines sacs.out)"
    grep -q 'invalid pointer' sacs.err && die "a pre-main block was not SACS's: $(first_lines sacs.err)"
    note "constructor and preinit blocks freed by SACS"
}

# SACS never allocates: under the validation build every entry point checks that its thread is
# not already inside SACS (`tls::Reentry`), and a re-entry aborts with "sacs: re-entered".
case_reentry() {
    need gcc g++
    [[ -n $PY ]] || die "python3 is not installed"
    cc_plain capi "$SRC/capi.c" -fno-builtin -ldl
    cc_plain forktest "$SRC/forktest.c" -pthread
    g++ -std=c++17 -O2 -pthread -o containers "$SRC/containers.cpp" 2>cxx.cc.err ||
        die "g++ containers.cpp failed: $(first_lines cxx.cc.err)"
    local prog rc
    for prog in capi forktest containers python; do
        rc=0
        case $prog in
            python) cmd=(env PYTHONMALLOC=malloc "$PY" "$SRC/threaded.py") ;;
            *) cmd=("./$prog") ;;
        esac
        timeout -k 5 120 env "${EXTRA_ENV[@]}" LD_PRELOAD="$LIB_VALIDATE" "${cmd[@]}" >"$prog.out" 2>"$prog.err" || rc=$?
        grep -q 're-entered' "$prog.err" && die "$prog: $(grep -m1 're-entered' "$prog.err")"
        ((rc == 0)) || die "$prog under the validation build: exit $rc; $(first_lines "$prog.err")"
    done
    note "capi, fork, c++, python under the validation build: no re-entry"
}

case_bad_pointer() {
    need gcc
    cc_plain badptr "$SRC/badptr.c"
    ulimit -c 0
    local mode want rc
    # Default (abort): one line naming the function and the address, then SIGABRT.
    for mode in free-stack realloc-stack usable-stack double-free; do
        case $mode in
            free-stack) want='sacs: free(): invalid pointer 0x' ;;
            realloc-stack) want='sacs: realloc(): invalid pointer 0x' ;;
            usable-stack) want='sacs: malloc_usable_size(): invalid pointer 0x' ;;
            double-free) want='double free' ;;
        esac
        rc=0
        timeout -k 5 30 env "${EXTRA_ENV[@]}" LD_PRELOAD="$LIB" ./badptr "$mode" >"$mode.out" 2>"$mode.err" || rc=$?
        grep -qF -- "$want" "$mode.err" ||
            die "badptr $mode: stderr lacks '$want': $(first_lines "$mode.err")"
        ((rc == 134)) || die "badptr $mode: exit status $rc, expected 134 (SIGABRT); stdout: $(first_lines "$mode.out")"
        ! grep -q survived "$mode.out" || die "badptr $mode: the program went on after the misuse"
    done
    # SACS_ON_ERROR=continue: the same lines, the program goes on, the heap still works.
    rc=0
    timeout -k 5 30 env "${EXTRA_ENV[@]}" LD_PRELOAD="$LIB" SACS_ON_ERROR=continue ./badptr all >all.out 2>all.err || rc=$?
    ((rc == 0)) || die "SACS_ON_ERROR=continue badptr all: exit status $rc; stdout: $(first_lines all.out); stderr: $(first_lines all.err)"
    grep -qx 'survived all' all.out || die "SACS_ON_ERROR=continue: no 'survived all': $(first_lines all.out)"
    for want in 'sacs: free(): invalid pointer 0x' 'sacs: realloc(): invalid pointer 0x' \
        'sacs: malloc_usable_size(): invalid pointer 0x' 'double free'; do
        grep -qF -- "$want" all.err || die "SACS_ON_ERROR=continue: stderr lacks '$want': $(first_lines all.err)"
    done
    note "abort: free/realloc/malloc_usable_size of a stack address and a double free -> message + SIGABRT; continue: messages, exit 0, heap intact"
}

case_options() {
    local rc=0
    # A value SACS does not understand and a misspelt name: one line each, the defaults hold,
    # the program runs. Words in any case are understood.
    timeout -k 5 30 env "${EXTRA_ENV[@]}" LD_PRELOAD="$LIB" SACS_PURGE_DELAY_MS=10ms SACS_STAT=1 \
        SACS_ON_ERROR=Continue SACS_TEST_IGNORED=1 sh -c 'echo ran' >opts.out 2>opts.err || rc=$?
    ((rc == 0)) || die "bad options: exit status $rc; stderr: $(first_lines opts.err)"
    grep -qx ran opts.out || die "bad options: the program did not run"
    grep -qF 'sacs: SACS_PURGE_DELAY_MS="10ms" is not a number' opts.err ||
        die "no warning for SACS_PURGE_DELAY_MS=10ms: $(first_lines opts.err)"
    grep -qF 'sacs: SACS_STAT is not an option of SACS; ignored (did you mean SACS_STATS?)' opts.err ||
        die "no warning for SACS_STAT: $(first_lines opts.err)"
    ! grep -q 'SACS_ON_ERROR\|SACS_TEST_IGNORED' opts.err ||
        die "a warning for a good value or a project variable: $(first_lines opts.err)"
    note "SACS_PURGE_DELAY_MS=10ms and SACS_STAT=1 reported (each process of sh -c), Continue understood"
}

case_signal() {
    need gcc
    cc_plain sigtest "$SRC/signal.c"
    ulimit -c 0
    local rc=0
    timeout -k 5 30 env "${EXTRA_ENV[@]}" LD_PRELOAD="$LIB" ./sigtest >sig.out 2>sig.err || rc=$?
    if ((rc == 134)); then
        grep -qF 'sacs: a thread re-entered the allocator while inside it' sig.err ||
            die "aborted without SACS's message: $(first_lines sig.err)"
        note "malloc from a signal handler while its thread held an arena lock: message + SIGABRT (glibc aborts too)"
    elif ((rc == 0)); then
        grep -q '^done' sig.out || die "no 'done' line: $(first_lines sig.out)"
        note "the handler never hit a held lock in 3 s: $(cat sig.out)"
    else
        die "malloc from a signal handler: exit status $rc (124: hung); stderr: $(first_lines sig.err)"
    fi
}

case_fork() {
    need gcc
    cc_plain forktest "$SRC/forktest.c" -pthread
    CASE_TIMEOUT=60 run_plain plain ./forktest
    CASE_TIMEOUT=60 run_sacs sacs ./forktest
    expect_rc0 plain "forktest without preload"
    expect_rc0 sacs "forktest under preload (8 threads, 100 children, 60 s limit)"
    expect_same plain.out sacs.out
    expect_allocs sacs.err 10000
}

case_python() {
    [[ -n $PY ]] || die "python3 is not installed"
    # PYTHONMALLOC=malloc: every object of the interpreter comes from malloc, not pymalloc.
    PYTHONMALLOC=malloc twice 1000000 "$PY" "$SRC/threaded.py"
    note "$(tail -n 1 sacs.out | cut -c1-24)…"
}

# The heap profile (SACS_PROFILE=1, docs/profile.md): printed by malloc_stats() and at exit,
# with its three tables, and its rows name their sites (module + offset, and a function where
# dladdr knows one); the program's output is unchanged.
case_profile() {
    [[ -n $PY ]] || die "python3 is not installed"
    cat >prof.py <<'EOF'
import ctypes
keep = [("v" * (i % 100)) + str(i) for i in range(50000)]
for r in range(10):
    tmp = [str(i) * 3 for i in range(20000)]
    del tmp
ctypes.CDLL(None).malloc_stats()
print(len(keep), sum(map(len, keep)))
EOF
    PYTHONMALLOC=malloc SACS_PROFILE=1 SACS_PROFILE_SAMPLE_EVERY=256 twice 100000 "$PY" prof.py
    local profiles table
    profiles=$(grep -c '^sacs heap profile: ' sacs.err || true)
    ((profiles == 2)) || die "expected 2 heap profiles (malloc_stats and exit), found $profiles: $(first_lines sacs.err)"
    for table in "live bytes" "allocated bytes" "fragmentation cost"; do
        grep -q "^  top sites by $table" sacs.err || die "no table of sites by $table"
    done
    grep -Eq '\+0x[0-9a-f]+ [A-Za-z_][A-Za-z0-9_.]*\+0x[0-9a-f]+$' sacs.err ||
        die "no row names a function: $(grep -A3 'by live bytes' sacs.err | tr '\n' '|')"
    note "$(grep -m1 '^sacs heap profile' sacs.err | cut -c20-100)"
}

case_sqlite() {
    need sqlite3
    cat >q.sql <<'EOF'
PRAGMA journal_mode = DELETE;
CREATE TABLE t(id INTEGER PRIMARY KEY, grp INTEGER NOT NULL, name TEXT NOT NULL, val REAL);
WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 100000)
INSERT INTO t SELECT x, x % 97,
    'name-' || x || '-' || substr('abcdefghijklmnopqrstuvwxyz', 1 + x % 26, 1 + x % 13),
    (x * 7919) % 10007 / 3.0
FROM c;
CREATE INDEX t_grp_val ON t(grp, val);
CREATE INDEX t_name ON t(name);
SELECT count(*), sum(grp), round(sum(val), 3), min(name), max(name) FROM t;
SELECT grp, count(*), round(avg(val), 4), max(length(name)) FROM t GROUP BY grp ORDER BY grp LIMIT 12;
SELECT count(DISTINCT name), count(DISTINCT substr(name, -3)) FROM t;
SELECT id, name FROM t WHERE name LIKE 'name-4242%' ORDER BY name;
SELECT group_concat(id) FROM (SELECT id FROM t WHERE grp = 13 ORDER BY val DESC, id LIMIT 20);
UPDATE t SET name = upper(name) WHERE grp < 10;
DELETE FROM t WHERE id % 7 = 0;
SELECT count(*), sum(length(name)), sum(name GLOB '*[A-Z]*') FROM t;
SELECT a.grp, count(*) FROM t a JOIN t b ON a.id = b.id + 1 AND a.grp = b.grp + 1 GROUP BY a.grp ORDER BY 2 DESC, 1 LIMIT 5;
VACUUM;
PRAGMA integrity_check;
EOF
    BEFORE_EACH="rm -f t.db t.db-journal" twice 100000 sqlite3 -bail -batch -init /dev/null t.db ".read q.sql"
    grep -q '^100000|' plain.out || die "no row counting 100000 rows: $(first_lines plain.out 3)"
    grep -qx ok sacs.out || die "PRAGMA integrity_check is not ok"
    note "$(wc -l <sacs.out) result rows equal"
}

case_git() {
    need git
    "$PY" "$SRC/gen-git-files.py" src
    BEFORE_EACH="rm -rf repo repo.home" MIN_TABLES=20 twice 30000 bash "$SRC/git-session.sh" "$PWD/repo" "$PWD/src"
    # Sanity of the repository made under the preload.
    grep -qx 'count: 0' sacs.out || die "objects left loose after gc: $(grep -E '^(count|packs|in-pack)' sacs.out | tr '\n' ' ')"
    grep -qx 'packs: 1' sacs.out || die "not one pack after gc"
    grep -qx 'garbage: 0' sacs.out || die "garbage in the object store"
    grep -qx 'fsck ok' sacs.out || die "git fsck failed"
    local in_pack objects
    in_pack=$(awk '$1 == "in-pack:" {print $2}' sacs.out)
    objects=$(awk '$1 == "objects" {print $2}' sacs.out)
    [[ -n $in_pack && $in_pack == "$objects" ]] || die "in-pack $in_pack != reachable objects $objects"
    (($(grep -c ' stage[123]: generated files$' sacs.out) == 3)) || die "log does not show 3 commits"
    note "3 commits, tree hashes equal, $objects objects in 1 pack"
}

case_gcc() {
    need gcc
    # The compiler (driver, cc1, as, collect2, ld) under the preload, and without.
    run_plain cc-plain gcc -O2 -Wall -o wordfreq.plain "$SRC/wordfreq.c"
    run_sacs cc-sacs gcc -O2 -Wall -o wordfreq.sacs "$SRC/wordfreq.c"
    expect_rc0 cc-plain "gcc without preload"
    expect_rc0 cc-sacs "gcc under preload"
    expect_same cc-plain.out cc-sacs.out
    cmp -s wordfreq.plain wordfreq.sacs || die "gcc under preload produced a different binary"
    expect_allocs cc-sacs.err 20000 3
    # The program it built, without and with the preload.
    run_plain plain ./wordfreq.plain
    run_sacs sacs ./wordfreq.sacs
    expect_rc0 plain "wordfreq without preload"
    expect_rc0 sacs "wordfreq under preload"
    expect_same plain.out sacs.out
    expect_allocs sacs.err 50000
    note "same binary from gcc under preload"
}

case_cxx() {
    need g++
    # cc1plus under the preload builds the program; it must be the same as without.
    run_plain cxx-plain g++ -std=c++17 -O2 -pthread -o containers.plain "$SRC/containers.cpp"
    run_sacs cxx-sacs g++ -std=c++17 -O2 -pthread -o containers.sacs "$SRC/containers.cpp"
    expect_rc0 cxx-plain "g++ without preload"
    expect_rc0 cxx-sacs "g++ under preload"
    cmp -s containers.plain containers.sacs || die "g++ under preload produced a different binary"
    expect_allocs cxx-sacs.err 50000 3
    twice 500000 ./containers.plain
    grep -qx 'aligned new: ok' sacs.out || die "aligned operator new misaligned under preload"
    grep -qx 'nothrow new: ok' sacs.out || die "nothrow operator new broken under preload"
    note "$(grep checksum sacs.out)"
}

case_coreutils() {
    need seq sort uniq awk tee sha256sum
    "$PY" -c 'import random; r = random.Random(7); open("random-source", "wb").write(bytes(r.randrange(256) for _ in range(1 << 20)))'
    cat >pipeline.sh <<'EOF'
seq 1 150000 | awk '{ print ($1 * 7919) % 5003 }' | sort -R --random-source=random-source | tee shuffled \
    | sort -n | uniq -c | sort -k1,1nr -k2,2n | awk 'NR <= 10 { print } { s += $1 * $2; n++ } END { print "distinct", n, "sum", s }'
sha256sum < shuffled
sort -u shuffled | wc -l
tr '0-9' 'a-j' < shuffled | cut -c1-2 | sort | uniq | tr '\n' ' ' | fold -w 60
echo
EOF
    # Coreutils allocate little each (about 1,100 allocations over 18 processes here): the
    # point is that every process of the pipeline was served by SACS (>= 10 tables).
    MIN_TABLES=10 twice 500 bash pipeline.sh
}

case_redis() {
    need redis-server redis-cli redis-benchmark
    trap cleanup EXIT # a server left running by a failed check is stopped with the case
    local value_sizes="10 1000 5000 50000 300000 3000000"
    local n
    for n in $value_sizes; do
        "$PY" -c "import sys; sys.stdout.write(''.join(chr(97 + (i * 7 + i // 26) % 26) for i in range($n)))" >"value.$n"
    done
    redis_session plain
    redis_session sacs
    expect_same plain.cli sacs.cli
    grep -q 'mismatch' sacs.cli && die "a value read back differs: $(grep -m 3 mismatch sacs.cli | tr '\n' '|')"
    (($(grep -c 'requests per second' sacs.bench) >= 4)) ||
        die "redis-benchmark did not report 4 tests: $(tr '\r' '\n' <sacs.bench | grep -v '^$' | head -n 4 | tr '\n' '|')"
    expect_allocs sacs.server.err 100000
    note "benchmark: $(tr '\r' '\n' <sacs.bench | grep 'requests per second' | sed 's/ requests per second.*//' | tr '\n' ' ')"
}

# redis_session plain|sacs: a server on 127.0.0.1 (under the preload for `sacs`), the
# benchmark, scripted checks (MODE.cli), shutdown; the server's stderr in MODE.server.err.
redis_session() {
    local mode=$1 port pid i pre=()
    [[ $mode == sacs ]] && pre=(env "${EXTRA_ENV[@]}" SACS_STATS=1 LD_PRELOAD="$LIB")
    port=$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    mkdir -p "redis-$mode"
    "${pre[@]}" redis-server --bind 127.0.0.1 --port "$port" --save '' --appendonly no \
        --daemonize no --protected-mode yes --dir "$PWD/redis-$mode" \
        >"$mode.server.out" 2>"$mode.server.err" &
    pid=$!
    echo "$pid" >>"$PIDS_FILE"
    local cli=(timeout -k 5 60 redis-cli -h 127.0.0.1 -p "$port")
    for ((i = 0; i < 100; i++)); do
        [[ $("${cli[@]}" ping 2>/dev/null) == PONG ]] && break
        kill -0 "$pid" 2>/dev/null || die "redis-server ($mode) exited at start: $(first_lines "$mode.server.out") $(first_lines "$mode.server.err")"
        sleep 0.1
    done
    ((i < 100)) || die "redis-server ($mode) did not answer PING within 10 s"

    # The benchmark (under the preload too in the sacs session).
    local rc=0
    timeout -k 5 120 "${pre[@]}" redis-benchmark -h 127.0.0.1 -p "$port" -n 20000 -q \
        -t set,get,lpush,lpop -P 16 >"$mode.bench" 2>"$mode.bench.err" || rc=$?
    ((rc == 0)) || die "redis-benchmark ($mode): exit status $rc: $(first_lines "$mode.bench.err")"

    # Scripted checks; everything printed must be the same for both servers.
    {
        "${cli[@]}" SET t:small hello
        "${cli[@]}" GET t:small
        for n in $value_sizes; do
            "${cli[@]}" -x SET "t:v$n" <"value.$n"
            "${cli[@]}" STRLEN "t:v$n"
            if cmp -s <("${cli[@]}" --raw GET "t:v$n") <(cat "value.$n"; echo); then
                echo "t:v$n read back ok"
            else
                echo "t:v$n mismatch"
            fi
        done
        for i in $(seq 1 200); do echo "APPEND t:grow chunk-$i-$(printf '%*s' $((i * 13)) '' | tr ' ' x)"; done |
            "${cli[@]}" >/dev/null
        "${cli[@]}" STRLEN t:grow
        "${cli[@]}" --raw GET t:grow | sha256sum
        "${cli[@]}" RPUSH t:list $(seq 1 1000)
        "${cli[@]}" LRANGE t:list 0 4
        "${cli[@]}" LPOP t:list 3
        "${cli[@]}" LLEN t:list
        for i in $(seq 1 500); do echo "HSET t:hash field$i value-$((i * i))"; done | "${cli[@]}" >/dev/null
        "${cli[@]}" HLEN t:hash
        "${cli[@]}" HGET t:hash field321
        "${cli[@]}" --raw HGETALL t:hash | paste - - | sort | sha256sum
        "${cli[@]}" SADD t:set $(seq 1 3 3000) >/dev/null
        "${cli[@]}" SCARD t:set
        "${cli[@]}" SISMEMBER t:set 2998
        for i in $(seq 1 300); do echo "ZADD t:z $(((i * 37) % 101)) member$i"; done | "${cli[@]}" >/dev/null
        "${cli[@]}" ZRANGE t:z 0 4 WITHSCORES
        "${cli[@]}" ZCARD t:z
        "${cli[@]}" INCRBY t:counter 41
        "${cli[@]}" INCR t:counter
        "${cli[@]}" DEL "t:v3000000" t:small
        "${cli[@]}" EXISTS "t:v3000000" "t:v50000"
    } >"$mode.cli" 2>"$mode.cli.err"

    "${cli[@]}" shutdown nosave >/dev/null 2>&1 || true
    for ((i = 0; i < 100; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        kill -9 "$pid"
        die "redis-server ($mode) still running 10 s after SHUTDOWN NOSAVE"
    fi
    rc=0
    wait "$pid" || rc=$?
    ((rc == 0)) || die "redis-server ($mode) exited with status $rc: $(first_lines "$mode.server.err")"
}

# ---------------------------------------------------------------------------------------------

t_all=$SECONDS
run_case capi case_capi
run_case early case_early
run_case reentry case_reentry
run_case bad-pointer case_bad_pointer
run_case options case_options
run_case signal case_signal
run_case fork case_fork
run_case python case_python
run_case profile case_profile
run_case sqlite case_sqlite
run_case git case_git
run_case gcc case_gcc
run_case c++ case_cxx
run_case coreutils case_coreutils
run_case redis case_redis

echo "preload-tests: $((SECONDS - t_all)) s"
echo "$passed passed, $failed failed"
((failed == 0))
