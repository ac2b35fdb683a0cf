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

from flowyml.store.canonical import digest, is_plain, pack

KEY_FORMAT = 2


def cache_key(code: str, inputs: dict[str, str], params: dict[str, Any],
              outputs: list[str], cache_version: str | None) -> tuple[str, dict]:
    """The cache key of one step execution and the parts it was made of.

    Args:
        code: the step's code fingerprint.
        inputs: parameter name -> oid of the value fed to it.
        params: context parameter name -> value received.
        outputs: the declared output names (they shape how the value is split).
        cache_version: the step's pinned cache version, if any.

    Returns:
        ``(key, parts)``; ``parts`` is recorded in the manifest so a diff can say
        which part of a key changed.
    """
    tokens = {name: param_token(value) for name, value in params.items()}
    config = {"outputs": list(outputs), "cache_version": cache_version}
    # inputs map names to oids (strings): sorting the items is all canonical packing would do
    head = msgpack.packb([KEY_FORMAT, code, sorted(inputs.items()), list(outputs), cache_version])
    key = digest(head + pack(tokens)) if tokens else digest(head)
    return key, {"code": code, "inputs": dict(inputs), "params": tokens, "config": config}


def param_token(value: Any) -> Any:
    """A stable, comparable stand-in for a context value inside a key."""
    if is_plain(value):
        return value
    from flowyml.execution.fingerprint import value_token

    token = value_token(value)
    return token if isinstance(token, str) else digest(token)
