"""Cache keys: the hash of everything that can change a step's outputs.

key = blake3(canonical msgpack of {code fingerprint, input oids, the context
values the step receives, its output-shaping config}). Inputs enter by oid, so
a key never needs the input data re-read (DESIGN.md invariant 3). Files the
step reads with ``open`` are checked separately, against the digests recorded
in its cache entry.
"""

from __future__ import annotations

from typing import Any

import msgpack

from flowyml.manifest import plain
from flowyml.store.canonical import digest, is_plain, pack

KEY_FORMAT = 2

# Keys of steps that receive no context values, by what they are made of: a rerun in
# the same process (a notebook's second run) finds every key here, 0.9 us instead of
# 2.2 us a step (packing and hashing skipped; measured). Bounded like the fingerprint memos.
_KEYS: dict[tuple, str] = {}
_KEYS_LIMIT = 8192


def cache_key(code: str, inputs: dict[str, str], params: dict[str, Any],
              outputs: list[str], cache_version: str | None) -> tuple[str, dict]:
    """The cache key of one step execution and the parts it was made of.

    Args:
        code: the step's code fingerprint.
        inputs: parameter name -> oid of the value fed to it (kept in the parts).
        params: context parameter name -> value received.
        outputs: the declared output names (they shape how the value is split).
        cache_version: the step's pinned cache version, if any.

    Returns:
        ``(key, parts)``; ``parts`` is recorded in the manifest so a diff can say
        which part of a key changed (its context values in plain form, see
        :func:`flowyml.manifest.plain`).
    """
    parts = {"code": code, "inputs": inputs, "params": {name: plain(value) for name, value in params.items()},
             "config": {"outputs": list(outputs), "cache_version": cache_version}}
    # inputs map names to oids (strings): sorting the items is all canonical packing would do
    inputs_sorted = sorted(inputs.items())
    if params:
        tokens = {name: param_token(value) for name, value in params.items()}
        return digest(_head(code, inputs_sorted, outputs, cache_version) + pack(tokens)), parts
    made_of = (code, tuple(inputs_sorted), tuple(outputs), cache_version)
    key = _KEYS.get(made_of)
    if key is None:
        if len(_KEYS) >= _KEYS_LIMIT:
            _KEYS.clear()
        key = _KEYS[made_of] = digest(_head(code, inputs_sorted, outputs, cache_version))
    return key, parts


def _head(code: str, inputs_sorted: list[tuple[str, str]], outputs: list[str], cache_version: str | None) -> bytes:
    return msgpack.packb([KEY_FORMAT, code, inputs_sorted, outputs, cache_version])


def param_token(value: Any) -> Any:
    """A stable, comparable stand-in for a context value inside a key."""
    if is_plain(value):
        return value
    from flowyml.execution.fingerprint import value_token

    token = value_token(value)
    return token if isinstance(token, str) else digest(token)
