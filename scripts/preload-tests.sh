#!/usr/bin/env bash
# Real programs under LD_PRELOAD=libsacs.so (issue 3: items 5, 6 and 8), and the C API's
# contract seen from a C program.
#
# Each program runs twice, without and with the preload, and must print the same thing; the
# run under the preload sets SACS_STATS=json with SACS_STATS_FILE=<case dir>/NAME.stats/%p.json,
# and the statistics it writes there (one JSON object per process) must show that SACS served a
# meaningful number of allocations. The case stats-formats checks the human table of
# SACS_STATS=1 and the JSON's keys; the case pkgconfig builds a program against an installed
# SACS (scripts/install.sh, pkg-config) and runs it without the preload. Each case prints PASS or FAIL with a reason; the last line is
# `N passed, M failed`, and the exit status is non-zero when any case failed.
# Files of each case stay in target/preload-tests/<case>/ (under CARGO_TARGET_DIR when set) for inspection.
#
# Needs: gcc, g++, python3, sqlite3, git, redis-server, redis-cli, redis-benchmark, pkg-config,
# readelf, coreutils (.ci/run installs the Debian packages).
#
#   scripts/preload-tests.sh                  # SACS as it starts by default
#   scripts/preload-tests.sh --sites observe  # every case with Site Rules (SACS_SITES=observe or
#   scripts/preload-tests.sh --sites on       # on), sampling every miss of the HOT malloc, the
#                                             # most the sampled paths can be exercised; each
#                                             # case reports its sample count
#   scripts/preload-tests.sh --only 'pkgconfig|stats'   # only the cases whose name matches
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
ONLY=
usage() {
    echo "usage: $0 [--sites off|observe|on] [--only REGEX]" >&2
    exit 2
}
while (($#)); do
    case $1 in
        --sites)
            [[ -n ${2:-} ]] || usage
            EXTRA_ENV=(SACS_SITES="$2" SACS_SITES_SAMPLE_EVERY=1)
            shift 2
            ;;
        --only)
            [[ -n ${2:-} ]] || usage
            ONLY=$2
            shift 2
            ;;
        *) usage ;;
    esac
done
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
# The one that reads the statistics files: the system's (install-deps.sh installs it).
STATS_PY=/usr/bin/python3
[[ -x $STATS_PY ]] || STATS_PY=$PY

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

# sacs_allocs FILE: prints "<sum of allocs of every tier of every table> <number of tables>" of
# the human tables of SACS_STATS=1 in FILE (the case stats-formats).
sacs_allocs() {
    awk '
        /^sacs statistics/ { tables++; next }
        tables && $1 ~ /^(tiny|mid|big|whale)$/ && $2 ~ /^[0-9]+$/ { sum += $2 }
        END { printf "%d %d\n", sum, tables }' "$1"
}

# sacs_json DIR [ERR]: prints "<sum of allocs of every tier> <number of objects> <site samples>
# <objects in ERR>" over the statistics files of DIR (SACS_STATS=json: one object per line, one
# file per process) and the JSON lines of ERR (standard error, where SACS writes the statistics
# of a process that cannot open SACS_STATS_FILE). Fails on a line of DIR that is not a JSON
# object of SACS's statistics.
sacs_json() {
    "$STATS_PY" - "$@" <<'EOF'
import glob, json, os, sys
allocs = objects = samples = on_stderr = 0
paths = sorted(glob.glob(os.path.join(sys.argv[1], "*")))
if len(sys.argv) > 2 and os.path.exists(sys.argv[2]):
    paths.append(sys.argv[2])
for path in paths:
    with open(path, errors="replace") as f:
        for n, line in enumerate(f, 1):
            if path == sys.argv[-1] and len(sys.argv) > 2:
                if not line.startswith('{"sacs":'):
                    continue
                on_stderr += 1
            if not line.strip():
                continue
            try:
                s = json.loads(line)
                allocs += sum(t["allocs"] for t in s["tiers"].values())
                samples += s["sites"]["samples"]
            except (ValueError, KeyError, TypeError, AttributeError) as e:
                sys.exit("%s:%d: not SACS's statistics (%s): %.80s" % (path, n, e, line))
            objects += 1
print(allocs, objects, samples, on_stderr)
EOF
}

