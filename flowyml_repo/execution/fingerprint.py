"""Code fingerprints: the part of a step's cache key that comes from its code.

``code_fingerprint(fn)`` is a blake3 hex digest that changes when, and only when,
something that can change what ``fn`` returns changes (DESIGN.md invariant 3):

* its **bytecode**, normalised: no line numbers, file name, first line, or the
  ``NOP``\\ s that only keep line events apart, so comments, blank lines,
  docstrings and reformatting do not count; jump targets and the exception table
  are renumbered over the remaining instructions. Nested code (lambdas,
  comprehensions, inner functions) is included the same way. Local variable
  names do count (they are in ``co_varnames``; argument names are observable).
* its **default arguments**, keyword-only defaults and **closure values**;
* everything it **references through its globals**: each ``LOAD_GLOBAL`` chain
  (``helpers.clean``, ``cfg.THRESHOLD``, ``np``) is resolved in
  ``fn.__globals__`` and walked through project-local modules; names imported
  inside the body (``from helpers import clean``, ``import helpers``) too.
  Project-local functions and classes are fingerprinted recursively (cycles and
  shared helpers are visited once); library ones are named by
  ``module:qualname`` plus their top-level package's ``__version__``, never by
  their code. Modules imported *inside* a function body are named without the
  version, so the key does not depend on whether they were imported yet.
* the Python implementation and ``major.minor`` version, since bytecode is per
  version.

Choices worth knowing:

* A function's own name, qualname and module are **not** part of it: renaming a
  step or moving it to another file keeps its cache. A class's qualname is,
  since instances (and so outputs) carry it.
* Values are tokenised canonically: plain values by content (dicts and sets
  sorted, so hash seeds do not matter), numpy arrays and pandas frames by their
  bytes, enums by class and name, other objects by ``__reduce_ex__`` (the state
  pickle would save, without pickling), else by ``repr`` when it holds no memory
  address. Anything left (a lock, a generator) is **unhashable**: it is
  identified by its type alone, which keeps the fingerprint deterministic but
  blind to that object's state. ``fingerprint_details`` lists such values so a
  caller can warn.
* Wrappers (``functools.wraps`` / ``__wrapped__``) are seen through: a project-local
  wrapper counts like any function (its closure holds the wrapped function and the
  decorator's arguments); a library wrapper counts by its name, the wrapped function
  and the config it exposes (``cache_parameters()`` of ``functools.lru_cache``).
* Only attributes named in the code are followed through a module: a local module
  passed around whole (``getattr(helpers, name)``) counts by its name only.
* Per-code-object work (disassembly, normalisation, finding references) is
  memoised: code objects are immutable, so a step defined 500 times in a loop is
  disassembled once; globals, defaults and closures are re-read on every call. A
  function's whole digest is memoised too, but only while everything it reads
  besides its code is the very same immutable objects (see ``tokens.function_digest``).

The work is split by verb: ``bytecode`` decodes and normalises code objects,
``references`` finds and resolves what they name, ``locality`` tells project code
from library code, and ``tokens`` writes the canonical bytes that are hashed.

"Project-local" means defined in ``__main__``, in a module without a file, or in
a file outside the interpreter's prefixes, the standard library and
site-packages. flowyml itself counts as a library.
"""

from __future__ import annotations

import types
from typing import Any, NamedTuple

# Internals that tests pin (``_instructions_311``, ``_function_is_local``, ...) stay
# importable here under the names they had before this module was split.
from flowyml.execution.bytecode import (  # noqa: F401
    LOAD_CONST as _LOAD_CONST,
    _GLOBAL_LOADS_311,
    _JUMP_OPS,
    _LOCAL_OPS_311,
    _NAME_OPS_311,
    _instructions_311,
    _instructions_dis,
)
from flowyml.execution.locality import function_is_local as _function_is_local  # noqa: F401
from flowyml.execution.locality import library_roots
from flowyml.execution.locality import module_is_local as _module_is_local  # noqa: F401
from flowyml.execution.tokens import _FORMAT, Encoder, function_digest  # noqa: F401

__all__ = ["CodeFingerprint", "code_fingerprint", "fingerprint_details", "library_roots", "value_token"]


class CodeFingerprint(NamedTuple):
    """A fingerprint and what it could not see.

    A named tuple rather than a dataclass: a dataclass costs ~0.5 ms of import time,
    paid inside a fresh process's first run().

    Attributes:
        digest: blake3 hex digest, as returned by ``code_fingerprint``.
        unhashable: one ``"<where>: <type>"`` line per value identified only by its
            type (its state cannot change the digest), in traversal order.
    """

    digest: str
    unhashable: tuple[str, ...] = ()


def code_fingerprint(fn: Any) -> str:
    """The fingerprint of a step function's code and everything it depends on.

    Args:
        fn: a function (or any callable: a bound method, a ``functools.partial``,
            a callable object).

    Returns:
        A 64-character blake3 hex digest, equal across processes and runs for the
        same code, defaults, closure values and referenced globals.
    """
    if type(fn) is types.FunctionType:
        return function_digest(fn)
    return fingerprint_details(fn).digest


def fingerprint_details(fn: Any) -> CodeFingerprint:
    """``code_fingerprint`` plus the values it could only identify by type.

    Args:
        fn: as for ``code_fingerprint``.

    Returns:
        A ``CodeFingerprint``.
    """
    encoder = Encoder()
    digest = encoder.digest(fn)
    return CodeFingerprint(digest, tuple(encoder.unhashable))


def value_token(value: Any) -> str:
    """A stable blake3 hex digest of any value, tokenised as fingerprints tokenise globals.

    Args:
        value: a context value, default or constant; functions inside it count by
            their fingerprint.

    Returns:
        A 64-character hex digest.
    """
    return Encoder().digest(value)
