"""Querying the run history: list runs, open one, load any output of any past run.

>>> import flowyml
>>> latest = flowyml.runs("training", limit=1)[0]
>>> latest.load("model")
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from functools import cached_property
from pathlib import Path
from typing import Any

from flowyml.errors import HistoryError, RunNotFound
from flowyml.manifest import OutputRecord, RunManifest, StepRecord
from flowyml.records import is_run_ref, load_manifest, namespace, open_history, ref_of
from flowyml.store.refnames import ROOT


class Run:
    """One recorded run, read lazily from the history.

    Attributes:
        run_id: the run's id.
        pipeline: the pipeline's name.
        status: "success" or "failed".
        time: commit time (seconds since the epoch).
        sha: the commit holding the manifest.
        ref: the run ref it is on.
    """

    def __init__(self, repo: RunHistory, run_id: str, sha: str, ref: str, time: int, summary: str,
                 trailers: dict[str, str]) -> None:
        self._repo = repo
        self.run_id = run_id
        self.sha = sha
        self.ref = ref
        self.time = time
        self.summary = summary
        self.pipeline = trailers.get("Flowyml-Pipeline", "")
        self.status = trailers.get("Flowyml-Status", "")
        self.project = trailers.get("Flowyml-Project")
        self.parent_run = trailers.get("Flowyml-Parent-Run")

    def __repr__(self) -> str:
        return f"<Run {self.run_id} {self.pipeline} {self.status}>"

    @cached_property
    def manifest(self) -> RunManifest:
        """The full manifest (read on first use)."""
        return self._repo.manifest(self.sha)

    @property
    def steps(self) -> dict[str, StepRecord]:
        return self.manifest.steps

    @property
    def duration(self) -> float:
        return self.manifest.duration

    @property
    def params(self) -> dict:
        """The context the run used."""
        return self.manifest.context

    @property
    def outputs(self) -> dict[str, OutputRecord]:
        """Every output's stored record, by output name."""
        found: dict[str, OutputRecord] = {}
        for rec in self.steps.values():
            found.update(rec.outputs)
        return found

    @property
    def metrics(self) -> dict[str, Any]:
        """The values of the run's ``Metrics`` outputs, by output name.

        Plain values are inlined in the manifest; only other metrics are loaded from the store.
        """
        found = {}
        for name, out in self.outputs.items():
            asset = out.asset or {}
            if asset.get("kind") == "metrics":
                found[name] = asset["values"] if "values" in asset else self.load(name).data
        return found

    def artifact(self, output: str) -> Artifact:
        """The artifact called ``output`` in this run."""
        step, rec = self.manifest.output(output)
        return Artifact(self._repo, self, step, output, rec)

    def artifacts(self) -> list[Artifact]:
        """Every output of the run as an artifact, in step order."""
        return [Artifact(self._repo, self, step, name, rec)
                for step, srec in self.steps.items() for name, rec in srec.outputs.items()]

    def load(self, output: str) -> Any:
        """Load an output's value (verified against its oid)."""
        return self.artifact(output).load()

    @property
    def store(self) -> Any:
        """The object store this run's outputs live in."""
        return self._repo.store_for(self.manifest)


class Artifact:
    """One stored output of one run.

    Attributes:
        name: the output name.
        step: the step that produced it (in ``run``).
        oid, codec, size: the stored object.
        run: the run it belongs to.
    """

    def __init__(self, repo: RunHistory, run: Run, step: str, name: str, record: OutputRecord) -> None:
        self._repo = repo
        self.run = run
        self.step = step
        self.name = name
        self.oid, self.codec, self.size = record.oid, record.codec, record.size

    def __repr__(self) -> str:
        return f"<Artifact {self.name} of {self.step} in run {self.run.run_id} oid={self.oid[:12]}>"

    @property
    def record(self) -> OutputRecord:
        """The full output record (with the asset description) from the run's manifest."""
        return self.run.steps[self.step].outputs[self.name]

    @property
    def kind(self) -> str | None:
        """The asset kind ("model", "dataset", "metrics") or None for a plain value."""
        return (self.record.asset or {}).get("kind")

    def load(self) -> Any:
        """The value (an asset rebuilt if the step returned one)."""
        from flowyml.execution.task import load_input

        return load_input(self.run.store, self.name, self.record)

    @property
    def produced_by(self) -> tuple[str, str]:
        """``(run_id, step)`` of the execution that computed these bytes (through cache hits)."""
        rec = self.run.steps[self.step]
        return (rec.source_run or self.run.run_id), self.step

    def inputs(self) -> list[Artifact]:
        """The artifacts the producing step consumed, in this run."""
        rec = self.run.steps[self.step]
        return [self.run.artifact(out) for out in rec.inputs.values()]

    def upstream(self) -> list[Artifact]:
        """Every artifact this one was derived from, transitively, nearest first."""
        seen: dict[str, Artifact] = {}
        frontier = self.inputs()
        while frontier:
            nxt = []
            for art in frontier:
                if art.name not in seen:
                    seen[art.name] = art
                    nxt += art.inputs()
            frontier = nxt
        return list(seen.values())

    def downstream(self) -> list[Artifact]:
        """Every artifact, in any run, computed from these bytes — transitively."""
        from flowyml.lineage import downstream_of

        return downstream_of(self._repo, self.oid)


