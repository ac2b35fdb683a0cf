"""The cache index: a step's cache key -> the outputs its execution stored.

Entries are appended, one ``write`` each, to a log of this writer's own
(``<root>/cache/logs/<pid>-<random>.log``, a msgpack stream of ``[key, entry]``;
``entry`` None deletes the key) and read back all at once: one file create per
run instead of one per step (a small-file create costs 90-170 us here, a
third of a step's budget). When logs pile up a reader folds them into
``<root>/cache/pack.msgpack``. Later records win over earlier ones, and the
pack is older than every log.

It is derived data (DESIGN.md invariant 6): every entry is also in the
manifest of the run that wrote it, an entry whose objects are gone is treated
as a miss by the runner, and a lost or torn record only costs a re-execution.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterable
from pathlib import Path

from flowyml.store.recordlog import open_log, pack_record, read_records

#: Fold the logs into the pack when a reader finds more than this many.
COMPACT_AFTER_LOGS = 32
#: Logs touched more recently than this may still be appended to: never deleted.
ACTIVE_SECONDS = 120.0


class CacheIndex:
    """Maps cache keys to cache entries (plain dicts).

    Reads see the index as it was when first read by this instance, plus this
    instance's own writes; :meth:`keys` re-reads. Safe to share between threads.

    Args:
        root: the store root (the folder holding ``objects/``).
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root) / "cache"
        self._logs = self.root / "logs"
        self._pack = self.root / "pack.msgpack"
        self._entries: dict[str, dict] | None = None
        self._fd: int | None = None
        self._lock = threading.Lock()

    def get(self, key: str) -> dict | None:
        """The entry stored under ``key``, or None."""
        entries = self._entries
        if entries is None:
            with self._lock:
                if self._entries is None:
                    self._entries = self._read_all(compact=True)
                entries = self._entries
        return entries.get(key)

    def put(self, key: str, entry: dict) -> None:
        """Store ``entry`` under ``key`` (one append to this writer's log)."""
        self._append(key, entry)

    def delete(self, key: str) -> None:
        """Forget ``key`` (no error when absent)."""
        self._append(key, None)

    def keys(self) -> Iterable[str]:
        """Every key in the index, read afresh."""
        with self._lock:
            self._entries = self._read_all(compact=False)
            return list(self._entries)

    def close(self) -> None:
        """Close this writer's log (reopened on the next write)."""
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # interpreter shutdown
            pass

    # -- writing ------------------------------------------------------------------------

    def _append(self, key: str, entry: dict | None) -> None:
        data = pack_record([key, entry])
        with self._lock:
            if self._fd is None:
                self._fd = self._open_log()
            os.write(self._fd, data)
            if self._entries is not None:
                if entry is None:
                    self._entries.pop(key, None)
                else:
                    self._entries[key] = entry

    def _open_log(self) -> int:
        return open_log(self._logs / f"{os.getpid()}-{os.urandom(4).hex()}.log")

    # -- reading ------------------------------------------------------------------------

    def _read_all(self, compact: bool) -> dict[str, dict]:
        entries = _read_pack(self._pack)
        logs = self._log_files()
        for path, _mtime in logs:
            for key, entry in _read_log(path):
                if entry is None:
                    entries.pop(key, None)
                else:
                    entries[key] = entry
        if compact and len(logs) > COMPACT_AFTER_LOGS:
            self._compact(entries, logs)
        return entries

    def _log_files(self) -> list[tuple[str, float]]:
        try:
            scan = os.scandir(self._logs)
        except FileNotFoundError:
            return []
        with scan:
            found = [(e.path, e.stat().st_mtime) for e in scan if e.name.endswith(".log")]
        return sorted(found, key=lambda item: item[1])  # oldest first: later records win

    def _compact(self, entries: dict[str, dict], logs: list[tuple[str, float]]) -> None:
        """Write everything into the pack, then drop the logs no writer can still be using."""
        import msgpack

        tmp = f"{self._pack}.{os.getpid()}.{threading.get_ident()}.tmp"
        try:
            with open(tmp, "wb") as f:
                f.write(msgpack.packb(entries, use_bin_type=True))
            os.replace(tmp, self._pack)
        except OSError:
            return  # a read-only store: keep reading the logs
        quiet_before = time.time() - ACTIVE_SECONDS
        for path, mtime in logs:
            if mtime < quiet_before:
                try:
                    os.unlink(path)
                except OSError:
                    pass


def _read_pack(path: Path) -> dict[str, dict]:
    import msgpack

    try:
        with open(path, "rb") as f:
            data = msgpack.unpackb(f.read(), raw=False, strict_map_key=False)
    except Exception:  # missing or damaged: the logs and the manifests still hold it all
        return {}
    return data if isinstance(data, dict) else {}


def _read_log(path: str) -> list[tuple[str, dict | None]]:
    return [(r[0], r[1]) for r in read_records(path) if isinstance(r, list) and len(r) == 2]
