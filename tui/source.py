"""Everything the app reads, as plain values, through the public flowyml API.

:class:`HistorySource` is the only object that touches the history; the
screens call it from thread workers and get back frozen values
(:class:`RunRow`, :class:`RunView`) they can render without further disk
reads. One lock serialises the calls because a dulwich repository is not
meant to be shared between threads.
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flowyml.errors import HistoryError

if TYPE_CHECKING:
    from flowyml.diff import PipelineDiff
    from flowyml.inflight import InflightRun
    from flowyml.manifest import OutputRecord, RunManifest, StepRecord
    from flowyml.runs import Run, RunHistory
    from flowyml_tui.lineage_tree import LineageNode
    from flowyml_tui.preview import Preview

# A journal untouched this long, whose process cannot be checked, is shown as
# "stalled?": most likely killed. A step that really runs longer reappears as
# running when it finishes and appends to the journal.
STALL_SECONDS = 30 * 60

# "training: success (2 ran, 4 cached, 1 failed) in 0.01s" — the commit subject
# (flowyml.manifest.RunManifest.summary_line), parsed so the run list needs no
# manifest reads: 10,000 manifests would take seconds, the index a few ms.
_SUMMARY = re.compile(r": (?P<status>[\w-]+) \((?P<counts>[^()]*)\) in (?P<duration>[0-9.]+)s$")
_COUNT = re.compile(r"(\d+) (ran|cached|failed|skipped|not run)")


@dataclass(frozen=True)
class RunRow:
    """One line of the run list.

    Attributes:
        run_id: the run's id.
        pipeline: the pipeline's name.
        status: "success", "failed", "running" or "stalled".
        started: start time (commit time minus duration for recorded runs).
        duration: seconds, None while running.
        total: number of steps (known so far, for a run in flight).
        cached: steps reused from the cache or an earlier run.
        failed: steps that failed.
        project: the project, if the pipeline has one.
        parent_run: the run this one reran.
        live: the run is in flight (no commit yet).
    """

    run_id: str
    pipeline: str
    status: str
    started: float
    duration: float | None
    total: int
    cached: int
    failed: int = 0
    project: str | None = None
    parent_run: str | None = None
    live: bool = False

    @property
    def search_text(self) -> str:
        """What type-to-search matches against (lower case)."""
        return f"{self.pipeline} {self.run_id} {self.status} {self.project or ''}".lower()


@dataclass(frozen=True)
class RunView:
    """Everything the run screen shows about one run.

    Attributes:
        order: step names, upstream before downstream.
        steps: step name -> its record (synthesised "pending"/"running" records
            for steps of a run in flight that have not finished).
        live: the run is in flight.
        planned: for a run in flight, the steps were guessed from the pipeline's
            previous run (the journal only lists finished steps).
    """

    run_id: str
    pipeline: str
    status: str
    started: float
    duration: float | None
    order: tuple[str, ...]
    steps: dict[str, StepRecord]
    context: dict = field(default_factory=dict)
    project: str | None = None
    parent_run: str | None = None
    from_step: str | None = None
    version: str | None = None
    live: bool = False
    planned: bool = False
    store_root: str | None = None
    git: dict = field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        """How many steps are in each status."""
        out: dict[str, int] = {}
        for rec in self.steps.values():
            out[rec.status] = out.get(rec.status, 0) + 1
        return out


@dataclass(frozen=True)
class DiffView:
    """Two sides compared: the library's diff plus the step list to show it against.

    Attributes:
        diff: the :class:`flowyml.diff.PipelineDiff`.
        steps: every step name on either side, new side's order first.
        kind: "runs" or "versions".
        old_status, new_status: step -> status on each side (runs only).
    """

    diff: PipelineDiff
    steps: tuple[str, ...]
    kind: str
    pipeline: str = ""
    old_status: dict = field(default_factory=dict)
    new_status: dict = field(default_factory=dict)


class MissingHistory(HistoryError):
    """No history repository exists at or above the folder the app was opened in."""


def parse_summary(summary: str) -> tuple[float | None, int, int, int]:
    """``(duration, total steps, cached, failed)`` from a run's commit subject."""
    match = _SUMMARY.search(summary)
    if match is None:
        return None, 0, 0, 0
    counts = {name: int(n) for n, name in _COUNT.findall(match.group("counts"))}
    return float(match.group("duration")), sum(counts.values()), counts.get("cached", 0), counts.get("failed", 0)


