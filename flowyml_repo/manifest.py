"""What a run did, as plain values: the record the history commits to git.

A :class:`RunManifest` holds one :class:`StepRecord` per step: its cache key
and the parts it was made of, the oids (and codecs) of its inputs and outputs,
status, timings and error text. Everything else — caching, reruns, lineage,
diffs — is a lookup in these records.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

MANIFEST_FORMAT = 1

# Step statuses. "success" ran and stored its outputs; "cached" reused a
# previous execution's outputs; "skipped" a @when was false (or an input was
# skipped); "failed" raised; "not_run" was never reached because the run stopped.
SUCCESS, CACHED, FAILED, SKIPPED, NOT_RUN = "success", "cached", "failed", "skipped", "not_run"


@dataclass(frozen=True)
class OutputRecord:
    """One stored output: where its bytes are and how to decode them."""

    oid: str
    codec: str
    size: int
    asset: dict | None = None  # Asset.describe() when the step returned an asset

    def to_dict(self) -> dict:
        return {"oid": self.oid, "codec": self.codec, "size": self.size, "asset": self.asset}

    @classmethod
    def from_dict(cls, d: dict) -> OutputRecord:
        return cls(d["oid"], d["codec"], d["size"], d.get("asset"))


@dataclass
class StepRecord:
    """What happened to one step in one run.

    Attributes:
        key_parts: ``{"code": fingerprint, "inputs": {param: oid}, "params": {name: value},
            "config": {...}}`` — what the cache key was made of, for diffs.
        inputs: parameter name -> the output name that fed it.
        files: files the step read with ``open`` -> their content digest.
        source_run: for a cached step, the run whose execution produced the outputs.
    """

    name: str
    status: str
    key: str | None = None
    key_parts: dict = field(default_factory=dict)
    inputs: dict = field(default_factory=dict)
    outputs: dict[str, OutputRecord] = field(default_factory=dict)
    upstream: list = field(default_factory=list)
    started: float = 0.0
    duration: float = 0.0
    attempts: int = 0
    fallback_used: bool = False
    error: str | None = None
    error_type: str | None = None
    files: dict = field(default_factory=dict)
    source_run: str | None = None
    stdout: str = ""
    stderr: str = ""

    @property
    def cached(self) -> bool:
        return self.status == CACHED

    def to_dict(self) -> dict:
        """Plain values (shares the nested dicts: treat the result as read-only)."""
        # The instance dict holds exactly the fields, in order (nothing else is ever set
        # on a record): copying it takes 0.1 us where reading 17 attributes took 1.3 us,
        # and every finished step is journaled through here.
        d = self.__dict__.copy()
        d["outputs"] = {k: v.to_dict() for k, v in self.outputs.items()}
        return d

    @classmethod
    def from_dict(cls, d: dict) -> StepRecord:
        d = dict(d)
        d["outputs"] = {k: OutputRecord.from_dict(v) for k, v in d.get("outputs", {}).items()}
        known = cls.__dataclass_fields__
        return cls(**{k: v for k, v in d.items() if k in known})


@dataclass
class RunManifest:
    """The whole record of one run, committed to the pipeline's history ref."""

    run_id: str
    pipeline: str
    status: str = "running"
    project: str | None = None
    version: str | None = None
    started: float = 0.0
    duration: float = 0.0
    context: dict = field(default_factory=dict)
    steps: dict[str, StepRecord] = field(default_factory=dict)
    parent_run: str | None = None
    from_step: str | None = None
    environment: dict = field(default_factory=dict)
    git: dict = field(default_factory=dict)
    format: int = MANIFEST_FORMAT

    @property
    def success(self) -> bool:
        return self.status == SUCCESS

    def counts(self) -> dict[str, int]:
        """How many steps ended in each status."""
        out: dict[str, int] = {}
        for rec in self.steps.values():
            out[rec.status] = out.get(rec.status, 0) + 1
        return out

    def output(self, name: str) -> tuple[str, OutputRecord]:
        """The step and record of the output called ``name`` (KeyError if none)."""
        for rec in self.steps.values():
            if name in rec.outputs:
                return rec.name, rec.outputs[name]
        raise KeyError(name)

    def to_dict(self) -> dict:
        """Plain values (shares the nested dicts: treat the result as read-only)."""
        d = {f: getattr(self, f) for f in _RUN_FIELDS}
        d["steps"] = {k: v.to_dict() for k, v in self.steps.items()}
        return d

    @classmethod
    def from_dict(cls, d: dict) -> RunManifest:
        d = dict(d)
        d["steps"] = {k: StepRecord.from_dict(v) for k, v in d.get("steps", {}).items()}
        known = cls.__dataclass_fields__
        return cls(**{k: v for k, v in d.items() if k in known})

    def summary_line(self) -> str:
        """One line: pipeline, status, step counts and duration (the commit subject)."""
        c = self.counts()
        ran = c.get(SUCCESS, 0)
        parts = [f"{ran} ran", f"{c.get(CACHED, 0)} cached"]
        for status in (FAILED, SKIPPED, NOT_RUN):
            if c.get(status):
                parts.append(f"{c[status]} {status.replace('_', ' ')}")
        return f"{self.pipeline}: {self.status} ({', '.join(parts)}) in {self.duration:.2f}s"


_RUN_FIELDS = tuple(RunManifest.__dataclass_fields__)


def plain(value: Any) -> Any:
    """A JSON/msgpack-safe form of a context value for the manifest (repr for others)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    return repr(value)
