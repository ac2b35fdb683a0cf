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
            kind = (out.asset or {}).get("kind")
            if kind in _KIND_REF:
                entry = _register(history, manifest, rec.name, output, out)
                if entry is not None:
                    entries.append(entry)
    return entries


def _register(history: History, manifest: RunManifest, step: str, output: str, out: Any) -> RegistryEntry | None:
    """Commit the next version of one asset; None when its newest version has the same bytes.

    The version number is taken from the ref's tip while this writer holds the ref
    (``History.record_from_tip``), so two runs registering the same name at once get
    consecutive versions, never the same one.
    """
    asset = out.asset
    kind, name = asset["kind"], asset.get("name") or output
    made: list[RegistryEntry] = []

    def next_version(tip: str | None) -> tuple[dict[str, bytes], str] | None:
        latest = None if tip is None else _entry(history, tip)
        if latest is not None and latest.oid == out.oid:
            return None  # the same bytes are already this name's newest version
        entry = RegistryEntry(kind, name, (latest.version if latest else 0) + 1, manifest.run_id, manifest.pipeline,
                              step, output, out.oid, out.codec, out.size, asset.get("metadata") or {})
        made.append(entry)  # called again after a lost race: the last one is what got committed
        return ({ENTRY_FILE: canonical_json(entry.to_dict())},
                f"{kind} {name} v{entry.version} from run {manifest.run_id} ({step}.{output})")

    ref = ref_of(_KIND_REF[kind], name, project=manifest.project)
    sha = history.record_from_tip(ref, next_version, trailers={"Flowyml-Source-Run": manifest.run_id})
    return made[-1] if sha is not None else None


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