class RunHistory:
    """The runs of one repository (the project's git repo, or a stack's metadata path).

    Args:
        path: a folder inside the project (default: the current directory).
        stack: a stack whose ``metadata_path`` holds the history.
        project: only this project's runs.
    """

    def __init__(self, path: str | os.PathLike[str] = ".", stack: Any = None, project: str | None = None) -> None:
        self.path = Path(path).absolute()
        self.stack = stack
        self.project = project
        self._stores: dict[str, Any] = {}
        try:
            self.history: Any = open_history(stack, self.path, create=False)
        except HistoryError:
            self.history = None  # nothing recorded yet: every query is empty

    def close(self) -> None:
        if self.history is not None:
            self.history.close()

    def __enter__(self) -> RunHistory:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def runs(self, pipeline: str | None = None, *, limit: int | None = 50, status: str | None = None) -> list[Run]:
        """Runs newest first, optionally of one pipeline and with one status."""
        if self.history is None:
            return []
        if pipeline is not None:
            prefix = ref_of("runs", pipeline, project=self.project)
        else:
            prefix = namespace(self.project) if self.project else ROOT
        found: list[Run] = []
        # over-fetch when filtering: registry commits and other statuses share the index
        for entry in self.history.list_runs(ref_prefix=prefix, limit=None if (status or pipeline is None) else limit):
            if not entry.run_id or not is_run_ref(entry.ref):
                continue
            if pipeline is not None and entry.ref != prefix:
                continue
            run = Run(self, entry.run_id, entry.sha, entry.ref, entry.time, entry.summary, dict(entry.trailers))
            if status is not None and run.status != status:
                continue
            found.append(run)
            if limit is not None and len(found) >= limit:
                break
        return found

    def __iter__(self) -> Iterator[Run]:
        return iter(self.runs(limit=None))

    def get(self, run_id: str) -> Run:
        """The run whose id starts with ``run_id``.

        Raises:
            RunNotFound: no such run.
            AmbiguousRunId: the prefix matches several runs.
        """
        if self.history is None:
            raise RunNotFound(f"no run {run_id!r}: nothing has been recorded in {self.path} yet")
        ref, sha = self.history.find_run(run_id, ref_prefix=namespace(self.project) if self.project else ROOT)
        info = self.history.commit(sha)
        trailers = info.trailers
        return Run(self, trailers.get("Flowyml-Run-Id", run_id), sha, ref, info.time, info.summary, trailers)

    def manifest(self, sha: str) -> RunManifest:
        return load_manifest(self.history, sha)

    def store_for(self, manifest: RunManifest) -> Any:
        """The object store a run wrote to (recorded in its manifest; else the stack's or ``.flowyml``)."""
        from flowyml.store.objects import ObjectStore

        recorded = manifest.environment.get("store")
        local = Path(getattr(self.stack, "artifact_path", None) or self.path / ".flowyml").absolute()
        # The recorded path is right unless the history moved (a clone, a copy): then the
        # project's own store is where pulled objects are.
        inside = recorded and Path(recorded).is_dir() and Path(recorded).is_relative_to(self.path)
        root = recorded if inside or (recorded and Path(recorded).is_dir() and not local.is_dir()) else str(local)
        if root not in self._stores:
            self._stores[root] = ObjectStore(root)
        return self._stores[root]


def runs(pipeline: str | None = None, *, limit: int | None = 50, status: str | None = None,
         path: str | os.PathLike[str] = ".", stack: Any = None, project: str | None = None) -> list[Run]:
    """The recorded runs, newest first.

    Args:
        pipeline: only this pipeline's runs.
        limit: at most this many (None: all).
        status: only runs with this status ("success", "failed").
        path: a folder inside the project.
        stack: a stack whose ``metadata_path`` holds the history.
        project: only this project's runs.
    """
    return RunHistory(path, stack, project).runs(pipeline, limit=limit, status=status)


def get_run(run_id: str, *, path: str | os.PathLike[str] = ".", stack: Any = None,
            project: str | None = None) -> Run:
    """The run whose id starts with ``run_id`` (see :meth:`RunHistory.get`)."""
    return RunHistory(path, stack, project).get(run_id)
