"""Append-only msgpack record logs: the one format behind journals, the cache
index's logs, the commit log and the lineage log.

A record is appended with a single ``write`` on an ``O_APPEND`` descriptor, so
concurrent writers never interleave a record and a killed writer leaves at most
one torn record at the end, which :func:`read_records` drops. None of these logs
is ever hashed, so records are packed as they come (no canonical sort).
"""

from __future__ import annotations

import os
from typing import Any


def pack_record(record: Any) -> bytes:
    """The bytes of one record."""
    import msgpack

    return msgpack.packb(record, use_bin_type=True)


def open_log(path: str | os.PathLike[str]) -> int:
    """An ``O_APPEND`` descriptor on the log at ``path`` (its folder is created)."""
    try:
        return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    except FileNotFoundError:
        os.makedirs(os.path.dirname(os.fspath(path)), exist_ok=True)
        return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)


def append_record(path: str | os.PathLike[str], record: Any) -> None:
    """Append one record to the log at ``path`` (open, one write, close)."""
    fd = open_log(path)
    try:
        os.write(fd, pack_record(record))
    finally:
        os.close(fd)


def read_records(path: str | os.PathLike[str]) -> list[Any]:
    """Every complete record of the log at ``path``, in order ([] when there is none)."""
    import msgpack

    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return []
    unpacker = msgpack.Unpacker(raw=False, strict_map_key=False)
    unpacker.feed(data)
    records = []
    try:
        for record in unpacker:
            records.append(record)
    except Exception:  # a torn tail from a killed writer: the records before it stand
        pass
    return records