# expect_allocs NAME MIN [MIN_TABLES]: the statistics of `run_sacs NAME` (NAME.stats/) show at
# least MIN allocations (and at least MIN_TABLES objects, i.e. processes that ran under SACS).
expect_allocs() {
    local name=$1 min=$2 min_tables=${3:-1} out sum tables samples on_stderr
    out=$(sacs_json "$name.stats" "$name.err" 2>&1) || die "$name.stats: $out"
    read -r sum tables samples on_stderr <<<"$out"
    ((tables > 0)) || die "no statistics in $name.stats/: SACS did not serve this program"
    ((tables >= min_tables)) || die "only $tables statistics objects in $name.stats/, expected >= $min_tables processes under SACS"
    ((sum >= min)) || die "SACS served only $sum allocations (expected >= $min) per $name.stats/"
    note "$name: SACS allocs $sum in $tables process(es)"
    # The case stats-formats fails on that; here it is only reported.
    ((on_stderr == 0)) || note "$on_stderr on stderr: $(grep -a -m1 '^sacs: cannot open SACS_STATS_FILE' "$name.err" | tr -d '\0' | tr -s ' ')"
    if [[ ${EXTRA_ENV[*]} == *SACS_SITES=observe* || ${EXTRA_ENV[*]} == *SACS_SITES=on* ]]; then
        # Misses of the HOT malloc, calloc and C++ operator new are sampled, realloc's and aligned
        # allocations' are not, so the count is reported, not required.
        note "site samples $samples"
    fi
}

