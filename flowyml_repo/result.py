"""What ``pipeline.run()`` returns: the run's outcome, outputs and per-step results."""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from flowyml.manifest import CACHED, FAILED, SUCCESS, OutputRecord, RunManifest, StepRecord


@dataclass(frozen=True)
class StepResult:
    """One step's outcome in a run.

    Attributes:
        name: the step name.
        status: "success", "cached", "failed", "skipped" or "not_run".
        cached: True when the outputs were reused, not computed.
        duration_seconds: time spent executing (0 for a cached step).
        artifact_uri: path of the step's first stored output, or None.
        outputs: output name -> its stored record (oid, codec, size).
        error: the traceback text of a failed step (the reason for a skipped one).
        key: the step's cache key.
    """

    name: str
    status: str
    cached: bool
    duration_seconds: float
    artifact_uri: str | None
    outputs: Mapping[str, OutputRecord]
    error: str | None
    key: str | None
    attempts: int = 0

    @property
    def success(self) -> bool:
        return self.status in (SUCCESS, CACHED)

    @classmethod
    def from_record(cls, rec: StepRecord, store: Any) -> StepResult:
        first = next(iter(rec.outputs.values()), None)
        uri = store.location(first.oid) if first is not None else None
        return cls(rec.name, rec.status, rec.status == CACHED, rec.duration, uri, dict(rec.outputs),
                   rec.error, rec.key, rec.attempts)


class Outputs(Mapping[str, Any]):
    """Output values by name: in memory when this run computed them, else loaded on first use."""

    def __init__(self, manifest: RunManifest, values: Mapping[str, Any], store: Any) -> None:
        self._refs: dict[str, OutputRecord] = {}
        for rec in manifest.steps.values():
            self._refs.update(rec.outputs)
        self._values = {k: v for k, v in values.items() if k in self._refs}
        self._store = store

    def __getitem__(self, name: str) -> Any:
        if name not in self._values:
            from flowyml.execution.task import load_input

            self._values[name] = load_input(self._store, name, self._refs[name])
        return self._values[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._refs)

    def __len__(self) -> int:
        return len(self._refs)

    def record(self, name: str) -> OutputRecord:
        """The stored record (oid, codec, size) of output ``name``."""
        return self._refs[name]

    def __repr__(self) -> str:
        return repr({k: self[k] for k in self})


class PipelineResult:
    """The outcome of one pipeline run.

    Attributes:
        run_id: the run's id (any unambiguous prefix finds it in the history).
        pipeline_name: the pipeline's name.
        success: False when a step failed.
        outputs: every output by name.
        step_results: per-step results, in execution order.
        duration_seconds: wall time of the run.
        manifest: the full record committed to the history.
    """

    def __init__(self, manifest: RunManifest, values: Mapping[str, Any], store: Any) -> None:
        self.manifest = manifest
        self.run_id = manifest.run_id
        self.pipeline_name = manifest.pipeline
        self.success = manifest.success
        self.duration_seconds = manifest.duration
        self.outputs = Outputs(manifest, values, store)
        self._store = store

    @functools.cached_property
    def step_results(self) -> dict[str, StepResult]:
        """Per-step results, in execution order.

        Built on first use (~3 us a step, measured): many callers only read
        ``success`` and the outputs.
        """
        return {name: StepResult.from_record(rec, self._store) for name, rec in self.manifest.steps.items()}

    def __getitem__(self, name: str) -> Any:
        """An output by name; or, given a step name, that step's output (a dict if several)."""
        if name in self.outputs:
            return self.outputs[name]
        if name in self.step_results:
            names = list(self.step_results[name].outputs)
            if len(names) == 1:
                return self.outputs[names[0]]
            return {n: self.outputs[n] for n in names}
        raise KeyError(f"{name!r} is neither an output nor a step of run {self.run_id}")

    @property
    def failed_step(self) -> str | None:
        """The name of the step that failed, if any."""
        return next((n for n, r in self.step_results.items() if r.status == FAILED), None)

    @property
    def error(self) -> str | None:
        """The traceback of the failed step, if any."""
        name = self.failed_step
        return self.step_results[name].error if name else None

    def summary(self) -> str:
        """A human-readable summary: one line for the run, one per step."""
        lines = [f"Run {self.run_id} of {self.manifest.summary_line()}"]
        width = max((len(n) for n in self.step_results), default=0)
        for name, r in self.step_results.items():
            extra = ""
            if r.status == FAILED and r.error:
                extra = "  " + r.error.strip().splitlines()[-1]
            elif r.status == "skipped" and r.error:
                extra = f"  ({r.error})"
            lines.append(f"  {name:<{width}}  {r.status:<8} {r.duration_seconds:8.3f}s{extra}")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        """The run as plain values (the manifest, with ``success`` and output oids)."""
        d = self.manifest.to_dict()
        d["success"] = self.success
        d["outputs"] = {n: self.outputs.record(n).to_dict() for n in self.outputs}
        return d

    def __repr__(self) -> str:
        state = "success" if self.success else "failed"
        return f"<PipelineResult {self.pipeline_name} {self.run_id} {state} {self.duration_seconds:.3f}s>"
