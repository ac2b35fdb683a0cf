"""The cache index: a step's cache key -> the outputs its execution stored.

One small canonical-msgpack file per key at ``<root>/cache/ab/cdef…``, written
atomically. It is derived data (DESIGN.md invariant 6): every entry is also in
the manifest of the run that wrote it, and ``rebuild`` restores it from
manifests. An entry whose objects are gone is treated as a miss.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable
from pathlib import Path

from flowyml.store.canonical import pack, unpack


class CacheIndex:
    """Maps cache keys to cache entries (plain dicts).

    Args:
        root: the store root (the folder holding ``objects/``).
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root) / "cache"
        self._root = str(self.root)

    def _path(self, key: str) -> str:
        # plain strings: pathlib costs ~15 us per lookup, a third of a cached step
        return f"{self._root}/{key[:2]}/{key[2:]}"

    def get(self, key: str) -> dict | None:
        """The entry stored under ``key``, or None (also for an unreadable entry)."""
        try:
            with open(self._path(key), "rb") as f:
                return unpack(f.read())
        except (FileNotFoundError, ValueError):
            return None
        except Exception:  # a truncated or foreign file is a miss, never a crash
            return None

    def put(self, key: str, entry: dict) -> None:
        """Store ``entry`` under ``key`` (atomic: temp file then ``os.replace``)."""
        path = self._path(key)
        data = pack(entry)
        tmp = f"{path}.{os.getpid()}.{threading.get_ident()}.tmp"
        try:
            f = open(tmp, "wb")
        except FileNotFoundError:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            f = open(tmp, "wb")
        with f:
            f.write(data)
        os.replace(tmp, path)

    def delete(self, key: str) -> None:
        """Forget ``key`` (no error when absent)."""
        try:
            os.unlink(self._path(key))
        except FileNotFoundError:
            pass

    def keys(self) -> Iterable[str]:
        """Every key in the index."""
        if not self.root.is_dir():
            return
        for sub in sorted(self.root.iterdir()):
            for f in sorted(sub.iterdir()):
                if not f.name.endswith(".tmp"):
                    yield sub.name + f.name