def row_of(run: Run) -> RunRow:
    """The list row of a recorded run (from its index entry; no manifest read)."""
    seconds, total, cached, failed = parse_summary(run.summary)
    started = run.time - (seconds or 0.0)
    return RunRow(run.run_id, run.pipeline, run.status, started, seconds, total, cached, failed,
                  run.project, run.parent_run)


def inflight_status(run: InflightRun, now: float | None = None) -> str:
    """"running", or "stalled" for a journal whose process is gone or silent for long."""
    if run.alive is False:
        return "stalled"
    if run.alive is None and (now or time.time()) - run.updated > STALL_SECONDS:
        return "stalled"
    return "running"


def live_row(run: InflightRun) -> RunRow:
    """The list row of a run in flight."""
    statuses = [rec.status for rec in run.steps.values()]
    return RunRow(run.run_id, run.pipeline, inflight_status(run), run.started, None, len(statuses),
                  statuses.count("cached"), statuses.count("failed"), live=True)


def step_order(steps: dict[str, StepRecord]) -> tuple[str, ...]:
    """Upstream before downstream; among ready steps, the one that started first.

    Manifests are committed as canonical JSON, which sorts steps by name, so
    the execution order is rebuilt from each step's ``upstream``.
    """
    import graphlib
    import heapq

    sorter = graphlib.TopologicalSorter({n: [u for u in rec.upstream if u in steps] for n, rec in steps.items()})
    try:
        sorter.prepare()
    except graphlib.CycleError:
        return tuple(steps)
    heap: list[tuple[float, str]] = []
    order: list[str] = []
    while sorter.is_active():
        for name in sorter.get_ready():
            rec = steps[name]
            heapq.heappush(heap, (rec.started or float("inf"), name))
        _, name = heapq.heappop(heap)
        order.append(name)
        sorter.done(name)
    return tuple(order)


def view_of_manifest(manifest: RunManifest, store_root: str | None = None) -> RunView:
    """The run screen's view of a recorded run."""
    return RunView(manifest.run_id, manifest.pipeline, manifest.status, manifest.started, manifest.duration,
                   step_order(manifest.steps), dict(manifest.steps), dict(manifest.context), manifest.project,
                   manifest.parent_run, manifest.from_step, manifest.version, store_root=store_root,
                   git=dict(manifest.git or {}))


def view_of_inflight(run: InflightRun, plan: RunManifest | None) -> RunView:
    """The run screen's view of a run in flight.

    The journal lists only finished steps; the other steps are taken from
    ``plan`` (the pipeline's previous run) and shown as pending, or running
    when everything they depend on has finished.
    """
    from flowyml.manifest import FAILED, StepRecord

    steps: dict[str, StepRecord] = {}
    if plan is not None:
        failed = any(r.status == FAILED for r in run.steps.values())
        for name, rec in plan.steps.items():
            if name in run.steps:
                continue
            ready = not failed and all(u in run.steps for u in rec.upstream)
            steps[name] = StepRecord(name=name, status="running" if ready else "pending",
                                     inputs=dict(rec.inputs), upstream=list(rec.upstream))
    steps.update(run.steps)
    return RunView(run.run_id, run.pipeline, inflight_status(run), run.started, None, step_order(steps), steps,
                   dict(run.context), live=True, planned=plan is not None, store_root=str(run.store_root))


