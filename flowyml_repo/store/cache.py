"""The cache index: a step's cache key -> the outputs its execution stored.

Entries are appended, one ``write`` each, to a log of this writer's own
(``<root>/cache/logs/<pid>-<random>.log``, a msgpack stream of ``[key, entry]``;
``entry`` None deletes the key) and read back all at once: one file create per
run instead of one per step (a small-file create costs 90-170 us here, a
third of a step's budget). When logs pile up a reader folds them into
``<root>/cache/pack.msgpack``. Later records win over earlier ones, and the
pack is older than every log.

Runs share one index per store in a process (:func:`shared_index`): reading
the whole index costs 1-3 us an entry (1.4-4 ms for 1,500 entries here, ~4 us a
step of a 500-step cached rerun), so a later run in the same process reads only
what was appended since (:meth:`CacheIndex.refresh`).

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

from flowyml.store.recordlog import open_log, pack_record, read_records_from

#: Fold the logs into the pack when a reader finds more than this many.
COMPACT_AFTER_LOGS = 32
#: Logs touched more recently than this may still be appended to: never deleted.
ACTIVE_SECONDS = 120.0
#: How many stores' indexes :func:`shared_index` keeps (forgetting one costs a re-read).
SHARED_INDEXES = 8

_shared: dict[str, CacheIndex] = {}
_shared_lock = threading.Lock()


def shared_index(root: str | os.PathLike[str]) -> CacheIndex:
    """This process's index of the store at ``root``, up to date with every writer.

    The runner's: each run refreshes it instead of reading the whole index again.
    Its log is closed at the end of each run (:meth:`CacheIndex.close`), so no
    descriptor stays open between runs.

    Args:
        root: the store root.
    """
    path = os.path.abspath(root)
    with _shared_lock:
        index = _shared.pop(path, None) or CacheIndex(path)
        _shared[path] = index  # most recently used last
        while len(_shared) > SHARED_INDEXES:
            del _shared[next(iter(_shared))]
    index.refresh()
    return index


def _forget_shared() -> None:
    """In a forked child: no shared index (an inherited one would append to its parent's log)."""
    global _shared_lock
    _shared.clear()
    _shared_lock = threading.Lock()  # it may have been held by another thread at the fork


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_shared)


class CacheIndex:
    """Maps cache keys to cache entries (plain dicts).

    Reads see the index as it was when this instance last read it (the first
    :meth:`get`, :meth:`refresh`, :meth:`keys`), plus its own writes. Safe to share
    between threads.

    Args:
        root: the store root (the folder holding ``objects/``).
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root) / "cache"
        self._logs = self.root / "logs"
        self._pack = self.root / "pack.msgpack"
        self._entries: dict[str, dict] | None = None
        # What the entries were read from: each log's path -> the bytes read of it,
        # and the pack's (inode, size, mtime); see refresh().
        self._read_upto: dict[str, int] = {}
        self._pack_stamp: tuple[int, int, int] | None = None
        self._fd: int | None = None
        self._log: str | None = None  # this writer's log
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

    def refresh(self) -> None:
        """Take in what other writers did since this instance last read the index.

        Reads only the records appended to the logs since (one folder scan when
        there are none); reads everything again when the pack was rewritten or a
        log it read was deleted or truncated. Nothing to do before the first read.
        """
        with self._lock:
            if self._entries is None:
                return
            logs = self._log_files()
            sizes = {path: size for path, _mtime, size in logs}
            if self._pack_stamp != _stamp(self._pack) or any(
                    sizes.get(path, -1) < read for path, read in self._read_upto.items()):
                # compacted, or a log it read was deleted or truncated
                self._entries = self._read_all(compact=True)
                return
            for path, _mtime, size in logs:
                if size > self._read_upto.get(path, 0):
                    self._apply_log(self._entries, path)

    def close(self) -> None:
        """Close this writer's log (the next write starts a new one)."""
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
                self._log = os.path.join(self._logs, f"{os.getpid()}-{os.urandom(4).hex()}.log")
                self._fd = open_log(self._log)
            os.write(self._fd, data)
            if self._entries is not None:
                if entry is None:
                    self._entries.pop(key, None)
                else:
                    self._entries[key] = entry
                # Applied already: refresh() need not read it back.
                self._read_upto[self._log] = self._read_upto.get(self._log, 0) + len(data)

    # -- reading ------------------------------------------------------------------------

    def _read_all(self, compact: bool) -> dict[str, dict]:
        self._pack_stamp = _stamp(self._pack)
        entries = _read_pack(self._pack)
        logs = self._log_files()
        self._read_upto = {}
        for path, _mtime, _size in logs:
            self._apply_log(entries, path)
        if compact and len(logs) > COMPACT_AFTER_LOGS:
            self._compact(entries, logs)
        return entries

    def _apply_log(self, entries: dict[str, dict], path: str) -> None:
        """Apply the records of the log at ``path`` that this instance has not read yet."""
        records, self._read_upto[path] = read_records_from(path, self._read_upto.get(path, 0))
        for record in records:
            if isinstance(record, list) and len(record) == 2:
                key, entry = record
                if entry is None:
                    entries.pop(key, None)
                else:
                    entries[key] = entry

    def _log_files(self) -> list[tuple[str, float, int]]:
        """``(path, mtime, size)`` of every log, oldest first (later records win)."""
        try:
            scan = os.scandir(self._logs)
        except FileNotFoundError:
            return []
        with scan:
            found = []
            for e in scan:
                if e.name.endswith(".log"):
                    st = e.stat()
                    found.append((e.path, st.st_mtime, st.st_size))
        return sorted(found, key=lambda item: item[1])

    def _compact(self, entries: dict[str, dict], logs: list[tuple[str, float, int]]) -> None:
        """Write everything into the pack, then drop the logs no writer can still be using."""
        import msgpack

        tmp = f"{self._pack}.{os.getpid()}.{threading.get_ident()}.tmp"
        try:
            with open(tmp, "wb") as f:
                f.write(msgpack.packb(entries, use_bin_type=True))
            os.replace(tmp, self._pack)
        except OSError:
            return  # a read-only store: keep reading the logs
        self._pack_stamp = _stamp(self._pack)
        quiet_before = time.time() - ACTIVE_SECONDS
        for path, mtime, _size in logs:
            if mtime < quiet_before and path != self._log:
                try:
                    os.unlink(path)
                except OSError:
                    pass
                else:
                    self._read_upto.pop(path, None)


def _read_pack(path: Path) -> dict[str, dict]:
    import msgpack

    try:
        with open(path, "rb") as f:
            data = msgpack.unpackb(f.read(), raw=False, strict_map_key=False)
    except Exception:  # missing or damaged: the logs and the manifests still hold it all
        return {}
    return data if isinstance(data, dict) else {}


def _stamp(path: Path) -> tuple[int, int, int] | None:
    """What tells one version of a file from another: (inode, size, mtime); None if missing."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_ino, st.st_size, st.st_mtime_ns
