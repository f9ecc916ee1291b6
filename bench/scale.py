#!/usr/bin/env python3
"""How ccd's hit cost and daemon memory change as the cache grows.

Fills a private cache with N distinct results (a small C file compiled with
a different -D value each time, so every compile is its own context and its
own entry), and at each size measures the per-hit time of one fixed compile
(Lua's lzio.c, as in workload a of run.py) next to /bin/true, and the
daemon's resident memory as `ccd status --json` reports it.

    python3 bench/scale.py                 # sizes 1000,10000
    python3 bench/scale.py --sizes 1000,10000,100000

Writes a Markdown table to bench/results/scale.md. Standard library only.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))
import run as bench  # noqa: E402  (the main benchmark: sources, ccd path)


def ccd_env(cache: Path) -> dict:
    env = dict(os.environ)
    env["CCD_DIR"] = str(cache)
    env["CCD_IDLE_TIMEOUT"] = "3600"
    env.pop("CCD_DISABLE", None)
    return env


def status(ccd: Path, env: dict) -> dict:
    out = subprocess.run([str(ccd), "status", "--json"], env=env, capture_output=True, check=True)
    return json.loads(out.stdout)


def per_hit(cmd: list[str], env: dict, cwd: Path, n: int) -> float:
    """Median wall time of `cmd` over n runs (ms), stdout/err discarded."""
    times = []
    for _ in range(n):
        t = time.perf_counter()
        subprocess.run(cmd, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        times.append(time.perf_counter() - t)
    times.sort()
    return times[len(times) // 2] * 1000


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="1000,10000", help="cache sizes (entries), ascending")
    ap.add_argument("--loop", type=int, default=200, help="hits timed at each size")
    ap.add_argument("--jobs", type=int, default=2, help="parallel compiles while filling")
    ap.add_argument("--ccd", type=Path, default=bench.default_ccd())
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "scale.md")
    a = ap.parse_args()
    sizes = [int(s) for s in a.sizes.split(",")]

    work = Path(tempfile.mkdtemp(prefix="ccd-scale-"))
    cache = work / "cache"
    env = ccd_env(cache)
    lua = bench_lzio()
    (work / "lzio").mkdir()
    for f in lua.parent.glob("*.h"):
        (work / "lzio" / f.name).write_bytes(f.read_bytes())
    (work / "lzio" / "lzio.c").write_bytes(lua.read_bytes())
    (work / "fill").mkdir()
    (work / "fill" / "t.c").write_text("int value(void) { return N; }\n")
    time.sleep(0.1)

    hit_cmd = [str(a.ccd), "gcc", "-O2", "-c", "lzio.c", "-o", "lzio.o"]
    subprocess.run(hit_cmd, env=env, cwd=work / "lzio", check=True)
    subprocess.run(hit_cmd, env=env, cwd=work / "lzio", check=True)

    def fill_one(i: int) -> None:
        cmd = [str(a.ccd), "gcc", "-O0", f"-DN={i}", "-c", "t.c", "-o", f"t{i % 64}.o"]
        subprocess.run(cmd, env=env, cwd=work / "fill", check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    rows = []
    filled = 0
    for size in sizes:
        t0 = time.time()
        with ThreadPoolExecutor(a.jobs) as pool:
            list(pool.map(fill_one, range(filled, size)))
        filled = size
        fill_s = time.time() - t0
        # The fixed file is verified again after the fill (its seal may have
        # been dropped), then timed.
        subprocess.run(hit_cmd, env=env, cwd=work / "lzio", check=True)
        true_ms = per_hit(["/bin/true"], env, work, a.loop)
        hit_ms = per_hit(hit_cmd, env, work / "lzio", a.loop)
        s = status(a.ccd, env)
        rows.append((size, s["entries"], hit_ms, true_ms, s["rss_bytes"], s["size_bytes"], fill_s))
        print(f"{size}: entries {s['entries']}, hit {hit_ms:.2f} ms, /bin/true {true_ms:.2f} ms, "
              f"daemon RSS {s['rss_bytes'] / 2**20:.1f} MiB, filled in {fill_s:.0f} s", flush=True)

    subprocess.run([str(a.ccd), "stop"], env=env, capture_output=True)
    lines = [
        "# Hit cost as the cache grows",
        "",
        f"Command: `python3 bench/scale.py --sizes {a.sizes} --loop {a.loop}`; "
        f"{os.cpu_count()} CPUs; per-hit: median of {a.loop} runs of `ccd gcc -O2 -c lzio.c`.",
        "",
        "| entries | per hit | /bin/true | hit / floor | daemon RSS | RSS per 10k entries | cache size |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    base_rss = None
    for size, entries, hit, true, rss, bytes_, _ in rows:
        base_rss = base_rss if base_rss is not None else (rss, entries)
        per10k = ""
        if entries > base_rss[1]:
            per10k = f"{(rss - base_rss[0]) / (entries - base_rss[1]) * 10000 / 2**20:.1f} MiB"
        lines.append(f"| {entries} | {hit:.2f} ms | {true:.2f} ms | {hit / true:.2f} | "
                     f"{rss / 2**20:.1f} MiB | {per10k} | {bytes_ / 2**20:.1f} MiB |")
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text("\n".join(lines) + "\n")
    print(f"wrote {a.out}")
    return 0


def bench_lzio() -> Path:
    """lzio.c from the lua-src crate, fetched like run.py does."""
    work = Path(os.environ.get("CCD_BENCH_WORK", REPO / "bench" / ".work"))
    found = sorted(work.glob("**/lua-5.4*/lzio.c"))
    if found:
        return found[-1]
    reg = Path(os.environ.get("CARGO_HOME", Path.home() / ".cargo")) / "registry" / "src"
    found = sorted(reg.glob("*/lua-src-*/lua-5.4*/lzio.c"))
    if not found:
        raise SystemExit("lzio.c not found: run `python3 bench/run.py --workloads a` once to fetch the sources")
    return found[-1]


if __name__ == "__main__":
    sys.exit(main())
