"""The model registry and the dataset catalog, as refs in the run history.

Every output a step returns as a ``Model`` becomes the next numbered version of
that model's name (``refs/flowyml/models/<name>``, one commit per version);
every ``Dataset`` output enters the catalog the same way under ``datasets/``.
Each commit holds ``entry.json``: the version, the run, step and output that
produced it, and the oid and codec to load it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from flowyml.definition import canonical_json
from flowyml.records import ref_of

if TYPE_CHECKING:
    from flowyml.manifest import RunManifest
    from flowyml.store.history import History

ENTRY_FILE = "entry.json"
_KIND_REF = {"model": "models", "dataset": "datasets"}


@dataclass(frozen=True)
class RegistryEntry:
    """One registered version of a model or dataset.

    Attributes:
        kind: "model" or "dataset".
        name: the asset's name.
        version: 1 for the first registration, then 2, 3, …
        run_id, pipeline, step, output: where it came from.
        oid, codec, size: how to load it.
        metadata: the asset's metadata.
    """

    kind: str
    name: str
    version: int
    run_id: str
    pipeline: str
    step: str
    output: str
    oid: str
    codec: str
    size: int
    metadata: dict

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def register_assets(history: History, manifest: RunManifest) -> list[RegistryEntry]:
    """Register the models and catalog the datasets a run produced (executed steps only)."""
    entries = []
    for rec in manifest.steps.values():
        if rec.status != "success":
            continue  # a cached output was registered by the run that produced it
        for output, out in rec.outputs.items():
            asset = out.asset or {}
            kind = asset.get("kind")
            if kind not in _KIND_REF:
                continue
            name = asset.get("name") or output
            ref = ref_of(_KIND_REF[kind], name, project=manifest.project)
            latest = latest_entry(history, ref)
            if latest is not None and latest.oid == out.oid:
                continue  # the same bytes are already this name's newest version
            entry = RegistryEntry(kind, name, (latest.version if latest else 0) + 1, manifest.run_id,
                                  manifest.pipeline, rec.name, output, out.oid, out.codec, out.size,
                                  asset.get("metadata") or {})
            history.record(ref, {ENTRY_FILE: canonical_json(entry.to_dict())},
                           f"{kind} {name} v{entry.version} from run {manifest.run_id} ({rec.name}.{output})",
                           trailers={"Flowyml-Source-Run": manifest.run_id})
            entries.append(entry)
    return entries


def latest_entry(history: History, ref: str) -> RegistryEntry | None:
    """The newest entry on a registry ref, or None."""
    tip = history.tip(ref)
    return None if tip is None else _entry(history, tip)


def versions(history: History, kind: str, name: str, project: str | None = None) -> list[RegistryEntry]:
    """Every registered version of a model or dataset, newest first."""
    ref = ref_of(_KIND_REF[kind], name, project=project)
    return [_entry(history, c.sha) for c in history.log(ref)]


def names(history: History, kind: str, project: str | None = None) -> list[str]:
    """The names registered under ``kind`` ("model" or "dataset")."""
    from flowyml.store.refnames import decode_component

    prefix = ref_of(_KIND_REF[kind], "", project=project)[:-1]
    return sorted(decode_component(r[len(prefix):]) for r in history.refs(prefix))


def _entry(history: History, sha: str) -> RegistryEntry:
    data: dict[str, Any] = json.loads(history.read(sha, ENTRY_FILE))
    return RegistryEntry(**data)
