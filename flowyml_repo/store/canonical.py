"""Canonical msgpack and the blake3 digest: the two primitives every hash in flowyml uses.

``pack`` turns a plain value into bytes that depend only on the value, never on how it
was built: dict keys are sorted recursively (msgpack has no ``sort_keys``) and tuples are
packed as arrays, so ``unpack(pack((1, 2))) == [1, 2]``. Manifests, cache keys and run
records are packed with it, so equal records get equal oids.

``digest`` is the one hash function of the store: the blake3 hex digest (64 characters)
of a bytes-like object.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import blake3
import msgpack

from flowyml.errors import CodecError

__all__ = ["digest", "digest_chunks", "is_plain", "pack", "unpack"]

# Above this size blake3's multithreaded mode pays for its thread start-up (measured here:
# 160 MB hashes in 27 ms on one thread, 14 ms with max_threads=AUTO; a 10 KB input is
# slower threaded).
_THREADED_HASH_BYTES = 1 << 20

_SCALARS = frozenset({type(None), bool, int, float, str, bytes})
_INT_MIN = -(1 << 63)
_INT_MAX = (1 << 64) - 1  # msgpack's uint64


def is_plain(value: Any) -> bool:
    """Tell whether a value is made only of msgpack-native types.

    Plain means: None, bool, int (within msgpack's 64-bit range), float, str, bytes, and
    lists, tuples and str-keyed dicts of plain values, recursively. Exact types are
    required, so subclasses (enums, named tuples, ``OrderedDict``, numpy scalars) are not
    plain: storing them as msgpack would change their type on the way back.

    Args:
        value: any Python value.

    Returns:
        True if ``value`` is plain; False otherwise (also for self-referencing values).
    """
    try:
        return _is_plain(value)
    except RecursionError:
        return False


def _is_plain(value: Any) -> bool:
    kind = type(value)
    if kind in _SCALARS:
        return kind is not int or _INT_MIN <= value <= _INT_MAX
    if kind is list or kind is tuple:
        return all(_is_plain(item) for item in value)
    if kind is dict:
        return all(type(k) is str and _is_plain(v) for k, v in value.items())
    return False


def pack(value: Any) -> bytes:
    """Pack a value as canonical msgpack.

    Dicts are written with their keys sorted (recursively), tuples as arrays, so two
    equal values always give the same bytes whatever order their dicts were filled in.

    Args:
        value: a plain value (see ``is_plain``); str, bytes and int dict keys are sorted,
            str keys first.

    Returns:
        The msgpack bytes.

    Raises:
        CodecError: if the value holds something msgpack cannot pack.
    """
    try:
        if type(value) in _SCALARS:  # fast path: no containers, nothing to sort
            return msgpack.packb(value)
        return msgpack.packb(_sorted(value))
    except (TypeError, ValueError, OverflowError) as exc:
        raise CodecError(f"cannot pack {type(value).__name__} as canonical msgpack: {exc}") from exc


def _sorted(value: Any) -> Any:
    kind = type(value)
    if kind is dict or isinstance(value, dict):
        return {k: _sorted(value[k]) for k in sorted(value, key=_key_order)}
    if kind is list or kind is tuple or isinstance(value, (list, tuple)):
        return [_sorted(item) for item in value]
    return value


def _key_order(key: Any) -> tuple[int, Any]:
    # Mixed key types cannot be compared directly; group them by kind first.
    if isinstance(key, str):
        return (0, key)
    if isinstance(key, bytes):
        return (1, key)
    if isinstance(key, (int, float)):
        return (2, key)
    raise TypeError(f"dict key {key!r} of type {type(key).__name__} is not str, bytes or int")


def unpack(data: bytes | bytearray | memoryview) -> Any:
    """Unpack msgpack bytes written by ``pack``.

    Args:
        data: the packed bytes.

    Returns:
        The value; arrays come back as lists.

    Raises:
        CodecError: if ``data`` is not one complete msgpack value.
    """
    try:
        return msgpack.unpackb(data, raw=False, strict_map_key=False)
    except (ValueError, TypeError, msgpack.UnpackException) as exc:
        raise CodecError(f"bytes are not valid msgpack: {exc}") from exc


def digest(data: bytes | bytearray | memoryview) -> str:
    """Return the blake3 hex digest (64 characters) of a bytes-like object.

    Args:
        data: the bytes to hash; any object supporting the buffer protocol.

    Returns:
        The lowercase hex digest, the object id of bytes stored as-is.
    """
    size = data.nbytes if isinstance(data, memoryview) else len(data)
    if size > _THREADED_HASH_BYTES:
        return blake3.blake3(data, max_threads=blake3.blake3.AUTO).hexdigest()
    return blake3.blake3(data).hexdigest()


def digest_chunks(chunks: Iterable[Any], total: int | None = None) -> str:
    """Return the digest of the concatenation of several bytes-like chunks.

    Equal to ``digest(b"".join(chunks))`` without joining them.

    Args:
        chunks: bytes-like objects, hashed in order.
        total: their combined size if known; chooses multithreaded hashing above 1 MB.

    Returns:
        The lowercase hex blake3 digest.
    """
    threaded = total is None or total > _THREADED_HASH_BYTES
    hasher = blake3.blake3(max_threads=blake3.blake3.AUTO) if threaded else blake3.blake3()
    for chunk in chunks:
        hasher.update(chunk)
    return hasher.hexdigest()
