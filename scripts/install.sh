#!/usr/bin/env bash
# Installs SACS for C programs: the library, its header and a pkg-config file.
#
#   scripts/install.sh                          # builds, then installs under /usr/local (needs root)
#   scripts/install.sh --prefix "$HOME/.local"  # under a prefix of your own
#   DESTDIR=/tmp/stage scripts/install.sh       # into a staging tree (packaging)
#   scripts/install.sh --no-build               # installs target/release/libsacs.so as built
#
# Installs, with V the version of preload/Cargo.toml (0.1.0):
#   $DESTDIR$PREFIX/lib/libsacs.so.V            the library (SONAME libsacs.so.0)
#   $DESTDIR$PREFIX/lib/libsacs.so.0 -> libsacs.so.V        what programs load
#   $DESTDIR$PREFIX/lib/libsacs.so   -> libsacs.so.0        what `-lsacs` finds at link time
#   $DESTDIR$PREFIX/include/sacs.h              the C API (docs/c-api.md)
#   $DESTDIR$PREFIX/lib/pkgconfig/sacs.pc       for `pkg-config --cflags --libs sacs`
# The .pc file names PREFIX, not DESTDIR: DESTDIR is only where the files are staged.
# Installed as root without DESTDIR, the loader's cache is refreshed (ldconfig) so that programs
# linked with -lsacs find libsacs.so.0 in a directory it searches (/usr/local/lib on Debian).
# Running it again installs the same files again (idempotent).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD

usage() {
    cat <<'EOF'
usage: scripts/install.sh [--prefix DIR] [--destdir DIR] [--no-build] [--help]

Builds libsacs.so (cargo build --release -p sacs-preload) and installs the library, include/sacs.h
and a pkg-config file (sacs.pc) under PREFIX.

  --prefix DIR   where SACS is installed (default: $PREFIX, else /usr/local)
  --destdir DIR  a staging directory put in front of every installed path, for packaging; the
                 pkg-config file still names PREFIX (default: $DESTDIR, else none)
  --no-build     install the library already built in target/release (or $CARGO_TARGET_DIR)
  --help         this text

Environment: PREFIX, DESTDIR (the flags win), CARGO_TARGET_DIR.
Afterwards: cc prog.c $(pkg-config --cflags --libs sacs) links SACS instead of glibc's malloc
(set PKG_CONFIG_PATH=$PREFIX/lib/pkgconfig if PREFIX is not a place pkg-config searches, and
LD_LIBRARY_PATH=$PREFIX/lib or -Wl,-rpath,$PREFIX/lib if the loader does not search it).
EOF
}

prefix=${PREFIX:-/usr/local}
destdir=${DESTDIR:-}
build=1
while (($#)); do
    case $1 in
        --prefix) [[ $# -ge 2 ]] || { usage >&2; exit 2; }; prefix=$2; shift 2 ;;
        --prefix=*) prefix=${1#*=}; shift ;;
        --destdir) [[ $# -ge 2 ]] || { usage >&2; exit 2; }; destdir=$2; shift 2 ;;
        --destdir=*) destdir=${1#*=}; shift ;;
        --no-build) build=0; shift ;;
        -h | --help) usage; exit 0 ;;
        *) echo "install.sh: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
    esac
done
[[ $prefix == /* ]] || { echo "install.sh: PREFIX must be an absolute path, not '$prefix'" >&2; exit 2; }
prefix=${prefix%/}
[[ -n $prefix ]] || prefix=/
destdir=${destdir%/}

# The version of the library is the preload package's (its major is the SONAME's, preload/build.rs).
version=$(sed -n 's/^version *= *"\([0-9][0-9.]*\)".*/\1/p' preload/Cargo.toml | head -n 1)
[[ $version =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] ||
    { echo "install.sh: no version found in preload/Cargo.toml" >&2; exit 1; }
major=${version%%.*}

target=${CARGO_TARGET_DIR:-$ROOT/target}
if ((build)); then
    echo "install.sh: building libsacs.so (cargo build --release -p sacs-preload)" >&2
    cargo build --release -p sacs-preload
fi
lib=$target/release/libsacs.so
[[ -f $lib ]] || { echo "install.sh: $lib is not built (run without --no-build)" >&2; exit 1; }
header=$ROOT/include/sacs.h
[[ -f $header ]] || { echo "install.sh: $header is missing" >&2; exit 1; }

libdir=$destdir${prefix%/}/lib
incdir=$destdir${prefix%/}/include
pcdir=$libdir/pkgconfig
install -d -m 755 "$libdir" "$incdir" "$pcdir"
install -m 755 "$lib" "$libdir/libsacs.so.$version"
ln -sfn "libsacs.so.$version" "$libdir/libsacs.so.$major"
ln -sfn "libsacs.so.$major" "$libdir/libsacs.so"
install -m 644 "$header" "$incdir/sacs.h"

pc=$(mktemp)
trap 'rm -f "$pc"' EXIT
cat >"$pc" <<EOF
prefix=$prefix
exec_prefix=\${prefix}
libdir=\${exec_prefix}/lib
includedir=\${prefix}/include

Name: sacs
Description: SACS, a memory allocator: malloc, free and the rest of the C allocation API, with statistics and options
Version: $version
Libs: -L\${libdir} -lsacs
Cflags: -I\${includedir}
EOF
install -m 644 "$pc" "$pcdir/sacs.pc"
if [[ -z $destdir && $(id -u) -eq 0 ]] && command -v ldconfig >/dev/null 2>&1; then
    ldconfig || echo "install.sh: ldconfig failed; programs may need LD_LIBRARY_PATH=$libdir" >&2
fi

echo "install.sh: installed SACS $version under $destdir$prefix:" >&2
echo "  $libdir/libsacs.so.$version (and the links libsacs.so.$major, libsacs.so)" >&2
echo "  $incdir/sacs.h" >&2
echo "  $pcdir/sacs.pc (prefix=$prefix)" >&2