# sacs_env NAME: sets SACS_ENV to the command prefix of a run under the preload whose
# statistics go to NAME.stats/ (created empty), one file per process.
sacs_env() {
    rm -rf "$1.stats"
    mkdir -p "$1.stats"
    SACS_ENV=(env "${EXTRA_ENV[@]}" SACS_STATS=json SACS_STATS_FILE="$PWD/$1.stats/%p.json" LD_PRELOAD="$LIB")
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

# run_sacs NAME CMD...: runs CMD under the preload; NAME.out, NAME.err, NAME.rc and the
# statistics of its processes in NAME.stats/ (SACS_STATS=json).
run_sacs() {
    local name=$1
    shift
    local rc=0
    sacs_env "$name"
    timeout -k 5 "${CASE_TIMEOUT:-120}" "${SACS_ENV[@]}" "$@" >"$name.out" 2>"$name.err" || rc=$?
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
    expect_allocs sacs "$min" "${MIN_TABLES:-1}"
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
    [[ -z $ONLY || $name =~ $ONLY ]] || return 0
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
    expect_allocs sacs 2000
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
    # the program runs. Words in any case and unit suffixes are understood; SACS_VERBOSE=1
    # lists the effective values.
    timeout -k 5 30 env "${EXTRA_ENV[@]}" LD_PRELOAD="$LIB" SACS_PURGE_DELAY_MS=10parsecs SACS_STAT=1 \
        SACS_ON_ERROR=Continue SACS_HOT_MS=2s SACS_TEST_IGNORED=1 SACS_VERBOSE=1 sh -c 'echo ran' \
        >opts.out 2>opts.err || rc=$?
    ((rc == 0)) || die "bad options: exit status $rc; stderr: $(first_lines opts.err)"
    grep -qx ran opts.out || die "bad options: the program did not run"
    grep -qF 'sacs: SACS_PURGE_DELAY_MS="10parsecs" is not a number' opts.err ||
        die "no warning for SACS_PURGE_DELAY_MS=10parsecs: $(first_lines opts.err)"
    grep -qF 'sacs: SACS_STAT is not an option of SACS; ignored (did you mean SACS_STATS?)' opts.err ||
        die "no warning for SACS_STAT: $(first_lines opts.err)"
    ! grep -v '^sacs: option ' opts.err | grep -q 'SACS_ON_ERROR\|SACS_HOT_MS\|SACS_TEST_IGNORED' ||
        die "a warning for a good value or a project variable: $(first_lines opts.err)"
    grep -qx 'sacs: option SACS_HOT_MS=2000 (set)' opts.err ||
        die "SACS_VERBOSE=1 does not show SACS_HOT_MS=2s as 2000: $(grep -m1 SACS_HOT_MS opts.err)"
    grep -qx 'sacs: option SACS_ON_ERROR=1 (set)' opts.err ||
        die "SACS_VERBOSE=1 does not show SACS_ON_ERROR=Continue as 1: $(grep -m1 SACS_ON_ERROR opts.err)"
    note "SACS_PURGE_DELAY_MS=10parsecs and SACS_STAT=1 reported, 2s and Continue understood, SACS_VERBOSE lists $(grep -c '^sacs: option ' opts.err) options"
}

# A C program built the way a C user builds one against an installed SACS: scripts/install.sh
# into a staging tree (DESTDIR, PREFIX=/usr/local), `pkg-config --cflags --libs sacs` resolved
# into that tree, and the program run WITHOUT LD_PRELOAD, the library found through
# LD_LIBRARY_PATH by its SONAME. It uses every function of <sacs.h> and checks that SACS, not
# glibc, served its mallocs.
case_pkgconfig() {
    need gcc pkg-config readelf
    local stage=$PWD/stage flags=()
    CARGO_TARGET_DIR=$TARGET "$ROOT/scripts/install.sh" --no-build --prefix /usr/local --destdir "$stage" \
        >install.out 2>install.err || die "install.sh failed: $(first_lines install.err)"
    # Twice: installing again over an installation works and changes nothing.
    find "$stage" -printf '%p %l %s\n' | sort >tree.1
    CARGO_TARGET_DIR=$TARGET "$ROOT/scripts/install.sh" --no-build --prefix /usr/local --destdir "$stage" \
        >install.out 2>install.err || die "install.sh (again) failed: $(first_lines install.err)"
    find "$stage" -printf '%p %l %s\n' | sort >tree.2
    cmp -s tree.1 tree.2 || die "a second install.sh changed the tree: $(diff tree.1 tree.2 | head -n 4 | tr '\n' '|')"
    local libdir=$stage/usr/local/lib
    [[ $(readlink "$libdir/libsacs.so") == libsacs.so.0 && $(readlink "$libdir/libsacs.so.0") == libsacs.so.0.1.0 ]] ||
        die "links: libsacs.so -> $(readlink "$libdir/libsacs.so"), libsacs.so.0 -> $(readlink "$libdir/libsacs.so.0")"
    grep -qx 'prefix=/usr/local' "$libdir/pkgconfig/sacs.pc" || die "sacs.pc does not say prefix=/usr/local: $(first_lines "$libdir/pkgconfig/sacs.pc")"
    # pkg-config reads only the staged sacs.pc and puts the staging tree before its paths.
    local out
    out=$(PKG_CONFIG_SYSROOT_DIR=$stage PKG_CONFIG_PATH=$libdir/pkgconfig PKG_CONFIG_LIBDIR=$libdir/pkgconfig \
        pkg-config --cflags --libs sacs 2>&1) || die "pkg-config --cflags --libs sacs: $out"
    read -ra flags <<<"$out"
    [[ " $out " == *" -I$stage/usr/local/include "* && " $out " == *" -L$libdir "* && " $out " == *" -lsacs "* ]] ||
        die "pkg-config gave: $out"
    cc_plain pkgconfig "$SRC/pkgconfig.c" "${flags[@]}"
    readelf -d pkgconfig | grep -q 'NEEDED.*\[libsacs\.so\.0\]' ||
        die "the program does not need libsacs.so.0: $(readelf -d pkgconfig | grep NEEDED | tr '\n' '|')"
    # No preload: LD_PRELOAD is unset for the whole script; the loader finds libsacs.so.0 here.
    LD_LIBRARY_PATH=$libdir run_plain run ./pkgconfig
    expect_rc0 run "the program linked with -lsacs"
    grep -q '^pkgconfig: ok' run.out || die "$(grep -m 6 -E '^(FAIL|pkgconfig:)' run.out | tr '\n' '|')"
    local loaded
    loaded=$(LD_LIBRARY_PATH=$libdir ldd ./pkgconfig | awk '$1 == "libsacs.so.0" { print $3 }')
    [[ $loaded == "$libdir/libsacs.so.0" ]] || die "libsacs.so.0 loaded from '$loaded', not the staged $libdir"
    note "pkg-config $out; NEEDED libsacs.so.0; $(grep -m1 '^allocations counted' run.out); $(tail -n 1 run.out)"
}

# The statistics in their three forms: SACS_STATS=1's table on standard error, one per process
# (the one test of the human table: every other case reads the JSON); SACS_STATS=json on standard
# error; and SACS_STATS_FILE with %p, one file per process named by its PID, appended to.
case_stats_formats() {
    [[ -n $PY ]] || die "python3 is not installed"
    local rc=0 sum tables word out
    # seq, sort and cat: three tables (sh, dash, leaves with _exit: no exit handler, no table).
    timeout -k 5 30 env "${EXTRA_ENV[@]}" SACS_STATS=1 LD_PRELOAD="$LIB" \
        sh -c 'seq 1 3000 | sort -r | cat >/dev/null; echo done' >table.out 2>table.err || rc=$?
    ((rc == 0)) || die "SACS_STATS=1: exit status $rc; stderr: $(first_lines table.err)"
    [[ $(cat table.out) == "done" ]] || die "SACS_STATS=1: standard output changed: $(first_lines table.out)"
    read -r sum tables < <(sacs_allocs table.err)
    ((tables >= 3)) || die "SACS_STATS=1: $tables tables on stderr, expected one per process (3): $(first_lines table.err)"
    ((sum > 0)) || die "SACS_STATS=1: the tables count no allocations: $(first_lines table.err 8)"
    for word in 'tier' 'warm pool' 'big cache' 'whale ring' 'segments' 'syscall' 'memory'; do
        grep -q "^  $word" table.err || die "SACS_STATS=1: no '$word' line in the table"
    done
    grep -Eq '^  process +pid [0-9]+ \(sort\)' table.err ||
        die "SACS_STATS=1: no table names its process (pid, program): $(grep -m1 '^  process' table.err)"
    note "SACS_STATS=1: $tables tables, $sum allocs"

    # JSON on stderr: one line, one object per process, with the documented keys.
    rc=0
    timeout -k 5 30 env "${EXTRA_ENV[@]}" SACS_STATS=json LD_PRELOAD="$LIB" PYTHONMALLOC=malloc \
        "$PY" -c 'x = [str(i) for i in range(20000)]; print(len(x))' >json.out 2>json.err || rc=$?
    ((rc == 0)) || die "SACS_STATS=json: exit status $rc; stderr: $(first_lines json.err)"
    grep '^{' json.err >json.lines || die "SACS_STATS=json: no JSON line on stderr: $(first_lines json.err)"
    out=$(check_json json.lines 1 python) || die "SACS_STATS=json on stderr: $out"
    note "SACS_STATS=json on stderr: $out"

    # SACS_STATS_FILE with %p: bash and the ls it starts each write their own file, named by
    # PID (bash, not sh: dash leaves with _exit, which runs no exit handler).
    mkdir -p files
    rc=0
    timeout -k 5 30 env "${EXTRA_ENV[@]}" SACS_STATS=json SACS_STATS_FILE="$PWD/files/s.%p.json" LD_PRELOAD="$LIB" \
        bash -c 'echo $$; ls / >/dev/null; true' >file.out 2>file.err || rc=$?
    ((rc == 0)) || die "SACS_STATS_FILE: exit status $rc; stderr: $(first_lines file.err)"
    ! grep -q '^{' file.err || die "SACS_STATS_FILE: JSON went to stderr too"
    local shpid
    shpid=$(head -n 1 file.out)
    [[ -s files/s.$shpid.json ]] || die "no files/s.$shpid.json for bash (pid $shpid): $(find files -type f -printf '%f ')"
    (($(find files -name 's.*.json' | wc -l) == 2)) || die "expected 2 files (bash, ls): $(find files -type f -printf '%f ')"
    out=$(check_json "files/s.$shpid.json" 1 bash "$shpid") || die "files/s.$shpid.json: $out"
    # Without %p: the file is appended to, one line per process.
    local i
    for i in 1 2; do
        env "${EXTRA_ENV[@]}" SACS_STATS=json SACS_STATS_FILE="$PWD/fixed.json" LD_PRELOAD="$LIB" /bin/true ||
            die "SACS_STATS_FILE=fixed.json: /bin/true failed"
    done
    out=$(check_json fixed.json 2 true) || die "fixed.json after two runs: $out"
    note "SACS_STATS_FILE: one file per PID, appended to"

    # A program that shows a title in `ps` by writing over its argv and environment strings
    # (setproctitle: redis-server, nginx, postgres do it) still gets its statistics in
    # SACS_STATS_FILE, whose value SACS must not read from the environment again at exit.
    cat >title.c <<'EOF'
#include <stdlib.h>
#include <string.h>
extern char **environ;
int main(int argc, char **argv) {
    char *end = argv[argc - 1] + strlen(argv[argc - 1]);
    for (char **e = environ; *e; e++)
        if (*e + strlen(*e) > end)
            end = *e + strlen(*e);
    free(malloc(100));
    memset(argv[0], ' ', (size_t)(end - argv[0]));
    return 0;
}
EOF
    cc_plain title title.c
    mkdir -p title.stats title.cwd
    rc=0
    (cd title.cwd && env "${EXTRA_ENV[@]}" SACS_STATS=json SACS_STATS_FILE="$PWD/../title.stats/%p.json" \
        LD_PRELOAD="$LIB" ../title >../title.out 2>../title.err) || rc=$?
    ((rc == 0)) || die "title: exit status $rc; stderr: $(first_lines title.err)"
    (($(find title.stats -type f | wc -l) == 1)) ||
        die "a program that rewrote its environment (as setproctitle does) lost SACS_STATS_FILE: nothing in title.stats/; files where it ran: '$(find title.cwd -mindepth 1 -printf '%f|')'; stderr: $(first_lines title.err | tr -s ' ')"
    note "SACS_STATS_FILE kept when the program rewrites its environment"
}

# check_json FILE COUNT PROGRAM [PID]: FILE holds COUNT lines, each a JSON object with the
# documented keys (docs/statistics.md) whose "program" contains PROGRAM (and whose "pid" is
# PID); prints a summary of the last one, or the first problem (exit 1).
check_json() {
    "$STATS_PY" - "$@" <<'EOF'
import json, sys
path, count, program = sys.argv[1], int(sys.argv[2]), sys.argv[3]
pid = int(sys.argv[4]) if len(sys.argv) > 4 else None
KEYS = {
    "sacs": None, "version": None, "pid": None, "program": None, "elapsed_ms": None,
    "in_use": ["total", "tiny", "mid", "big", "whale"],
    "tiers": ["tiny", "mid", "big", "whale"],
    "warm_pool": ["hits", "prefills", "remote_collects"],
    "big_cache": ["hits", "misses", "warmed", "cooled", "uncached", "bytes", "cold_delay_raised",
                  "cold_delay_lowered", "hot_delay_raised", "hot_delay_lowered"],
    "whale_ring": ["hits", "misses", "evictions", "expired", "grown", "splits", "trims", "merges", "bytes", "budget",
                   "budget_raised", "budget_lowered"],
    "segments": ["mapped", "unmapped", "reused", "lent", "abandoned", "adopted"],
    "purge": ["runs", "bytes", "holes_punched", "holes_filled", "delay_raised", "delay_lowered"],
    "threads": ["heaps_created", "heaps_retired", "heaps_taken_over"],
    "invalid_frees": None,
    "pressure": ["checks", "found", "limit", "working_set", "stall"],
    "learn": ["enabled", "windows", "frozen_windows", "reopened", "recalled", "restored", "pressure_lean", "knobs"],
    "sites": ["samples", "sampled_frees", "records_dropped", "sample_pages_released", "short", "long", "rules_adopted",
              "rules_dropped", "rules_evicted", "predicted_right", "predicted_wrong", "unpredicted",
              "long_allocs", "pages_relabelled", "long_pages", "long_page_bytes", "big_allocs",
              "big_kept", "big_released", "big_right", "big_wrong"],
    "syscalls": None,
    "memory": ["committed", "peak_committed", "mapped", "resident"],
}
lines = [l for l in open(path) if l.strip()]
if len(lines) != count:
    sys.exit("%d lines, expected %d" % (len(lines), count))
for line in lines:
    try:
        s = json.loads(line)
    except ValueError as e:
        sys.exit("not JSON (%s): %.100s" % (e, line))
    missing = [k for k in KEYS if k not in s]
    missing += ["%s.%s" % (k, sub) for k, subs in KEYS.items() if subs and isinstance(s.get(k), dict)
                for sub in subs if sub not in s[k]]
    extra = [k for k in s if k not in KEYS]
    if missing or extra:
        sys.exit("keys missing: %s; keys not documented: %s" % (" ".join(missing) or "none", " ".join(extra) or "none"))
    if s["sacs"] != 1:
        sys.exit('"sacs" is %r, not 1' % s["sacs"])
    if program not in str(s["program"]):
        sys.exit('"program" is %r, expected it to contain %r' % (s["program"], program))
    if pid is not None and s["pid"] != pid:
        sys.exit('"pid" is %r, expected %d' % (s["pid"], pid))
    if not all(isinstance(t.get("allocs"), int) and isinstance(t.get("frees"), int) for t in s["tiers"].values()):
        sys.exit('"tiers" lacks allocs/frees numbers: %r' % s["tiers"])
    if not s["syscalls"] or not all({"calls", "cycles", "failures"} <= set(v) for v in s["syscalls"].values()):
        sys.exit('"syscalls" is not {kind: {calls, cycles, failures}}: %r' % s["syscalls"])
print("program %s, pid %d, %d allocs, in use %d B, %d ms" % (
    s["program"], s["pid"], sum(t["allocs"] for t in s["tiers"].values()), s["in_use"]["total"], s["elapsed_ms"]))
EOF
}

# The code most programs never run (`.sacs_rare`: statistics output, learning, Site Rules'
# sampling, whales, error reports) stays out of a small program's memory: after blocks of every
# tier but the whales' on two threads, no page of that section is resident beyond the
# fault-around windows it shares with the rest of the code (tests-preload/footprint.c). Site
# Rules' sampling is rare code that `--sites observe|on` runs, so there the case only runs.
case_footprint() {
    need gcc readelf
    cc_plain footprint "$SRC/footprint.c" -pthread
    local sections rare
    sections=$(readelf -SW "$LIB" | sed -n 's/^ *\[ *[0-9]*\] //p' |
        awk '$7 ~ /X/ { printf "%s %x %x\n", $1, strtonum("0x" $3), strtonum("0x" $3) + strtonum("0x" $5) }' 2>/dev/null ||
        true)
    if [[ -z $sections ]]; then
        # mawk has no strtonum: let the shell do the sums.
        sections=$(readelf -SW "$LIB" | sed -n 's/^ *\[ *[0-9]*\] //p' | awk '$7 ~ /X/ { print $1, $3, $5 }' |
            while read -r name addr size; do printf '%s %x %x\n' "$name" $((16#$addr)) $((16#$addr + 16#$size)); done)
    fi
    rare=$(awk '$1 == ".sacs_rare" { print $2, $3 }' <<<"$sections")
    [[ -n $rare ]] || die "libsacs.so has no .sacs_rare section: $(tr '\n' ' ' <<<"$sections")"
    # The code every program runs, with the headers and read-only data before it, fits in the
    # file's first two fault-around windows (128 KiB): a third one would be resident in every
    # process. When `.text` outgrows them, mark code that most programs never run as rare.
    local text_end
    text_end=$(awk '$1 == ".text" { print $3 }' <<<"$sections")
    [[ -n $text_end ]] || die "libsacs.so has no .text section"
    ((16#$text_end <= 0x20000)) ||
        die ".text ends at 0x$text_end, past the first two 64 KiB windows (0x20000): mark code that most programs never run #[link_section = \".sacs_rare\"] (docs/architecture.md, \"The library's own footprint\")"
    # shellcheck disable=SC2046
    FOOTPRINT_MAX_CODE_KIB=128 run_sacs sacs ./footprint $rare $(awk '$1 != ".sacs_rare" { print $2, $3 }' <<<"$sections")
    if [[ " ${EXTRA_ENV[*]} " != *" SACS_SITES=off "* ]]; then
        grep -q '^footprint: \(ok\|skipped\|.* is resident\)' sacs.out ||
            die "footprint did not run: $(first_lines sacs.err)"
        note "not judged: ${EXTRA_ENV[*]} runs Site Rules' sampling, which is rare code ($(grep -c 'is resident' sacs.out) pages resident)"
        return 0
    fi
    expect_rc0 sacs "footprint: $(first_lines sacs.out)"
    grep -q '^footprint: \(ok\|skipped\)' sacs.out || die "footprint: $(first_lines sacs.out)"
    note "$(head -n 1 sacs.out)"
}

case_signal() {
    need gcc
    cc_plain sigtest "$SRC/signal.c"
    ulimit -c 0
    local mode rc
    for mode in at-start after-start; do
        rc=0
        timeout -k 5 30 env "${EXTRA_ENV[@]}" LD_PRELOAD="$LIB" ./sigtest $mode >sig-$mode.out 2>sig-$mode.err || rc=$?
        if ((rc == 134)); then
            grep -qF 'sacs: a thread re-entered the allocator while inside it' sig-$mode.err ||
                die "$mode: aborted without SACS's message: $(first_lines sig-$mode.err)"
            note "$mode: message + SIGABRT (glibc aborts too)"
        elif ((rc == 0)); then
            grep -q '^done' sig-$mode.out || die "$mode: no 'done' line: $(first_lines sig-$mode.out)"
            note "$mode: the handler never hit a held lock in 3 s: $(cat sig-$mode.out)"
        else
            die "$mode: malloc from a signal handler: exit status $rc (124: hung); stderr: $(first_lines sig-$mode.err)"
        fi
    done
}

case_fork() {
    need gcc
    cc_plain forktest "$SRC/forktest.c" -pthread
    CASE_TIMEOUT=60 run_plain plain ./forktest
    CASE_TIMEOUT=60 run_sacs sacs ./forktest
    expect_rc0 plain "forktest without preload"
    expect_rc0 sacs "forktest under preload (8 threads, 100 children, 60 s limit)"
    expect_same plain.out sacs.out
    expect_allocs sacs 10000
}

# A class about to carve takes a larger class's spare block (SACS_LARGER_CLASS_SPAN); with Site
# Rules sampling every miss, a sample puts the block its refill took back on that block's own
# page (it was put on the class's current page before `small::unpop` looked the page up, and
# this program then crashed). Content, alignment and usable-size checks; the release and the
# validation builds.
case_larger() {
    need gcc
    cc_plain larger "$SRC/larger.c"
    EXTRA_ENV+=(SACS_SITES=on SACS_SITES_SAMPLE_EVERY=1) # this case runs in a subshell of its own
    run_sacs sacs ./larger
    expect_rc0 sacs "larger.c under preload"
    grep -qx 'larger: ok' sacs.out || die "larger: $(first_lines sacs.out)"
    local lent
    lent=$("$STATS_PY" -c 'import glob, json, sys
print(sum(json.loads(l)["warm_pool"]["larger_class_blocks"] for p in glob.glob(sys.argv[1] + "/*.json") for l in open(p) if l.strip()))' sacs.stats)
    ((lent > 1000)) || die "only $lent allocations were served by a larger class's block"
    local rc=0
    timeout -k 5 120 env "${EXTRA_ENV[@]}" LD_PRELOAD="$LIB_VALIDATE" ./larger >validate.out 2>validate.err || rc=$?
    ((rc == 0)) || die "larger.c under the validation build: exit $rc; $(first_lines validate.err)"
    grep -qx 'larger: ok' validate.out || die "larger (validation build): $(first_lines validate.out)"
    note "$lent allocations served by a larger class's block, sampled; validation build too"
}

case_python() {
    [[ -n $PY ]] || die "python3 is not installed"
    # PYTHONMALLOC=malloc: every object of the interpreter comes from malloc, not pymalloc.
    PYTHONMALLOC=malloc twice 1000000 "$PY" "$SRC/threaded.py"
    note "$(tail -n 1 sacs.out | cut -c1-24)…"
}

# The learner (SACS_LEARN=1, docs/learning.md) with 1 ms windows, so that it plays many games
# and moves its knobs while the interpreter runs: the output is unchanged, and the statistics
# show the windows it scored.
case_learn() {
    [[ -n $PY ]] || die "python3 is not installed"
    PYTHONMALLOC=malloc SACS_LEARN=1 SACS_LEARN_WINDOW_MS=1 twice 1000000 "$PY" "$SRC/threaded.py"
    local summary
    summary=$("$STATS_PY" - sacs.stats <<'EOF'
import glob, json, sys
s = json.loads(open(glob.glob(sys.argv[1] + "/*.json")[0]).readline())
l = s["learn"]
if not l["enabled"] or l["windows"] == 0:
    sys.exit("learning on, but the statistics show %r" % {k: l[k] for k in l if k != "knobs"})
games = sum(k["games"] for k in l["knobs"].values())
print("%d windows, %d games, states %s" % (l["windows"], games,
      "/".join(k["state"] for k in l["knobs"].values())))
EOF
) || die "$summary"
    note "$summary"
    # Across runs (SACS_LEARN_FILE): the first run starts from nothing and writes the file, the
    # second takes its state from it. (Not judged by the games played: a change of workload at
    # the end of a run, such as the interpreter's teardown, may re-open learning, which starts
    # the games again.)
    local run restored=()
    rm -f learn.txt
    for run in 1 2; do
        SACS_LEARN=1 SACS_LEARN_WINDOW_MS=1 SACS_LEARN_FILE="$PWD/learn.txt" PYTHONMALLOC=malloc \
            run_sacs "file$run" "$PY" "$SRC/threaded.py"
        expect_rc0 "file$run" "run $run with SACS_LEARN_FILE"
        expect_same plain.out "file$run.out"
        head -n 1 learn.txt | grep -qx 'sacs-learn 1' || die "learn.txt after run $run: $(first_lines learn.txt)"
        grep -q '^SACS_PURGE_DELAY_MS ' learn.txt || die "learn.txt after run $run names no knob: $(first_lines learn.txt)"
        restored+=("$("$STATS_PY" -c 'import glob, json, sys
s = json.loads(open(glob.glob(sys.argv[1] + "/*.json")[0]).readline())
print(s["learn"]["restored"])' "file$run.stats")")
    done
    [[ ${restored[*]} == "0 1" ]] || die "restored from the file in runs 1 and 2: ${restored[*]}, want 0 1"
    note "with SACS_LEARN_FILE: run 2 took its state from run 1's file"
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

# Call sites of C++ `operator new` and of `calloc` (tests-preload/sites.cpp): with the heap
# profile, each of the program's four allocating functions is a site of its own, named by
# dladdr, with its lifetime (long for the two that keep their blocks, short for the two that
# free them at once); with SACS_SITES=on, the keepers' blocks are placed long-lived. Before
# these entries captured their caller, every `new` and `calloc` had site 0.
case_sites_entries() {
    need g++
    g++ -std=c++17 -O2 -rdynamic -o sites "$SRC/sites.cpp" 2>sites.cc.err ||
        die "g++ sites.cpp failed: $(first_lines sites.cc.err)"
    SACS_PROFILE=1 SACS_PROFILE_SAMPLE_EVERY=64 twice 100000 ./sites
    local f
    for f in keep_node keep_zeroed; do
        grep -Eq " long +[0-9]+\+? +sites\+0x[0-9a-f]+ $f\+0x[0-9a-f]+$" sacs.err ||
            die "no long-lived site in $f: $(grep -A6 'by allocated bytes' sacs.err | tr '\n' '|')"
    done
    for f in temp_buffer temp_zeroed; do
        grep -Eq " short +[0-9]+\+? +sites\+0x[0-9a-f]+ $f\+0x[0-9a-f]+$" sacs.err ||
            die "no short-lived site in $f: $(grep -A6 'by allocated bytes' sacs.err | tr '\n' '|')"
    done
    EXTRA_ENV+=(SACS_SITES=on SACS_SITES_SAMPLE_EVERY=1 SACS_SITES_SHORT_MS=5) # this case runs in a subshell of its own
    run_sacs on ./sites
    expect_rc0 on "SACS_SITES=on"
    expect_same plain.out on.out
    local placed
    placed=$("$STATS_PY" -c 'import glob, json, sys
print(sum(json.loads(l)["sites"]["long_allocs"] for p in glob.glob(sys.argv[1] + "/*.json") for l in open(p) if l.strip()))' on.stats)
    # 80,000 blocks are kept over 40 ms or more; a site's rule comes 5 ms after its first samples.
    ((placed >= 40000)) || die "SACS_SITES=on placed $placed blocks long-lived, expected most of the 80000 kept"
    note "profile names new and calloc sites; on: $placed blocks placed long-lived"
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
    expect_allocs cc-sacs 20000 3
    # The program it built, without and with the preload.
    run_plain plain ./wordfreq.plain
    run_sacs sacs ./wordfreq.sacs
    expect_rc0 plain "wordfreq without preload"
    expect_rc0 sacs "wordfreq under preload"
    expect_same plain.out sacs.out
    expect_allocs sacs 50000
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
    expect_allocs cxx-sacs 50000 3
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
    expect_allocs sacs.server 100000
    note "benchmark: $(tr '\r' '\n' <sacs.bench | grep 'requests per second' | sed 's/ requests per second.*//' | tr '\n' ' ')"
}

# redis_session plain|sacs: a server on 127.0.0.1 (under the preload for `sacs`), the
# benchmark, scripted checks (MODE.cli), shutdown; the server's stderr in MODE.server.err, the
# statistics of the server and the benchmark under the preload in sacs.server.stats/ and
# sacs.bench.stats/.
redis_session() {
    local mode=$1 port pid i pre=()
    if [[ $mode == sacs ]]; then
        sacs_env sacs.server
        pre=("${SACS_ENV[@]}")
    fi
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
    if [[ $mode == sacs ]]; then
        sacs_env sacs.bench
        pre=("${SACS_ENV[@]}")
    fi
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
run_case pkgconfig case_pkgconfig
run_case early case_early
run_case reentry case_reentry
run_case bad-pointer case_bad_pointer
run_case options case_options
run_case stats-formats case_stats_formats
run_case footprint case_footprint
run_case signal case_signal
run_case fork case_fork
run_case larger case_larger
run_case python case_python
run_case learn case_learn
run_case profile case_profile
run_case sites-entries case_sites_entries
run_case sqlite case_sqlite
run_case git case_git
run_case gcc case_gcc
run_case c++ case_cxx
run_case coreutils case_coreutils
run_case redis case_redis

echo "preload-tests: $((SECONDS - t_all)) s"
echo "$passed passed, $failed failed"
((failed == 0))
