"""Runs in flight: what a run's journal says before the run reaches the history.

A running pipeline has no commit yet. The runner appends to
``<store>/runs/<run_id>.journal`` a ``start`` record (run id, pipeline,
start time, context) and then one ``step`` record per finished step;
:func:`flowyml.records.record_run` deletes the journal once the run is
committed. So the journals under a store are the runs in progress — plus the
runs that were killed and never resumed, whose journals stay behind.

>>> watcher = InflightWatcher([".flowyml"])
>>> for run in watcher.poll():
...     print(run.run_id, run.pipeline, len(run.steps))

This module only reads; it never touches a run's files.
"""

from __future__ import annotations

import os
from collections.abc import Container, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from flowyml.manifest import StepRecord

__all__ = ["InflightRun", "InflightWatcher", "existing_history", "inflight_runs", "read_inflight"]

JOURNAL_SUFFIX = ".journal"


@dataclass(frozen=True)
class InflightRun:
    """A run with a journal and no commit (yet).

    Attributes:
        run_id: the run's id.
        pipeline: the pipeline's name (from the journal's start record).
        started: when the run started (seconds since the epoch).
        context: the context values the run was started with.
        steps: the steps finished so far, by name, in the order they finished.
        journal: the journal file.
        updated: the journal's modification time (the last finished step).
        alive: True/False when the journal names its process and that process
            is (or is not) running on this host; None when it cannot be told.
    """

    run_id: str
    pipeline: str
    started: float
    context: dict = field(default_factory=dict)
    steps: dict[str, StepRecord] = field(default_factory=dict)
    journal: Path = Path()
    updated: float = 0.0
    alive: bool | None = None

    @property
    def store_root(self) -> Path:
        """The object store the run writes to."""
        return self.journal.parent.parent


def read_inflight(store_root: str | os.PathLike[str], run_id: str) -> InflightRun | None:
    """The in-flight run ``run_id`` of the store at ``store_root``, or None if it has no journal."""
    path = Path(store_root) / "runs" / f"{run_id}{JOURNAL_SUFFIX}"
    try:
        st = path.stat()
    except OSError:
        return None
    return _parse(path, st.st_mtime)


def inflight_runs(store_roots: Iterable[str | os.PathLike[str]], *,
                  committed: Container[str] = ()) -> list[InflightRun]:
    """Every run with a journal under any of ``store_roots``, newest first.

    Args:
        store_roots: object store roots (``.flowyml`` by default).
        committed: run ids already in the history, left out (a journal can
            outlive its commit for a moment).
    """
    return InflightWatcher(store_roots).poll(committed=committed)


class InflightWatcher:
    """Polls the journals of some stores, re-reading only the ones that changed.

    Args:
        store_roots: object store roots to watch.
    """

    def __init__(self, store_roots: Iterable[str | os.PathLike[str]]) -> None:
        self.store_roots = list(dict.fromkeys(Path(r).absolute() for r in store_roots))
        self._seen: dict[Path, tuple[int, int, InflightRun | None]] = {}

    def add_root(self, store_root: str | os.PathLike[str]) -> None:
        """Watch one more store."""
        root = Path(store_root).absolute()
        if root not in self.store_roots:
            self.store_roots.append(root)

    def poll(self, *, committed: Container[str] = ()) -> list[InflightRun]:
        """The runs with a journal now, newest first (see :func:`inflight_runs`)."""
        found: dict[str, InflightRun] = {}
        current: dict[Path, tuple[int, int, InflightRun | None]] = {}
        for path in self._journals():
            try:
                st = path.stat()
            except OSError:
                continue  # committed and removed between listing and stat
            known = self._seen.get(path)
            if known is not None and known[:2] == (st.st_mtime_ns, st.st_size):
                run = known[2]
            else:
                run = _parse(path, st.st_mtime)
            current[path] = (st.st_mtime_ns, st.st_size, run)
            if run is not None and run.run_id not in committed:
                found.setdefault(run.run_id, run)
        self._seen = current
        return sorted(found.values(), key=lambda r: (r.started, r.run_id), reverse=True)

    def _journals(self) -> list[Path]:
        paths = []
        for root in self.store_roots:
            try:
                entries = os.scandir(root / "runs")
            except OSError:
                continue
            with entries:
                paths += [Path(e.path) for e in entries if e.name.endswith(JOURNAL_SUFFIX)]
        return paths


def existing_history(start: str | os.PathLike[str] = ".") -> str | None:
    """The history repository flowyml would use from ``start``, or None if there is none yet.

    Unlike :func:`flowyml.records.open_history`, this never creates one: a
    viewer opened in the wrong folder should say so, not leave a repository behind.
    """
    from flowyml.store.locate import discover

    return discover(os.path.abspath(start))


def _parse(path: Path, mtime: float) -> InflightRun | None:
    """Read one journal; None when it has no start record (not a run journal)."""
    from flowyml.store.journal import Journal

    run_id = path.name[: -len(JOURNAL_SUFFIX)]
    records = Journal(path.parent.parent, run_id).read()
    start = next((r for r in records if isinstance(r, dict) and r.get("type") == "start"), None)
    if start is None:
        return None
    steps: dict[str, StepRecord] = {}
    for rec in records:
        if isinstance(rec, dict) and rec.get("type") == "step":
            try:
                step = StepRecord.from_dict(rec["record"])
            except (KeyError, TypeError):
                continue
            steps[step.name] = step
    return InflightRun(run_id=str(start.get("run_id") or run_id), pipeline=str(start.get("pipeline", "")),
                       started=float(start.get("started") or mtime), context=dict(start.get("context") or {}),
                       steps=steps, journal=path, updated=mtime, alive=_alive(start))


def _alive(start: dict) -> bool | None:
    """Whether the process named by a start record still runs (when it names one on this host)."""
    pid, host = start.get("pid"), start.get("host")
    if not isinstance(pid, int) or host != os.uname().nodename:
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True
