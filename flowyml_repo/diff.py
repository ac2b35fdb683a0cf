"""Diffs of pipeline definitions (versions) and of run manifests, step by step.

Like ``git diff`` for pipelines: which steps were added, removed or modified,
and for each modified step *which part* changed — its code, its inputs or
outputs, its parameters — and, between runs, which output oids differ.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class StepChange:
    """How one step differs between two sides.

    Attributes:
        name: the step.
        parts: what changed, among "code", "inputs", "outputs", "params", "config".
        details: part -> (old, new) for the parts that changed.
        outputs: output name -> (old oid, new oid) for outputs whose oid differs (runs only).
    """

    name: str
    parts: tuple[str, ...]
    details: dict[str, tuple[Any, Any]] = field(default_factory=dict)
    outputs: dict[str, tuple[str | None, str | None]] = field(default_factory=dict)


@dataclass(frozen=True)
class PipelineDiff:
    """The differences between two pipeline definitions or two runs.

    Attributes:
        old: a label for the old side (a version or run id).
        new: a label for the new side.
        added: steps only in the new side.
        removed: steps only in the old side.
        modified: per-step changes, in the new side's order.
        context: parameter -> (old, new) for changed context values.
    """

    old: str
    new: str
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    modified: tuple[StepChange, ...] = ()
    context: dict[str, tuple[Any, Any]] = field(default_factory=dict)

    @property
    def changed(self) -> bool:
        return bool(self.added or self.removed or self.modified or self.context)

    def step(self, name: str) -> StepChange | None:
        """The change of step ``name``, or None if it did not change."""
        return next((c for c in self.modified if c.name == name), None)

    def to_dict(self) -> dict:
        """Plain values, for ``--json``."""
        return {
            "old": self.old, "new": self.new, "added": list(self.added), "removed": list(self.removed),
            "modified": [{"name": c.name, "parts": list(c.parts),
                          "details": {k: list(v) for k, v in c.details.items()},
                          "outputs": {k: list(v) for k, v in c.outputs.items()}} for c in self.modified],
            "context": {k: list(v) for k, v in self.context.items()},
        }

    def __str__(self) -> str:
        lines = [f"diff {self.old} -> {self.new}"]
        if not self.changed:
            return lines[0] + "\n  no changes"
        lines += [f"  + {name} (added)" for name in self.added]
        lines += [f"  - {name} (removed)" for name in self.removed]
        for c in self.modified:
            lines.append(f"  ~ {c.name}: {', '.join(_label(p) for p in c.parts)}")
            for part, (old, new) in c.details.items():
                if part != "code":
                    lines.append(f"      {part}: {_short(old)} -> {_short(new)}")
            for out, (old, new) in c.outputs.items():
                lines.append(f"      output {out}: {(old or '-')[:12]} -> {(new or '-')[:12]}")
        for k, (old, new) in self.context.items():
            lines.append(f"  context {k}: {_short(old)} -> {_short(new)}")
        return "\n".join(lines)


def diff_definitions(old: dict, new: dict, old_label: str, new_label: str) -> PipelineDiff:
    """Compare two definitions made by :func:`flowyml.definition.describe_pipeline`."""
    a, b = old.get("steps", {}), new.get("steps", {})
    modified = []
    for name in new.get("order", list(b)):
        if name in a:
            details = {}
            for part in ("code", "inputs", "outputs", "params"):
                if a[name].get(part) != b[name].get(part):
                    details[part] = (a[name].get(part), b[name].get(part))
            config_old = (a[name].get("cache"), a[name].get("cache_version"))
            config_new = (b[name].get("cache"), b[name].get("cache_version"))
            if config_old != config_new:
                details["config"] = (config_old, config_new)
            if details:
                modified.append(StepChange(name, tuple(details), details))
    return PipelineDiff(old_label, new_label,
                        added=tuple(n for n in b if n not in a), removed=tuple(n for n in a if n not in b),
                        modified=tuple(modified), context=_dict_diff(old.get("context", {}), new.get("context", {})))


def diff_manifests(old: Any, new: Any) -> PipelineDiff:
    """Compare two runs (RunManifest objects) by their steps' cache-key parts and output oids."""
    modified = []
    for name, rec in new.steps.items():
        prev = old.steps.get(name)
        if prev is None:
            continue
        details: dict[str, tuple[Any, Any]] = {}
        pa, pb = prev.key_parts or {}, rec.key_parts or {}
        if pa.get("code") != pb.get("code"):
            details["code"] = (pa.get("code"), pb.get("code"))
        if pa.get("inputs") != pb.get("inputs"):
            details["inputs"] = (pa.get("inputs"), pb.get("inputs"))
        if pa.get("params") != pb.get("params"):
            details["params"] = (pa.get("params"), pb.get("params"))
        if pa.get("config") != pb.get("config"):
            details["config"] = (pa.get("config"), pb.get("config"))
        outputs = {o: (prev.outputs[o].oid if o in prev.outputs else None,
                       rec.outputs[o].oid if o in rec.outputs else None)
                   for o in set(prev.outputs) | set(rec.outputs)
                   if (prev.outputs.get(o) and prev.outputs[o].oid) != (rec.outputs.get(o) and rec.outputs[o].oid)}
        if prev.status != rec.status and (prev.status == "failed" or rec.status == "failed"):
            details["status"] = (prev.status, rec.status)
        if details or outputs:
            modified.append(StepChange(name, tuple(details), details, dict(sorted(outputs.items()))))
    return PipelineDiff(old.run_id, new.run_id,
                        added=tuple(n for n in new.steps if n not in old.steps),
                        removed=tuple(n for n in old.steps if n not in new.steps),
                        modified=tuple(modified), context=_dict_diff(old.context, new.context))


def _dict_diff(a: dict, b: dict) -> dict[str, tuple[Any, Any]]:
    return {k: (a.get(k), b.get(k)) for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)}


def _label(part: str) -> str:
    return {"code": "code changed", "inputs": "inputs changed", "outputs": "outputs changed",
            "params": "parameters changed", "config": "cache config changed",
            "status": "status changed"}.get(part, part)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
