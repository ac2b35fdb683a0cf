"""What a function refers to: reference chains found in its bytecode, and what they name now.

A chain is ``("g", name, attr, ...)`` for a global read (``helpers.clean``,
``cfg.THRESHOLD``, ``np``) or ``("m", level, module, attr, ...)`` for a module the
body imports (``from helpers import clean``, ``import helpers``). Chains come from the
code object alone, so they are memoised with it; resolving them against the
function's globals happens on every fingerprint, walking attributes only through
project-local modules. A library module imported inside a body is only named
(:class:`ModuleName`), never imported, so a key never depends on import order.
"""

from __future__ import annotations

import dis
import importlib
import importlib.util
import sys
import types
from typing import Any

from flowyml.execution.bytecode import LOAD_CONST, Instruction, ops
from flowyml.execution.locality import module_is_local, top_is_local

__all__ = ["ABSENT", "BUILTIN", "Marker", "ModuleName", "references", "resolve"]

_IMPORT_NAME = dis.opmap["IMPORT_NAME"]
_IMPORT_FROM = dis.opmap["IMPORT_FROM"]
_GLOBAL_LOADS = ops("LOAD_GLOBAL", "LOAD_NAME")
_ATTR_LOADS = ops("LOAD_ATTR", "LOAD_METHOD")
_LOCAL_LOADS = ops("LOAD_FAST", "LOAD_FAST_CHECK", "LOAD_FAST_BORROW", "LOAD_DEREF")
_STORES = ops("STORE_FAST", "STORE_DEREF", "STORE_NAME", "STORE_GLOBAL")


class Marker:
    """A sentinel that encodes as its fixed ``tag``."""

    __slots__ = ("tag",)

    def __init__(self, tag: bytes) -> None:
        self.tag = tag


ABSENT = Marker(b"!absent")      # a referenced name that is not defined
BUILTIN = Marker(b"!builtin")    # a builtin: fixed by the Python version in the header


class ModuleName:
    """A library module imported inside a function body: named, never versioned.

    There is one instance per name (see ``_module_name``), so instances compare by
    identity, as fingerprint memos do. A plain class: a dataclass costs ~0.4 ms of
    import time on every run's first key.
    """

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"ModuleName({self.name!r})"


_MODULE_NAMES: dict[str, ModuleName] = {}


def _module_name(name: str) -> ModuleName:
    found = _MODULE_NAMES.get(name)
    if found is None:
        found = _MODULE_NAMES[name] = ModuleName(name)
    return found


# --- finding reference chains ---------------------------------------------------------


def references(kept: list[Instruction]) -> set[tuple]:
    """Reference chains: ``("g", name, attr, ...)`` for globals, ``("m", level, module, attr, ...)``
    for modules imported in the body."""
    refs: set[tuple] = set()
    imports: dict[str, tuple[int, str]] = {}
    for k, ins in enumerate(kept):
        if ins[1] == _IMPORT_NAME:
            _import_refs(kept, k, refs, imports)
    chain: list | None = None
    for _, op, _, argval in kept:
        if op in _ATTR_LOADS and chain is not None:
            chain.append(argval)
            continue
        if chain is not None:
            refs.add(tuple(chain))
            chain = None
        if op in _GLOBAL_LOADS:
            chain = ["g", argval]
        elif op in _LOCAL_LOADS and argval in imports:
            chain = ["m", *imports[argval]]
    if chain is not None:
        refs.add(tuple(chain))
    return refs


def _import_refs(kept: list[Instruction], k: int, refs: set[tuple],
                 imports: dict[str, tuple[int, str]]) -> None:
    """Record ``import m`` / ``from m import a`` found at ``kept[k]`` (an IMPORT_NAME)."""
    level = kept[k - 2][3] if k >= 2 and kept[k - 2][1] == LOAD_CONST else 0
    fromlist = kept[k - 1][3] if k >= 1 and kept[k - 1][1] == LOAD_CONST else None
    module = kept[k][3]
    names, j = [], k + 1
    while j < len(kept) and (kept[j][1] == _IMPORT_FROM or kept[j][1] in _STORES):
        if kept[j][1] == _IMPORT_FROM:
            names.append(kept[j][3])
        elif not fromlist:  # ``import a.b as c`` stores a.b; ``import a.b`` stores a
            target = module if names else module.partition(".")[0]
            imports[kept[j][3]] = (level, target)
            refs.add(("m", level, target))
            return
        j += 1
    if fromlist:
        refs.update(("m", level, module, name) for name in names)
    else:
        refs.add(("m", level, module))


# --- resolving reference chains -----------------------------------------------------------


def resolve(chain: tuple, namespace: dict) -> Any:
    """The object a reference chain names now, walking attributes through local modules."""
    if chain[0] == "g":
        name = chain[1]
        if name in namespace:
            return _walk(namespace[name], chain, 2)
        builtins = namespace.get("__builtins__")
        if isinstance(builtins, dict):
            found = name in builtins
        else:
            found = hasattr(builtins, name)
        return BUILTIN if found else ABSENT
    module = _import_in_body(chain[1], chain[2], namespace)
    if not isinstance(module, types.ModuleType):
        return module
    return _walk(module, chain, 3)


def _walk(obj: Any, chain: tuple, i: int) -> Any:
    while i < len(chain) and isinstance(obj, types.ModuleType) and module_is_local(obj):
        name = chain[i]
        try:
            obj = getattr(obj, name)
        except AttributeError:
            obj = sys.modules.get(f"{obj.__name__}.{name}", ABSENT)
        i += 1
    return obj


def _import_in_body(level: int, name: str, namespace: dict) -> Any:
    """The module a function body imports: a local one is imported (the step would import
    it anyway), a library one is only named, so the key never depends on import order."""
    if level:
        package = namespace.get("__package__") or ""
        if not package:
            return ABSENT
        try:
            name = importlib.util.resolve_name("." * level + name, package)
        except (ImportError, ValueError):
            return ABSENT
    module = sys.modules.get(name)
    if module is not None:
        return module if module_is_local(module) else _module_name(name)
    if not top_is_local(name):
        return _module_name(name)
    try:
        return importlib.import_module(name)
    except Exception:  # noqa: BLE001 - the step itself will raise when it runs
        return ABSENT
