"""Reachability and garbage collection for the object store.

An object is *reachable* when something that must keep working names it:

* a file in any commit reachable from a ref under ``refs/flowyml/`` (every run
  manifest of every run ref, registry and catalog entries, …);
* the checkpoint journal of a run in progress (``<store>/runs/*.journal``: a run
  that finished is in the history and its journal is gone; a journal left by a
  killed run keeps its objects until that run is resumed or the journal deleted).

The history and journals are read by one convention, so this layer needs to know
nothing about their formats: **an object is named by a JSON/msgpack mapping whose
``"oid"`` is an object id** (with its ``"codec"`` beside it) — the shape of every
output record, registry entry and cache entry.

``collect_garbage`` removes every other object older than a grace period (a step
in flight has written its outputs but not yet journaled them; git's ``prune``
keeps a grace period for the same reason), and the cache entries that point at
removed or already missing objects: the cache is derived data (DESIGN invariant 6).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flowyml.errors import ObjectNotFound
from flowyml.store.cache import CacheIndex
from flowyml.store.objects import ObjectStore, is_oid
from flowyml.store.refnames import ROOT

if TYPE_CHECKING:
    from flowyml.store.history import History

#: Unreachable objects younger than this many seconds are kept by default.
DEFAULT_GRACE = 3600.0


@dataclass(frozen=True)
class ObjectReference:
    """One place that names an object.

    Attributes:
        oid: the object named.
        codec: the codec recorded beside it (None if none was).
        where: a readable location, e.g. ``refs/flowyml/runs/train@1a2b3c4d:manifest.json``.
    """

    oid: str
    codec: str | None
    where: str


def named_objects(value: Any, where: str) -> Iterator[ObjectReference]:
    """Every ``{"oid": <object id>, "codec": ...}`` mapping inside a plain value."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            oid = item.get("oid")
            if is_oid(oid):
                codec = item.get("codec")
                yield ObjectReference(oid, codec if isinstance(codec, str) else None, where)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def history_references(history: History, tips: Iterable[str] | None = None,
                       labels: dict[str, str] | None = None,
                       unreadable: list[str] | None = None) -> Iterator[ObjectReference]:
    """The objects named by the commits reachable from ``tips``.

    Args:
        history: the history repository.
        tips: commit ids to walk from (default: the tip of every ref under ``refs/flowyml/``).
        labels: tip -> a label (a ref name) for ``where``; defaults to the refs' names.
        unreadable: if given, commits that cannot be read are appended to it and
            skipped; otherwise reading one raises.

    Yields:
        One reference per naming, commits and trees each visited once.

    Raises:
        ObjectNotFound: a commit or tree is missing (a shallow or damaged
            repository) and ``unreadable`` is None.
    """
    if tips is None:
        refs = history.refs(ROOT)
        labels = {sha: ref for ref, sha in sorted(refs.items(), reverse=True)}
        tips = list(refs.values())
    labels = labels or {}
    seen: set[str] = set()
    trees: set[str] = set()
    for tip in tips:
        label = labels.get(tip, tip[:12])
        pending = [tip]
        while pending:
            sha = pending.pop()
            if sha in seen:
                continue
            seen.add(sha)
            try:
                info = history.commit(sha)
                files = {} if info.tree in trees else history.read_tree_files(sha)
            except ObjectNotFound:
                if unreadable is None:
                    raise
                unreadable.append(f"{label}@{sha[:8]}")
                continue
            pending.extend(info.parents)
            trees.add(info.tree)
            for path, data in files.items():
                yield from _file_references(path, data, f"{label}@{sha[:8]}:{path}")


def _file_references(path: str, data: bytes, where: str) -> Iterator[ObjectReference]:
    if not path.endswith(".json"):
        return
    try:
        value = json.loads(data)
    except ValueError:
        return  # not one of ours: it names nothing we know how to read
    yield from named_objects(value, where)