class HistorySource:
    """The app's single reader of one project's history (thread-safe).

    Args:
        path: a folder inside the project.
        project: only this project's runs.
    """

    def __init__(self, path: str | os.PathLike[str] = ".", project: str | None = None) -> None:
        from flowyml.inflight import InflightWatcher

        self.path = Path(path).absolute()
        self.project = project
        self._lock = threading.RLock()
        self._repo: RunHistory | None = None
        self._stamp: tuple | None = None
        self._planned: set[str] = set()  # pipelines whose store is watched
        self._plans: dict[str, RunManifest] = {}
        self.watcher = InflightWatcher([self.path / ".flowyml"])

    # -- opening ---------------------------------------------------------------------

    @property
    def location(self) -> str | None:
        """The history repository's folder, or None when there is none."""
        from flowyml.inflight import existing_history

        return existing_history(self.path)

    def repo(self) -> RunHistory:
        """The open RunHistory.

        Raises:
            MissingHistory: there is no history here (none is created).
        """
        with self._lock:
            if self._repo is None:
                found = self.location
                if found is None:
                    raise MissingHistory(
                        f"no flowyml history in {self.path} or any folder above it: "
                        "run a pipeline here first, or start the UI inside your project")
                from flowyml.runs import RunHistory

                self._repo = RunHistory(self.path, project=self.project)
                work_tree = Path(found)
                if work_tree.name == "history.git":
                    work_tree = work_tree.parent.parent  # <project>/.flowyml/history.git
                self.watcher.add_root(work_tree / ".flowyml")
            return self._repo

    def close(self) -> None:
        """Release the repository."""
        with self._lock:
            if self._repo is not None:
                self._repo.close()
                self._repo = None

    # -- the run list ----------------------------------------------------------------

    def changed(self) -> bool:
        """Whether any flowyml ref moved since the last call (cheap: reads refs only)."""
        from flowyml.records import namespace

        with self._lock:
            repo = self.repo()
            stamp = tuple(sorted(repo.history.refs(namespace(self.project)).items()))
            moved = stamp != self._stamp
            self._stamp = stamp
            return moved

    def runs(self) -> list[Run]:
        """Every recorded run, newest first."""
        with self._lock:
            return self.repo().runs(limit=None)

    def rows(self) -> list[RunRow]:
        """Every recorded run as a list row, newest first."""
        return [row_of(run) for run in self.runs()]

    def watch_stores(self, runs: Iterable[Run]) -> None:
        """Also watch the stores the newest run of each pipeline wrote to (for runs in flight)."""
        with self._lock:
            for run in runs:
                if run.pipeline in self._planned:
                    continue
                self._planned.add(run.pipeline)
                root = run.manifest.environment.get("store")
                if root:
                    self.watcher.add_root(root)

    def inflight(self, committed: Iterable[str] = ()) -> list[InflightRun]:
        """Runs in flight in the watched stores, newest first."""
        with self._lock:
            return self.watcher.poll(committed=set(committed))

    # -- one run ---------------------------------------------------------------------

    def run(self, run_id: str) -> Run:
        """The recorded run whose id starts with ``run_id`` (RunNotFound if none)."""
        with self._lock:
            return self.repo().get(run_id)

    def run_view(self, run_id: str) -> RunView:
        """The run screen's view of ``run_id``: in flight if it has a journal, else recorded.

        Raises:
            RunNotFound: neither the history nor a journal knows the run.
        """
        from flowyml.errors import RunNotFound

        with self._lock:
            live = next((r for r in self.watcher.poll() if r.run_id == run_id), None)
            try:
                run = self.run(run_id)
            except (RunNotFound, MissingHistory):
                if live is None:
                    raise RunNotFound(f"run {run_id} is neither in the history nor in flight") from None
                return view_of_inflight(live, self._plan_for(live.pipeline))
            # recorded wins over a journal left behind by a crash just after the commit
            return view_of_manifest(run.manifest, str(run.store.root))

    def _plan_for(self, pipeline: str) -> RunManifest | None:
        """The newest recorded manifest of ``pipeline`` (read once per commit, not per poll)."""
        try:
            newest = self.repo().runs(pipeline, limit=1)
        except MissingHistory:
            return None  # the project's first run: the history is created when it is recorded
        if not newest:
            return None
        sha = newest[0].sha
        if sha not in self._plans:
            if len(self._plans) >= 8:
                self._plans.clear()  # a few runs watched at once is all the screens need
            self._plans[sha] = newest[0].manifest
        return self._plans[sha]

    def store_of(self, view: RunView) -> Any:
        """The object store a run's outputs live in."""
        from flowyml.store.objects import ObjectStore

        with self._lock:
            if not view.live:
                return self.run(view.run_id).store
        return ObjectStore(view.store_root or self.path / ".flowyml")

    def output(self, view: RunView, name: str) -> tuple[str, OutputRecord]:
        """``(step, record)`` of output ``name`` in a run (KeyError if none)."""
        for step in view.order:
            rec = view.steps[step]
            if name in rec.outputs:
                return step, rec.outputs[name]
        raise KeyError(name)

    def preview(self, view: RunView, output: str) -> Preview:
        """A preview of one output of a run (see :mod:`flowyml_tui.preview`)."""
        from flowyml_tui.preview import preview_output

        _step, record = self.output(view, output)
        return preview_output(self.store_of(view), record)

    def load_object(self, view: RunView, output: str) -> Preview:
        """Load an output the preview only described (unpickles it: only on the user's request)."""
        from flowyml_tui.preview import load_object

        _step, record = self.output(view, output)
        return load_object(self.store_of(view), record)

    def lineage(self, view: RunView, output: str) -> tuple[LineageNode, LineageNode, list[tuple[str, str, str]]]:
        """``(upstream tree, downstream tree, producers)`` of one output of a run.

        ``producers`` are the ``(run_id, step, output)`` of every execution that
        produced the same bytes, newest first.
        """
        from flowyml.lineage import producers_of
        from flowyml_tui.lineage_tree import LineageNode, downstream_tree, upstream_tree

        up = upstream_tree(view, output)
        root = LineageNode(up.output, up.step, up.oid, up.codec, up.size, [view.run_id], up.status)
        with self._lock:
            repo = self.repo()
            return up, downstream_tree(repo, root), producers_of(repo, up.oid)

    # -- diffs -----------------------------------------------------------------------

    def diff_runs(self, old_id: str, new_id: str) -> DiffView:
        """Compare two recorded runs step by step (:func:`flowyml.diff.diff_manifests`)."""
        from flowyml.diff import diff_manifests

        with self._lock:
            old, new = self.run(old_id).manifest, self.run(new_id).manifest
        diff = diff_manifests(old, new)
        names = list(step_order(new.steps)) + [n for n in step_order(old.steps) if n not in new.steps]
        return DiffView(diff, tuple(names), "runs", new.pipeline,
                        {n: r.status for n, r in old.steps.items()}, {n: r.status for n, r in new.steps.items()})

    def previous_run(self, run_id: str) -> str | None:
        """The run to compare ``run_id`` with: its parent, else the pipeline's run before it."""
        with self._lock:
            run = self.run(run_id)
            if run.parent_run:
                return run.parent_run
            ids = [r.run_id for r in self.repo().runs(run.pipeline, limit=None)]
        if run.run_id in ids and ids.index(run.run_id) + 1 < len(ids):
            return ids[ids.index(run.run_id) + 1]
        return None

    def versions(self, pipeline: str) -> list[str]:
        """The versions recorded for ``pipeline``, oldest first."""
        from flowyml.versioning import list_versions

        with self._lock:
            return list_versions(pipeline, project=self.project, stack=self._stack())

    def diff_versions(self, pipeline: str, old: str, new: str) -> DiffView:
        """Compare two recorded versions of a pipeline's definition."""
        from flowyml.diff import diff_definitions
        from flowyml.versioning import load_definition

        with self._lock:
            a = load_definition(pipeline, old, project=self.project, stack=self._stack())
            b = load_definition(pipeline, new, project=self.project, stack=self._stack())
        diff = diff_definitions(a, b, old, new)
        names = list(b.get("order", b.get("steps", {}))) + [n for n in a.get("order", a.get("steps", {}))
                                                            if n not in b.get("steps", {})]
        return DiffView(diff, tuple(dict.fromkeys(names)), "versions", pipeline)

    def _stack(self) -> Any:
        """A stack naming this history, so the versioning API reads it whatever the cwd is."""
        from flowyml.stack import Stack

        return Stack(name="ui", artifact_path=str(self.path / ".flowyml"), metadata_path=self.repo().history.git_dir)
