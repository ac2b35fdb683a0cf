"""Benchmark the core engine against flowyml 2.2.1, side by side in one run.

What it measures (issue 2, acceptance item 3), for this project ("ours") and, when
``--peer-python`` points at a venv holding flowyml 2.2.1, for that peer:

a. ``python -c "import flowyml"`` as a whole process (median of N), and which heavy
   modules that import leaves in ``sys.modules``;
b. a chain of 100 and of 500 trivial steps (each returns its input + 1): the first run
   in a fresh directory and the all-cached rerun (a second ``python script.py`` in the
   same directory), each timed inside the process (``run()`` only, ms per step, so the
   modules ``run()`` imports on first use count) and as a whole process; for
   information, the same pipeline run a second time inside the first process (a
   notebook's rerun, without one-time costs); whether the per-step cost stays flat from
   100 to 500 steps;
c. a 5,000,000 x 4 float64 DataFrame built by one step and summed by the next, against
   the same work in plain Python: pickle dump+load through a file, and pandas/pyarrow
   Parquet write+read, all in the same run.

Targets (ours): import <= 80 ms and none of pandas, pyarrow, numpy, textual, dask
imported; first run <= 0.5 ms/step (persistence and run record included); all-cached
rerun <= 0.1 ms/step and <= 0.25 s as a whole process; per-step cost at 500 steps
within 1.5x of that at 100 (linear); DataFrame case <= 1.6x plain pickle dump+load.

Every workload is a small script written into a fresh directory under ``--workdir``
and run as its own process with ``HOME`` pointing at a folder of that directory and
``GIT_*`` removed, so neither engine sees the user's config or repositories. Bytecode
is cached under the work directory (``PYTHONPYCACHEPREFIX``) and every workload runs
once, small, before anything is timed. The DataFrame variants take turns rep by rep,
since allocating the frame alone varies several-fold between runs on a VM. The peer's
``run()`` starts a web UI server on localhost:8080 unless ``auto_start_ui=False``;
the peer scripts pass that (``--peer-ui`` keeps the peer's default), and any UI
server the peer started anyway is stopped by pid at the end.

Run::

    /work/venv/bin/python benchmarks/bench_engine.py \
        --peer-python /work/venv-peer/bin/python [--json] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TARGETS = {
    "import_ms": 80.0,
    "first_ms_per_step": 0.5,
    "cached_ms_per_step": 0.1,
    "cached_process_s": 0.25,
    "linear_ratio": 1.5,
    "frame_vs_pickle": 1.6,
}
# Must be absent after ``import flowyml`` (issue 2); the others are shown for information.
FORBIDDEN = ("pandas", "pyarrow", "numpy", "textual", "dask")
HEAVY = FORBIDDEN + ("distributed", "polars", "dulwich", "rich", "click", "sklearn", "msgpack", "blake3")
PROCESS_TIMEOUT = 900

# --- workload scripts (written into each fresh directory) -------------------------------

# Shared tail: the scripts report through a JSON file named by their last argument.
from engine_workloads import CHAIN_OURS, CHAIN_PEER, FRAME_OURS, FRAME_PEER, FRAME_PLAIN  # noqa: E402

MODULES = "import sys, json; import flowyml; print(json.dumps(sorted(sys.modules)))"


# --- running things ---------------------------------------------------------------------

@dataclass
class Bench:
    """Where and with what the workloads run."""

    root: Path
    ours: str
    peer: str | None
    peer_ui: bool
    env: dict[str, str]
    keep: bool = False
    counter: int = 0

    def fresh_dir(self, label: str) -> Path:
        """A new empty directory for one workload run."""
        self.counter += 1
        path = self.root / f"{self.counter:03d}-{label}"
        path.mkdir()
        return path

    def discard(self, path: Path) -> None:
        if not self.keep:
            shutil.rmtree(path, ignore_errors=True)

    def run_script(self, python: str, folder: Path, source: str, args: list[str]) -> tuple[float, dict]:
        """Run ``python script.py *args`` in ``folder``; (wall seconds, the script's report)."""
        script = folder / "script.py"
        if not script.exists():
            script.write_text(textwrap.dedent(source))
        out = folder / f"report-{self.counter}-{time.monotonic_ns()}.json"
        # A HOME per directory, so a "fresh directory" also means no state left in ~/.flowyml
        # by an earlier workload (the peer reads and writes there); the rerun shares it.
        home = folder / "home"
        home.mkdir(exist_ok=True)
        wall = self.timed([python, "script.py", *args, str(out)], folder, dict(self.env, HOME=str(home)))
        return wall, json.loads(out.read_text())

    def timed(self, argv: list[str], cwd: Path, env: dict[str, str] | None = None) -> float:
        """Wall time of one process; its output is discarded (the peer prints a lot)."""
        t0 = time.perf_counter()
        proc = subprocess.run(argv, cwd=cwd, env=env or self.env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              timeout=PROCESS_TIMEOUT)
        wall = time.perf_counter() - t0
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} in {cwd} failed ({proc.returncode}):\n"
                               f"{proc.stderr.decode(errors='replace')[-3000:]}")
        return wall


