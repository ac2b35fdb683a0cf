"""Typed assets: the data a step returns, with a kind and a name.

A step may return ``Dataset(df, name="raw")`` instead of a bare DataFrame. The
data is stored like any other output; the asset's kind, name and metadata are
recorded beside its oid in the run's manifest, so models can be registered and
datasets catalogued by name. A consumer annotated with the data's type (for
example ``pd.DataFrame``) receives the data; one annotated with an asset type
receives the asset itself.
"""

from __future__ import annotations

from typing import Any


class Asset:
    """Base of typed step outputs.

    Args:
        data: the payload (a DataFrame, a fitted model, a dict of numbers …).
        name: a human name, used by the registry and the catalog.
        metadata: free-form plain values recorded with the asset.
    """

    kind = "asset"

    def __init__(self, data: Any = None, name: str | None = None, metadata: dict | None = None) -> None:
        self.data = data
        self.name = name
        self.metadata = dict(metadata or {})

    def __repr__(self) -> str:
        name = f" {self.name!r}" if self.name else ""
        return f"<{type(self).__name__}{name} of {type(self.data).__name__}>"

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return (self.name, self.metadata) == (other.name, other.metadata) and _same(self.data, other.data)

    __hash__ = None  # type: ignore[assignment]

    def describe(self) -> dict:
        """The plain-value record of this asset kept in a manifest (no data)."""
        return {"kind": self.kind, "name": self.name, "metadata": self.metadata}


class Dataset(Asset):
    """A data set: a table, an array, a list of records."""

    kind = "dataset"


class Model(Asset):
    """A trained model; outputs of this type are registered as model versions."""

    kind = "model"


class Metrics(Asset):
    """Evaluation numbers, compared across runs.

    ``Metrics({"accuracy": 0.9})`` and ``Metrics(accuracy=0.9)`` are the same.
    """

    kind = "metrics"

    def __init__(self, data: dict | None = None, name: str | None = None,
                 metadata: dict | None = None, **values: Any) -> None:
        merged = dict(data or {})
        merged.update(values)
        super().__init__(merged, name=name, metadata=metadata)

    def __getitem__(self, key: str) -> Any:
        return self.data[key]

    def describe(self) -> dict:
        """The record kept in a manifest; plain metric values are inlined for comparisons."""
        from flowyml.store.canonical import is_plain

        d = super().describe()
        if is_plain(self.data):
            d["values"] = self.data
        return d


ASSET_KINDS: dict[str, type[Asset]] = {cls.kind: cls for cls in (Asset, Dataset, Model, Metrics)}


def rebuild_asset(description: dict, data: Any) -> Asset:
    """Turn a manifest's asset record and the loaded data back into an asset."""
    cls = ASSET_KINDS.get(description.get("kind", "asset"), Asset)
    asset = cls.__new__(cls)
    Asset.__init__(asset, data, name=description.get("name"), metadata=description.get("metadata"))
    return asset


def _same(a: Any, b: Any) -> bool:
    if a is b:
        return True
    try:
        eq = a == b
        return bool(eq) if isinstance(eq, bool) else bool(getattr(eq, "all", lambda: False)())
    except Exception:
        return False
