#!/usr/bin/env python3
"""What a 2 MiB region's first write costs on this machine (session 21, docs/field.md).

Maps N 2 MiB-aligned anonymous huge pages (madvise(MADV_HUGEPAGE), as SACS's large pages are),
writes one byte of each, and times each write: the page fault that allocates and zeroes the
page. With DROP=1 (needs root) the page cache is dropped first, as field/bench/run-big.sh does
before every run; on a VM with free page reporting (virtio_balloon) the memory so freed has
gone back to the host, and the first write also waits for the host's fault.

usage: [DROP=1] [WAIT=S] [N=512] field/bench/first-touch.py   (one key=value line on stdout;
WAIT: seconds to wait after the drop, as run-big.sh's REST_SECONDS, default 2)
"""
import ctypes
import mmap
import os
import subprocess
import time

N = int(os.environ.get("N", "512"))
if os.environ.get("DROP") == "1":
    subprocess.run(["sync"], check=True)
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("1\n")
    time.sleep(float(os.environ.get("WAIT", "2")))
m = mmap.mmap(-1, (N + 1) << 21, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
m.madvise(mmap.MADV_HUGEPAGE)
addr = ctypes.addressof(ctypes.c_char.from_buffer(m))
off = ((addr + (1 << 21) - 1) & ~((1 << 21) - 1)) - addr
ms = []
for i in range(N):
    t = time.perf_counter()
    m[off + (i << 21)] = 1
    ms.append((time.perf_counter() - t) * 1e3)
s = sorted(ms)
huge = open("/proc/self/smaps_rollup").read().split("AnonHugePages:")[1].split()[0]
print(
    f"regions={N} dropped_caches={os.environ.get('DROP') == '1'} "
    f"wait_s={os.environ.get('WAIT', '2') if os.environ.get('DROP') == '1' else 0} min_ms={s[0]:.3f} "
    f"p50_ms={s[N // 2]:.3f} p90_ms={s[int(N * 0.9)]:.3f} p99_ms={s[int(N * 0.99)]:.3f} "
    f"max_ms={s[-1]:.3f} total_ms={sum(s):.1f} anon_huge_kib={huge} "
    f"load={' '.join(open('/proc/loadavg').read().split()[:3])}"
)