def scrubbed_env(home: Path, pycache: Path | None) -> dict[str, str]:
    """The environment for every workload: scratch HOME, no GIT_*, no PYTHONPATH.

    With ``pycache``, bytecode is cached there (``PYTHONPYCACHEPREFIX``) even when
    the caller's environment sets ``PYTHONDONTWRITEBYTECODE``: a user's second run
    reads ``.pyc`` files, and an editable install compiled from source on every start
    would add ~15-35 ms to every process of ours (the peer's pip install has them).
    """
    drop = ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONPYCACHEPREFIX")
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_") and k not in drop}
    env["HOME"] = str(home)
    env["PYTHONHASHSEED"] = "0"
    if pycache is not None:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(pycache)
    return env


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


# --- (a) import -------------------------------------------------------------------------

def bench_import(bench: Bench, python: str, reps: int) -> dict[str, Any]:
    """Median whole-process time of ``python -c "import flowyml"``, and the modules it loads."""
    folder = bench.fresh_dir("import")
    baseline = [bench.timed([python, "-c", "pass"], folder) for _ in range(max(3, reps // 2))]
    for _ in range(2):  # warm the page cache and __pycache__
        bench.timed([python, "-c", "import flowyml"], folder)
    times = [bench.timed([python, "-c", "import flowyml"], folder) for _ in range(reps)]
    proc = subprocess.run([python, "-c", MODULES], cwd=folder, env=bench.env, capture_output=True, text=True,
                          timeout=PROCESS_TIMEOUT)
    modules = set(json.loads(proc.stdout.strip().splitlines()[-1]))
    bench.discard(folder)
    heavy = sorted(m for m in HEAVY if m in modules)
    return {
        "import_ms": median(times) * 1000,
        "import_min_ms": min(times) * 1000,
        "python_start_ms": median(baseline) * 1000,
        "modules": len(modules),
        "heavy_modules": heavy,
        "forbidden_imported": [m for m in FORBIDDEN if m in modules],
    }


# --- (b) chains -------------------------------------------------------------------------

def bench_chain(bench: Bench, python: str, source: str, extra: list[str], n: int, reps: int) -> dict[str, Any]:
    """First run in a fresh directory, then the all-cached rerun in a new process there."""
    first_wall, first_run, again_run, cached_wall, cached_run, problems = [], [], [], [], [], []
    for _ in range(reps):
        folder = bench.fresh_dir(f"chain{n}")
        wall, rep = bench.run_script(python, folder, source, [str(n), *extra])
        first_wall.append(wall)
        first_run.append(rep["run_s"])
        problems += check_chain(rep, n, expect_cached=0, label="first run")
        again_run.append(rep["again_s"])
        if rep.get("again_cached") != n:
            problems.append(f"second run in the same process: {rep.get('again_cached')} of {n} steps cached")
        wall, rep = bench.run_script(python, folder, source, [str(n), *extra])
        cached_wall.append(wall)
        cached_run.append(rep["run_s"])
        problems += check_chain(rep, n, expect_cached=n, label="rerun")
        bench.discard(folder)
    return {
        "steps": n,
        "first_ms_per_step": median(first_run) * 1000 / n,
        "first_process_s": median(first_wall),
        "cached_ms_per_step": median(cached_run) * 1000 / n,
        "cached_process_s": median(cached_wall),
        "again_ms_per_step": median(again_run) * 1000 / n,
        "first_run_s": first_run,
        "cached_run_s": cached_run,
        "again_run_s": again_run,
        "problems": sorted(set(problems)),
    }


def check_chain(rep: dict, n: int, expect_cached: int, label: str) -> list[str]:
    """What is wrong with a chain run's report (it must compute n-1, cache as expected)."""
    problems = []
    if not rep.get("success") or rep.get("last") != n - 1:
        problems.append(f"{label}: success={rep.get('success')} last={rep.get('last')!r}, expected {n - 1}")
    if rep.get("cached") != expect_cached:
        problems.append(f"{label}: {rep.get('cached')} of {n} steps cached, expected {expect_cached}")
    return problems


def chain_linearity(chains: dict[int, dict]) -> dict[str, float]:
    """Per-step cost at the largest chain over that at the smallest."""
    if len(chains) < 2:
        return {}
    small, large = chains[min(chains)], chains[max(chains)]
    return {kind: large[f"{kind}_ms_per_step"] / small[f"{kind}_ms_per_step"] for kind in ("first", "cached")}


# --- (c) DataFrame ----------------------------------------------------------------------

def bench_frames(bench: Bench, engines: list[tuple[str, str, str, list[str]]], rows: int,
                 reps: int) -> dict[str, Any]:
    """The DataFrame case for each engine and in plain Python, interleaved rep by rep.

    Allocating the 160 MB frame alone varies 0.15-0.8 s from run to run on a VM (page
    faults on fresh memory), so the variants take turns and each figure is a median.
    """
    runs: dict[str, list[dict]] = {label: [] for label, *_ in engines}
    walls: dict[str, list[float]] = {label: [] for label, *_ in engines}
    plain: list[dict] = []
    for _ in range(reps):
        for label, python, source, extra in engines:
            folder = bench.fresh_dir(f"frame-{label}")
            wall, rep = bench.run_script(python, folder, source, [str(rows), *extra])
            runs[label].append(rep)
            walls[label].append(wall)
            bench.discard(folder)
        folder = bench.fresh_dir("frame-plain")
        plain.append(bench.run_script(bench.ours, folder, FRAME_PLAIN, [str(rows)])[1])
        bench.discard(folder)
    keys = ("pickle_s", "pickle_fsync_s", "parquet_s", "pyarrow_import_s")
    result: dict[str, Any] = {"plain": {k: median([r[k] for r in plain]) for k in keys}}
    result["plain"].update(total=plain[-1]["total"], pickle_bytes=plain[-1]["bytes"],
                           pickle_runs_s=[r["pickle_s"] for r in plain])
    for label, reports in runs.items():
        last = reports[-1]
        run_s = median([r["run_s"] for r in reports])
        result[label] = {
            "run_s": run_s, "process_s": median(walls[label]), "runs_s": [r["run_s"] for r in reports],
            "vs_pickle": run_s / result["plain"]["pickle_s"],
            "paired_ratios": [r["run_s"] / p["pickle_s"] for r, p in zip(reports, plain)],
            "total": last.get("total"), "success": last.get("success"), "codec": last.get("codec"),
            "total_matches": last.get("total") is not None
            and abs(last["total"] - result["plain"]["total"]) <= 1e-9 * abs(result["plain"]["total"]),
            "stored_bytes": last.get("stored_bytes"),
        }
    return result


def warm_up(bench: Bench, python: str, chain_src: str, frame_src: str, extra: list[str]) -> None:
    """Run each workload once, small, so no measured run pays for compiling bytecode."""
    folder = bench.fresh_dir("warm-up")
    for _ in range(2):
        bench.run_script(python, folder, chain_src, ["3", *extra])
    bench.discard(folder)
    folder = bench.fresh_dir("warm-up")
    bench.run_script(python, folder, frame_src, ["1000", *extra])
    bench.discard(folder)
    if python == bench.ours:
        folder = bench.fresh_dir("warm-up")
        bench.run_script(python, folder, FRAME_PLAIN, ["1000"])
        bench.discard(folder)


# --- the peer's UI server ---------------------------------------------------------------

def peer_ui_pids(peer_python: str) -> set[int]:
    """Pids of running flowyml UI servers started with the peer's interpreter."""
    pids = set()
    for entry in Path("/proc").iterdir() if Path("/proc").is_dir() else ():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].decode(errors="replace") == peer_python and b"flowyml.ui.backend.main:app" in argv:
            pids.add(int(entry.name))
    return pids


def stop_processes(pids: set[int]) -> list[int]:
    """SIGTERM each pid, then SIGKILL what is still alive after 5 s; the pids stopped."""
    stopped = []
    for pid in sorted(pids):
        try:
            os.kill(pid, signal.SIGTERM)
            stopped.append(pid)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + 5
    for pid in stopped:
        while time.monotonic() < deadline and Path(f"/proc/{pid}").exists():
            time.sleep(0.05)
        if Path(f"/proc/{pid}").exists():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    return stopped


# --- the whole run ----------------------------------------------------------------------

def measure(bench: Bench, args: argparse.Namespace) -> dict[str, Any]:
    """Run every benchmark for ours and (if given) the peer."""
    sizes = [int(s) for s in args.sizes.split(",")]
    ui = ["ui" if bench.peer_ui else "noui"]
    results: dict[str, Any] = {"ours": {}, "peer": {} if bench.peer else None}
    engines = [("ours", bench.ours, CHAIN_OURS, FRAME_OURS, [], args.reps, args.import_reps)]
    if bench.peer:
        engines.append(("peer", bench.peer, CHAIN_PEER, FRAME_PEER, ui, args.peer_reps, args.peer_import_reps))
    for label, python, chain_src, frame_src, extra, reps, import_reps in engines:
        out = results[label]
        progress(f"{label}: warm-up (bytecode and page caches)")
        warm_up(bench, python, chain_src, frame_src, extra)
        progress(f"{label}: import x{import_reps}")
        out["import"] = bench_import(bench, python, import_reps)
        out["chains"] = {}
        for n in sizes:
            progress(f"{label}: chain of {n} x{reps}")
            out["chains"][n] = bench_chain(bench, python, chain_src, extra, n, reps)
        out["linearity"] = chain_linearity(out["chains"])
    if args.rows:
        progress(f"DataFrame {args.rows:,} x 4, ours/peer/plain interleaved x{args.frame_reps}")
        frames = [("ours", bench.ours, FRAME_OURS, [])]
        if bench.peer:
            frames.append(("peer", bench.peer, FRAME_PEER, ui))
        found = bench_frames(bench, frames, args.rows, args.frame_reps)
        results["plain"] = found.pop("plain")
        for label, frame in found.items():
            results[label]["frame"] = frame
    return results


def verdicts(results: dict[str, Any]) -> dict[str, bool]:
    """Each target, met or not (ours)."""
    ours, t = results["ours"], TARGETS
    v = {"import_ms": ours["import"]["import_ms"] <= t["import_ms"],
         "import_heavy_modules": not ours["import"]["forbidden_imported"]}
    for n, c in ours["chains"].items():
        v[f"chain{n}_first_ms_per_step"] = c["first_ms_per_step"] <= t["first_ms_per_step"]
        v[f"chain{n}_cached_ms_per_step"] = c["cached_ms_per_step"] <= t["cached_ms_per_step"]
        v[f"chain{n}_cached_process_s"] = c["cached_process_s"] <= t["cached_process_s"]
        v[f"chain{n}_correct"] = not c["problems"]
    for kind, ratio in ours.get("linearity", {}).items():
        v[f"linear_{kind}"] = ratio <= t["linear_ratio"]
    if "frame" in ours:
        v["frame_vs_pickle"] = ours["frame"]["vs_pickle"] <= t["frame_vs_pickle"]
        v["frame_correct"] = bool(ours["frame"]["success"] and ours["frame"]["total_matches"])
    return v


# --- the table --------------------------------------------------------------------------

def table(results: dict[str, Any], met: dict[str, bool]) -> str:
    """Ours vs peer vs target, one metric per row."""
    ours, peer, t = results["ours"], results.get("peer") or {}, TARGETS
    rows: list[tuple[str, str, str, str, str]] = []

    def add(name: str, o: Any, p: Any, target: str = "", key: str | None = None) -> None:
        ok = "" if key is None else ("yes" if met.get(key) else "NO")
        rows.append((name, fmt(o), fmt(p), target, ok))

    pi = peer.get("import", {})
    add("python -c pass (ms)", ours["import"]["python_start_ms"], pi.get("python_start_ms"))
    add("import flowyml, whole process (ms)", ours["import"]["import_ms"], pi.get("import_ms"),
        f"<= {t['import_ms']:g}", "import_ms")
    add("heavy modules after import", ", ".join(ours["import"]["heavy_modules"]) or "none",
        ", ".join(pi.get("heavy_modules", [])) or ("none" if pi else None),
        "no " + "/".join(FORBIDDEN), "import_heavy_modules")
    for n, c in ours["chains"].items():
        pc = peer.get("chains", {}).get(n, {})
        add(f"chain {n}: first run, in process (ms/step)", c["first_ms_per_step"], pc.get("first_ms_per_step"),
            f"<= {t['first_ms_per_step']:g}", f"chain{n}_first_ms_per_step")
        add(f"chain {n}: first run, whole process (s)", c["first_process_s"], pc.get("first_process_s"))
        add(f"chain {n}: cached rerun, in process (ms/step)", c["cached_ms_per_step"],
            pc.get("cached_ms_per_step"), f"<= {t['cached_ms_per_step']:g}", f"chain{n}_cached_ms_per_step")
        add(f"chain {n}: cached rerun, same process as the first run (ms/step)", c["again_ms_per_step"],
            pc.get("again_ms_per_step"))
        add(f"chain {n}: cached rerun, whole process (s)", c["cached_process_s"], pc.get("cached_process_s"),
            f"<= {t['cached_process_s']:g}", f"chain{n}_cached_process_s")
    for kind, ratio in ours.get("linearity", {}).items():
        add(f"per-step cost {max(ours['chains'])}/{min(ours['chains'])}, {kind}", ratio,
            peer.get("linearity", {}).get(kind), f"<= {t['linear_ratio']:g}", f"linear_{kind}")
    if "frame" in ours:
        plain, pf = results["plain"], peer.get("frame", {})
        add("DataFrame: codec of the stored frame", ours["frame"]["codec"], None)
        add("DataFrame: pipeline run() (s)", ours["frame"]["run_s"], pf.get("run_s"))
        add("DataFrame: pipeline, whole process (s)", ours["frame"]["process_s"], pf.get("process_s"))
        add("DataFrame: plain pickle dump+load (s)", plain["pickle_s"], None)
        add("DataFrame: plain pickle dump+fsync+load (s)", plain["pickle_fsync_s"], None)
        add("DataFrame: plain Parquet write+read (s)", plain["parquet_s"], None)
        add("DataFrame: import pyarrow.parquet after pandas (s)", plain["pyarrow_import_s"], None)
        add("DataFrame: pipeline / plain pickle", ours["frame"]["vs_pickle"], pf.get("vs_pickle"),
            f"<= {t['frame_vs_pickle']:g}", "frame_vs_pickle")
    header = ("metric", "ours", "peer 2.2.1" if peer else "peer", "target", "met")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(5)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths)), "  ".join("-" * w for w in widths)]
    lines += ["  ".join(c.ljust(w) if i in (0, 3, 4) else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))
              for r in rows]
    return "\n".join(lines)


def fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4f}" if value < 1 else f"{value:.3f}" if value < 100 else f"{value:.0f}"
    return str(value)


def progress(message: str) -> None:
    print(f"[bench_engine] {message}", file=sys.stderr, flush=True)


def inside_git_worktree(path: Path) -> bool:
    """True if ``path`` is inside a git work tree (ours would then record runs in it)."""
    return any((p / ".git").exists() for p in [path, *path.parents])


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--python", default=sys.executable, help="interpreter with this project installed")
    p.add_argument("--peer-python", help="interpreter of a venv holding flowyml 2.2.1 (and pandas)")
    p.add_argument("--peer-ui", action="store_true", help="let the peer's run() start its UI server (default: off)")
    p.add_argument("--sizes", default="100,500", help="chain lengths, comma-separated")
    p.add_argument("--rows", type=int, default=5_000_000, help="DataFrame rows (0 skips the DataFrame case)")
    p.add_argument("--reps", type=int, default=5, help="repetitions of each chain case, ours")
    p.add_argument("--peer-reps", type=int, default=3, help="repetitions of each chain case, peer")
    p.add_argument("--frame-reps", type=int, default=7, help="repetitions of the DataFrame cases (a VM adds 0.5-1 s to some)")
    p.add_argument("--import-reps", type=int, default=21, help="repetitions of the import, ours")
    p.add_argument("--peer-import-reps", type=int, default=7, help="repetitions of the import, peer")
    p.add_argument("--quick", action="store_true", help="one repetition of everything, 500,000 rows")
    p.add_argument("--workdir", help="where fresh directories are made (default: a temp dir, removed)")
    p.add_argument("--keep", action="store_true", help="keep the workload directories")
    p.add_argument("--cold-bytecode", action="store_true",
                   help="keep the caller's PYTHONDONTWRITEBYTECODE (no bytecode cache for ours)")
    p.add_argument("--json", action="store_true", help="print the results as JSON instead of the table")
    p.add_argument("--save", metavar="PATH", help="also write the JSON results to PATH")
    args = p.parse_args(argv)
    if args.quick:
        args.reps = args.peer_reps = args.frame_reps = 1
        args.import_reps, args.peer_import_reps = 5, 3
        args.rows = min(args.rows, 500_000)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    base = Path(args.workdir or tempfile.mkdtemp(prefix="flowyml-bench-")).absolute()
    base.mkdir(parents=True, exist_ok=True)
    if inside_git_worktree(base):
        print(f"bench_engine: {base} is inside a git work tree; runs would be recorded there. "
              "Pass --workdir outside any repository.", file=sys.stderr)
        return 2
    (base / "home").mkdir(exist_ok=True)
    peer = os.path.abspath(args.peer_python) if args.peer_python else None
    bench = Bench(root=base, ours=args.python, peer=peer, peer_ui=args.peer_ui,
                  env=scrubbed_env(base / "home", None if args.cold_bytecode else base / "pycache"), keep=args.keep)
    before = peer_ui_pids(peer) if peer else set()
    load_before = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    try:
        results = measure(bench, args)
    finally:
        stopped = stop_processes(peer_ui_pids(peer) - before) if peer else []
        if not args.workdir and not args.keep:
            shutil.rmtree(base, ignore_errors=True)
    met = verdicts(results)
    doc = {"targets": TARGETS, "met": met, "results": results, "peer_ui_servers_stopped": stopped,
           "config": {"python": args.python, "peer_python": peer, "sizes": args.sizes, "rows": args.rows,
                      "reps": args.reps, "peer_reps": args.peer_reps, "frame_reps": args.frame_reps,
                      "import_reps": args.import_reps, "cpus": os.cpu_count(), "workdir": str(base),
                      "bytecode_cache": not args.cold_bytecode, "load_average_at_start": load_before,
                      "load_average_at_end": os.getloadavg()[0] if hasattr(os, "getloadavg") else None}}
    text = json.dumps(doc, indent=2, default=str)
    if args.save:
        Path(args.save).write_text(text + "\n")
    if args.json:
        print(text)
    else:
        print(table(results, met))
        for label in ("ours", "peer"):
            for c in (results.get(label) or {}).get("chains", {}).values():
                for problem in c["problems"]:
                    print(f"{label}, chain {c['steps']}: {problem}")
        if stopped:
            print(f"stopped the peer's UI server(s): pids {stopped}")
        loads = [x for x in (load_before, doc["config"]["load_average_at_end"]) if x is not None]
        if loads and max(loads) > 0.5 * (os.cpu_count() or 1):
            print(f"warning: load average {max(loads):.1f} on {os.cpu_count()} CPUs while measuring; "
                  "other processes were running and the figures are noisy")
    return 0


if __name__ == "__main__":
    sys.exit(main())