def journal_references(store_root: str | os.PathLike[str]) -> tuple[list[ObjectReference], list[str]]:
    """The objects named by the journals of runs in progress, and those runs' ids."""
    from flowyml.store.journal import Journal

    runs_dir = Path(store_root) / "runs"
    refs: list[ObjectReference] = []
    run_ids: list[str] = []
    if not runs_dir.is_dir():
        return refs, run_ids
    for path in sorted(runs_dir.glob("*.journal")):
        run_id = path.name[: -len(".journal")]
        run_ids.append(run_id)
        for record in Journal(store_root, run_id).read():
            refs.extend(named_objects(record, f"journal {run_id}"))
    return refs, run_ids


@dataclass(frozen=True)
class GcReport:
    """What a garbage collection removed (or, in a dry run, would remove).

    Attributes:
        dry_run: nothing was removed.
        removed: ``(oid, size)`` of each object removed.
        bytes: their total size.
        reachable: objects kept because something names them.
        recent: unreachable objects kept because they are younger than the grace period.
        cache_entries: cache entries removed with their objects.
        temp_files: temp files of killed writers removed.
        in_progress: run ids whose journals protected their objects.
    """

    dry_run: bool
    removed: tuple[tuple[str, int], ...]
    bytes: int
    reachable: int
    recent: int
    cache_entries: int
    temp_files: int
    in_progress: tuple[str, ...]

    def to_dict(self) -> dict:
        """Plain values, for ``--json``."""
        return {"dry_run": self.dry_run, "removed": [{"oid": o, "size": s} for o, s in self.removed],
                "objects": len(self.removed), "bytes": self.bytes, "reachable": self.reachable,
                "recent": self.recent, "cache_entries": self.cache_entries, "temp_files": self.temp_files,
                "in_progress": list(self.in_progress)}


def collect_garbage(store_root: str | os.PathLike[str], history: History, *, dry_run: bool = False,
                    grace: float = DEFAULT_GRACE) -> GcReport:
    """Remove the objects of ``store_root`` that nothing reachable names.

    Only ``history`` is consulted: a store shared by several histories (several
    repositories or stacks writing to one folder) must not be collected from one.

    Args:
        store_root: the store folder (holding ``objects/``).
        history: the history whose refs keep objects alive.
        dry_run: report what would go, remove nothing.
        grace: keep unreachable objects modified less than this many seconds ago.
            0 is safe only while no run is executing.

    Returns:
        The :class:`GcReport`.
    """
    store = ObjectStore(store_root)
    named = {r.oid for r in history_references(history)}
    journaled, in_progress = journal_references(store_root)
    named.update(r.oid for r in journaled)
    cutoff = time.time() - grace
    candidates: dict[str, int] = {}
    reachable = recent = 0
    for oid in store.iter_oids():
        if oid in named:
            reachable += 1
            continue
        try:
            st = os.stat(store.path(oid))
        except FileNotFoundError:
            continue
        if st.st_mtime > cutoff:
            recent += 1
        else:
            candidates[oid] = st.st_size
    cache_entries = _drop_cache_entries(CacheIndex(store_root), store, candidates, dry_run)
    # A run that started meanwhile may have taken a candidate from the cache (before its
    # entry went); it journals that at once, so look again before removing anything.
    journaled, started = journal_references(store_root)
    for ref in journaled:
        candidates.pop(ref.oid, None)
    removed = []
    for oid, size in sorted(candidates.items()):
        if dry_run or _unlink(store.path(oid)):
            removed.append((oid, size))
    temp_files = 0 if dry_run else store.clean_temp()
    return GcReport(dry_run, tuple(removed), sum(s for _, s in removed), reachable, recent, cache_entries,
                    temp_files, tuple(sorted(set(in_progress) | set(started))))


def _drop_cache_entries(cache: CacheIndex, store: ObjectStore, doomed: dict[str, int], dry_run: bool) -> int:
    """Remove cache entries naming a doomed or missing object; returns how many."""
    count = 0
    for key in list(cache.keys()):
        entry = cache.get(key)
        oids = [r.oid for r in named_objects(entry, "cache")] if entry is not None else []
        if entry is None or any(o in doomed or not store.has(o) for o in oids):
            count += 1
            if not dry_run:
                cache.delete(key)
    return count


def _unlink(path: Path) -> bool:
    try:
        os.unlink(path)
    except FileNotFoundError:
        return False
    return True
