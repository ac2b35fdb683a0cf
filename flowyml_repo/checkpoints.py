"""Finding what an earlier run finished: its committed manifest, or its journal.

A run that completed (or failed) is in the history. A run that was killed has
no commit, but its journal under ``<store>/runs/<run_id>.journal`` lists every
step it finished; that is what ``rerun(run_id)`` resumes from.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flowyml.errors import AmbiguousRunId, RunNotFound
from flowyml.manifest import StepRecord


def recorded_steps(run_id: str, stack: Any, store_root: Path,
                   project: str | None = None) -> tuple[str, dict[str, StepRecord]]:
    """The full run id and the step records of an earlier run.

    Looks in the history first, then in the store's journals (for runs that
    never finished).

    Raises:
        RunNotFound: neither knows the run.
        AmbiguousRunId: the prefix matches several runs.
    """
    from flowyml.records import load_manifest, namespace, open_history

    with open_history(stack) as history:
        try:
            _ref, sha = history.find_run(run_id, ref_prefix=namespace(project))
        except RunNotFound:
            sha = None
        if sha is not None:
            manifest = load_manifest(history, sha)
            return manifest.run_id, manifest.steps
    return journaled_steps(run_id, store_root)


def journaled_steps(run_id: str, store_root: Path) -> tuple[str, dict[str, StepRecord]]:
    """The step records of a run from its journal (see :mod:`flowyml.store.journal`)."""
    from flowyml.store.journal import Journal

    runs_dir = Path(store_root) / "runs"
    matches = sorted(p.name[: -len(".journal")] for p in runs_dir.glob(f"{run_id}*.journal")) if runs_dir.is_dir() else []
    if not matches:
        raise RunNotFound(f"no run {run_id!r} in the history or in the journals under {runs_dir}")
    if len(matches) > 1:
        raise AmbiguousRunId(run_id, matches)
    full = matches[0]
    records: dict[str, StepRecord] = {}
    for entry in Journal(store_root, full).read():
        if entry.get("type") == "step":
            rec = StepRecord.from_dict(entry["record"])
            records[rec.name] = rec
    return full, records


def interrupted_runs(store_root: str | Path) -> list[str]:
    """Ids of runs that started but never reached the history (killed or crashed), newest first.

    Their journals are what ``rerun(run_id)`` resumes from.
    """
    runs_dir = Path(store_root) / "runs"
    if not runs_dir.is_dir():
        return []
    journals = sorted(runs_dir.glob("*.journal"), key=lambda p: p.stat().st_mtime, reverse=True)
    return [p.name[: -len(".journal")] for p in journals]
