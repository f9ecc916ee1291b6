#!/usr/bin/env python3
"""How ccd's hit cost and daemon memory change as the cache grows.

Fills a private cache with N distinct results (a small C file compiled with
a different -D value each time, so every compile is its own context and its
own entry), and at each size measures the per-hit time of one fixed compile
(Lua's lzio.c, as in workload a of run.py) next to /bin/true, and the
daemon's resident memory as `ccd status --json` reports it.

    python3 bench/scale.py                 # sizes 1000,10000
    python3 bench/scale.py --sizes 1000,10000,100000
    python3 bench/scale.py --sizes 1000 --cxx 100   # and LevelDB x 100 -D values

With --cxx N it also fills fresh caches with real C++ entries: LevelDB's
38 library sources compiled under N distinct -D values (-O0, so the fill is
quick; the daemon keeps the same whatever the optimisation), once with the
default max_memory and once with max_memory=4M, and reports the daemon's
resident memory after the first and the last round.

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
    ap.add_argument("--cxx", type=int, default=0, help="also fill with LevelDB under this many -D values")
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
    cxx_rows = [cxx_fill(a, work, limit) for limit in (None, "4M")] if a.cxx else []
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
    if cxx_rows:
        lines += [
            "",
            f"Real C++ entries: LevelDB's {cxx_rows[0]['sources']} library sources, g++ -O0, each compiled "
            f"under {a.cxx} distinct `-D` values ({a.jobs} jobs); RSS after the first round and after the last; "
            "per-hit: median of `ccd g++ -c db/db_impl.cc` (249 headers) at the end, after one untimed run.",
            "",
            "| max_memory | entries | RSS after round 1 | RSS at the end | RSS per 1k entries | held for contexts "
            "| files tracked | per hit (db_impl.cc) | fill time |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for r in cxx_rows:
            grown = (r["rss_end"] - r["rss_first"]) / max(1, r["entries"] - r["entries_first"]) * 1000
            lines.append(
                f"| {r['limit']} | {r['entries']} | {r['rss_first'] / 2**20:.1f} MiB | "
                f"{r['rss_end'] / 2**20:.1f} MiB | {grown / 2**20:.2f} MiB | "
                f"{r['context_bytes'] / 2**20:.1f} MiB of {r['max_memory'] / 2**20:.0f} MiB | "
                f"{r['files']} | {r['hit_ms']:.2f} ms | {r['fill_s']:.0f} s |")
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text("\n".join(lines) + "\n")
    print(f"wrote {a.out}")
    return 0


def cxx_fill(a, work: Path, limit: str | None) -> dict:
    """Fills a fresh cache with LevelDB's sources under a.cxx -D values."""
    bench_work = Path(os.environ.get("CCD_BENCH_WORK", REPO / "bench" / ".work"))
    ldb = bench.make_projects(bench.fetch_sources(bench_work), bench_work)["leveldb"]
    flags = [f for f in ldb.flags if f != "-O2"] + ["-O0"]
    cache = work / f"cache-cxx-{limit or 'default'}"
    env = ccd_env(cache)
    if limit:
        env["CCD_MAX_MEMORY"] = limit
    out = work / "cxx"
    out.mkdir(exist_ok=True)

    def compile_one(job: tuple[int, int]) -> None:
        i, k = job
        s = ldb.sources[k]
        cmd = [str(a.ccd), "g++", *flags, f"-DCCD_FILL={i}", "-c", str(s), "-o", str(out / f"{k}.o")]
        subprocess.run(cmd, env=env, cwd=out, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    t0 = time.time()
    first = None
    for i in range(a.cxx):
        with ThreadPoolExecutor(a.jobs) as pool:
            list(pool.map(compile_one, [(i, k) for k in range(len(ldb.sources))]))
        if first is None:
            first = status(a.ccd, env)
    fill_s = time.time() - t0
    hit_src = next(k for k, s in enumerate(ldb.sources) if s.name == "db_impl.cc")
    hit_cmd = [str(a.ccd), "g++", *flags, "-DCCD_FILL=0", "-c", str(ldb.sources[hit_src]), "-o", "hit.o"]
    subprocess.run(hit_cmd, env=env, cwd=out, check=True)
    hit_ms = per_hit(hit_cmd, env, out, a.loop)
    s = status(a.ccd, env)
    subprocess.run([str(a.ccd), "stop"], env=env, capture_output=True)
    row = {
        "limit": limit or f"default ({s['max_memory_bytes'] >> 20} MiB)",
        "sources": len(ldb.sources),
        "entries_first": first["entries"],
        "rss_first": first["rss_bytes"],
        "entries": s["entries"],
        "rss_end": s["rss_bytes"],
        "context_bytes": s["context_memory_bytes"],
        "max_memory": s["max_memory_bytes"],
        "files": s["files_tracked"],
        "hit_ms": hit_ms,
        "fill_s": fill_s,
    }
    print(f"C++ fill, max_memory {row['limit']}: {row}", flush=True)
    return row


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
