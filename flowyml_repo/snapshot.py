"""Frozen pipeline snapshots: an immutable, sealed copy of a pipeline's definition.

``freeze_pipeline(pipeline)`` hashes the canonical definition (code
fingerprints and context included) with SHA-256 and keeps it as a ref
``refs/flowyml/snapshots/<pipeline>/<hash>``. ``snapshot.verify()`` re-derives
the hash from the pipeline's current code and context.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

from flowyml.definition import canonical_json, definition_hash, describe_pipeline
from flowyml.diff import diff_definitions
from flowyml.records import open_history, ref_of

SNAPSHOT_FILE = "snapshot.json"


@dataclass(frozen=True)
class PipelineSnapshot:
    """An immutable record of a pipeline's definition at one moment.

    Attributes:
        pipeline_name: the pipeline's name.
        snapshot_hash: SHA-256 of the canonical definition.
        definition: the definition it seals.
        created: when it was frozen (seconds since the epoch).
        ref: the history ref it is kept under.
    """

    pipeline_name: str
    snapshot_hash: str
    definition: dict = field(repr=False)
    created: float
    ref: str
    _pipeline: Any = field(default=None, repr=False, compare=False)
    _last_reason: list = field(default_factory=list, repr=False, compare=False)

    def verify(self, pipeline: Any = None) -> bool:
        """True when the pipeline's current definition still hashes to ``snapshot_hash``.

        Args:
            pipeline: the pipeline to check (default: the one frozen).

        The reason for a False result is in :attr:`reason`.
        """
        target = pipeline if pipeline is not None else self._pipeline
        self._last_reason.clear()
        if definition_hash(self.definition) != self.snapshot_hash:
            self._last_reason.append("the snapshot's own definition no longer matches its hash")
            return False
        if target is None:
            return True
        current = describe_pipeline(target)
        if definition_hash(current) == self.snapshot_hash:
            return True
        diff = diff_definitions(self.definition, current, "snapshot", "current")
        self._last_reason.append(str(diff) if diff.changed else "the definition changed")
        return False

    @property
    def reason(self) -> str | None:
        """Why the last :meth:`verify` returned False (None after a True)."""
        return self._last_reason[0] if self._last_reason else None


def freeze_pipeline(pipeline: Any) -> PipelineSnapshot:
    """Seal ``pipeline``'s current definition and keep it in the history.

    Returns:
        The :class:`PipelineSnapshot`; ``snapshot.verify()`` checks it later.
    """
    definition = describe_pipeline(pipeline)
    digest = definition_hash(definition)
    ref = ref_of("snapshots", pipeline.name, digest[:16], project=pipeline.project_name)
    created = time.time()
    with open_history(pipeline.resolve_stack()) as history:
        if history.tip(ref) is None:
            body = {"pipeline": pipeline.name, "snapshot_hash": digest, "created": created, "definition": definition}
            history.record(ref, {SNAPSHOT_FILE: canonical_json(body)}, f"snapshot of {pipeline.name}: {digest[:16]}")
        else:
            created = json.loads(history.read(history.tip(ref), SNAPSHOT_FILE))["created"]
    return PipelineSnapshot(pipeline.name, digest, definition, created, ref, pipeline)


def load_snapshot(pipeline_name: str, hash_prefix: str, *, project: str | None = None,
                  stack: Any = None) -> PipelineSnapshot:
    """A snapshot kept in the history, by pipeline name and hash prefix (≥ 4 hex digits)."""
    prefix = ref_of("snapshots", pipeline_name, "", project=project)[:-1]
    with open_history(stack) as history:
        matches = [r for r in history.refs(prefix) if r[len(prefix):].startswith(hash_prefix[:16])]
        if len(matches) != 1:
            raise KeyError(f"{len(matches)} snapshots of {pipeline_name!r} match {hash_prefix!r}")
        body = json.loads(history.read(history.tip(matches[0]), SNAPSHOT_FILE))
    snap = PipelineSnapshot(pipeline_name, body["snapshot_hash"], body["definition"], body["created"], matches[0])
    if not snap.snapshot_hash.startswith(hash_prefix):
        raise KeyError(f"no snapshot of {pipeline_name!r} has hash {hash_prefix!r}")
    return snap
