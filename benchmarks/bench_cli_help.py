"""Benchmark the start-up of the ``flowyml`` command line.

Target (issue 4, acceptance 4): ``flowyml --help`` takes <= 200 ms wall on this
machine, interpreter start included, and imports none of pandas, pyarrow, textual
or dask.

Measured in fresh processes, after one warm-up run (so the figures are for a warm
page cache, as a user typing commands sees them):

* ``flowyml --help`` through the installed console script;
* ``python -m flowyml --help``;
* ``python -c pass``, the floor no command line can beat;
* which heavy modules ``--help`` leaves imported (none of the four may be).

Run: ``/work/venv/bin/python benchmarks/bench_cli_help.py [--repeat 20] [--json]``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

TARGET_MS = 200.0
FORBIDDEN = ("pandas", "pyarrow", "textual", "dask")
WATCHED = FORBIDDEN + ("numpy", "polars", "dulwich", "rich", "yaml", "fsspec", "msgpack", "blake3")

PROBE = f"""
import sys
from flowyml.cli.main import main
try:
    main(["--help"], prog_name="flowyml")
except SystemExit:
    pass
watched = {WATCHED!r}
print(sorted({{m.split(".")[0] for m in sys.modules}} & set(watched)), file=sys.stderr)
"""


def wall_ms(cmd: list[str], repeat: int) -> list[float]:
    """Wall times of ``repeat`` runs of ``cmd`` (after one warm-up), in ms."""
    subprocess.run(cmd, capture_output=True, check=True)
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        subprocess.run(cmd, capture_output=True, check=True)
        times.append((time.perf_counter() - t0) * 1000)
    return times


def imported_by_help() -> list[str]:
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True)
    return json.loads(done.stderr.strip().replace("'", '"'))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=20, help="runs per command (default 20)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()

    script = shutil.which("flowyml") or str(Path(sys.executable).with_name("flowyml"))
    rows = {
        "flowyml --help": wall_ms([script, "--help"], args.repeat),
        "python -m flowyml --help": wall_ms([sys.executable, "-m", "flowyml", "--help"], args.repeat),
        "python -c pass": wall_ms([sys.executable, "-c", "pass"], args.repeat),
    }
    modules = imported_by_help()
    forbidden = [m for m in modules if m in FORBIDDEN]
    median = statistics.median(rows["flowyml --help"])
    ok = median <= TARGET_MS and not forbidden
    if args.json:
        print(json.dumps({"target_ms": TARGET_MS, "ok": ok, "modules_imported_by_help": modules,
                          "runs": {k: {"median_ms": statistics.median(v), "min_ms": min(v), "max_ms": max(v)}
                                   for k, v in rows.items()}}, indent=2))
    else:
        print(f"{'command':28} {'median':>9} {'min':>9} {'max':>9}   (ms, {args.repeat} runs each)")
        for name, times in rows.items():
            print(f"{name:28} {statistics.median(times):9.1f} {min(times):9.1f} {max(times):9.1f}")
        print(f"\ntarget: flowyml --help median <= {TARGET_MS:.0f} ms: "
              f"{'met' if median <= TARGET_MS else 'MISSED'} ({median:.1f} ms)")
        print(f"watched modules imported by --help: {', '.join(modules) or 'none'}"
              f" ({'none of ' + '/'.join(FORBIDDEN) if not forbidden else 'FORBIDDEN: ' + ', '.join(forbidden)})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
