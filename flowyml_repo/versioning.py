"""``VersionedPipeline``: a pipeline whose definition is recorded under its version.

``Pipeline("training", version="v1.0.0")`` creates one. Building or running it
records the definition (steps, edges, code hashes, context) as a commit on
``refs/flowyml/versions/<pipeline>/<version>``; ``compare_with("v0.9.0")``
diffs the current definition against the one recorded for that version.
"""

from __future__ import annotations

import json
import os
from typing import Any

from flowyml.definition import canonical_json, describe_pipeline
from flowyml.diff import PipelineDiff, diff_definitions
from flowyml.errors import FlowymlError
from flowyml.pipeline import Pipeline
from flowyml.records import open_history, ref_of

DEFINITION_FILE = "definition.json"


class VersionNotFound(FlowymlError, KeyError):
    """No definition is recorded for a pipeline version."""

    def __str__(self) -> str:
        return str(self.args[0])


class VersionedPipeline(Pipeline):
    """A :class:`Pipeline` with a ``version``; see the module docstring."""

    def build(self, context: Any = None) -> Any:
        graph = super().build(context)
        if not getattr(self, "_recording", False):
            self._recording = True
            try:
                self.record_version()
            finally:
                self._recording = False
        return graph

    def definition(self) -> dict:
        """The current canonical definition."""
        return describe_pipeline(self)

    def record_version(self) -> str | None:
        """Record the current definition under this version (a no-op when unchanged).

        Returns:
            The commit id of the recorded definition.
        """
        data = canonical_json(self.definition())
        ref = ref_of("versions", self.name, self.version, project=self.project_name)
        with open_history(self.resolve_stack()) as history:
            tip = history.tip(ref)
            if tip is not None and history.read(tip, DEFINITION_FILE) == data:
                return tip
            return history.record(ref, {DEFINITION_FILE: data},
                                  f"{self.name} {self.version}: {len(self.steps)} steps")

    def compare_with(self, other_version: str) -> PipelineDiff:
        """Diff this version's definition against the one recorded for ``other_version``.

        Raises:
            VersionNotFound: nothing was ever recorded for ``other_version``.
        """
        old = load_definition(self.name, other_version, project=self.project_name, stack=self.resolve_stack())
        return diff_definitions(old, self.definition(), other_version, self.version or "current")

    def versions(self) -> list[str]:
        """The versions recorded for this pipeline, by name."""
        return list_versions(self.name, project=self.project_name, stack=self.resolve_stack())


def load_definition(pipeline: str, version: str, *, project: str | None = None, stack: Any = None,
                    path: str | os.PathLike[str] = ".") -> dict:
    """The newest definition recorded for ``pipeline`` at ``version`` (history found from ``path``)."""
    ref = ref_of("versions", pipeline, version, project=project)
    with open_history(stack, path) as history:
        tip = history.tip(ref)
        if tip is None:
            known = list_versions(pipeline, project=project, stack=stack, path=path)
            raise VersionNotFound(f"pipeline {pipeline!r} has no recorded version {version!r}; "
                                  f"recorded: {', '.join(known) or 'none'}")
        return json.loads(history.read(tip, DEFINITION_FILE))


def list_versions(pipeline: str, *, project: str | None = None, stack: Any = None,
                  path: str | os.PathLike[str] = ".") -> list[str]:
    """Every version recorded for ``pipeline``, oldest first (history found from ``path``)."""
    from flowyml.store.refnames import decode_component

    prefix = ref_of("versions", pipeline, "", project=project)[:-1]
    with open_history(stack, path) as history:
        tips = history.refs(prefix)
        times = {ref: history.commit(sha).time for ref, sha in tips.items()}
    return [decode_component(ref[len(prefix):]) for ref in sorted(tips, key=lambda r: (times[r], r))]
