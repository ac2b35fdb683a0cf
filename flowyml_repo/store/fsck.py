"""Checking the object store and the history against each other.

``check_store`` re-hashes every object (an object whose bytes no longer hash to
its name is corrupt), then checks that every object named by the history — each
output of each run manifest, each registry entry (see :mod:`flowyml.store.gc` for
how names are found) — is in the store. It only reads; repairing means re-running
the step that produced an object, or pulling it from a remote.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from flowyml.errors import ObjectNotFound
from flowyml.store.gc import history_references
from flowyml.store.objects import ObjectStore

if TYPE_CHECKING:
    from flowyml.store.history import History

CORRUPT, MISSING, UNREADABLE = "corrupt", "missing", "unreadable"


@dataclass(frozen=True)
class Fault:
    """One problem found.

    Attributes:
        kind: "corrupt" (bytes do not hash to the oid), "missing" (named by the
            history, absent from the store) or "unreadable" (an object or a history
            commit that could not be read).
        oid: the object (or commit) concerned.
        detail: the path, the hash found, or where the object is named.
    """

    kind: str
    oid: str
    detail: str

    def __str__(self) -> str:
        return f"{self.kind} {self.oid}: {self.detail}"


@dataclass(frozen=True)
class FsckReport:
    """The outcome of :func:`check_store`.

    Attributes:
        objects: objects re-hashed.
        bytes: their total size.
        references: distinct objects named by the history.
        faults: every problem found, corrupt objects first.
    """

    objects: int
    bytes: int
    references: int
    faults: tuple[Fault, ...]

    @property
    def ok(self) -> bool:
        return not self.faults

    def to_dict(self) -> dict:
        """Plain values, for ``--json``."""
        return {"ok": self.ok, "objects": self.objects, "bytes": self.bytes, "references": self.references,
                "faults": [{"kind": f.kind, "oid": f.oid, "detail": f.detail} for f in self.faults]}


def check_store(store_root: str | os.PathLike[str], history: History | None = None, *,
                progress: Callable[[int, int], None] | None = None) -> FsckReport:
    """Re-hash every object and check that everything the history names is stored.

    Args:
        store_root: the store folder (holding ``objects/``).
        history: the history whose references to check (None: objects only).
        progress: called with (objects checked, objects in all) as it goes.

    Returns:
        The :class:`FsckReport`; ``report.ok`` is False on any fault.
    """
    store = ObjectStore(store_root)
    faults: list[Fault] = []
    oids = list(store.iter_oids())
    total = 0
    for done, oid in enumerate(oids, 1):
        fault, size = _check_object(store, oid)
        total += size
        if fault is not None:
            faults.append(fault)
        if progress is not None:
            progress(done, len(oids))
    references = 0
    if history is not None:
        present = set(oids)
        unreadable: list[str] = []
        named: dict[str, list[str]] = {}
        for ref in history_references(history, unreadable=unreadable):
            named.setdefault(ref.oid, []).append(ref.where)
        references = len(named)
        for oid, places in sorted(named.items()):
            if oid not in present:
                more = f" (and {len(places) - 1} more)" if len(places) > 1 else ""
                faults.append(Fault(MISSING, oid, f"named by {places[0]}{more}"))
        faults += [Fault(UNREADABLE, where.rsplit("@", 1)[-1], f"history commit {where} cannot be read")
                   for where in unreadable]
    return FsckReport(len(oids), total, references, tuple(faults))


def _check_object(store: ObjectStore, oid: str) -> tuple[Fault | None, int]:
    path = store.path(oid)
    try:
        size = os.path.getsize(path)
        ok = store.verify(oid)
    except ObjectNotFound:
        return None, 0  # removed while we looked (a gc): nothing left to be wrong
    except OSError as exc:
        return Fault(UNREADABLE, oid, f"{path}: {exc.strerror}"), 0
    if ok:
        return None, size
    return Fault(CORRUPT, oid, f"{path} hashes to {_hash_of(path, size)}"), size


def _hash_of(path: os.PathLike[str], size: int) -> str:
    """The blake3 of a file's bytes (memory-mapped: objects can be large)."""
    import mmap

    from flowyml.store.canonical import digest

    if size == 0:
        return digest(b"")
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
        return digest(data)
