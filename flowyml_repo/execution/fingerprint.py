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
  disassembled once; globals, defaults and closures are re-read on every call.

"Project-local" means defined in ``__main__``, in a module without a file, or in
a file outside the interpreter's prefixes, the standard library and
site-packages. flowyml itself counts as a library.
"""

from __future__ import annotations

import dis
import enum
import functools
import importlib
import importlib.util
import os
import re
import sys
import types
from bisect import bisect_left
from dataclasses import dataclass
from typing import Any

__all__ = ["CodeFingerprint", "code_fingerprint", "fingerprint_details", "library_roots", "value_token"]

_FORMAT = b"flowyml-code-fingerprint-1|%s|%d.%d|" % (
    sys.implementation.name.encode(), *sys.version_info[:2])

# Bounded so code generated in a loop (exec, dataclasses) cannot grow the memo forever;
# dropping entries only costs a re-disassembly (~70 us for 30 instructions, measured).
_CODE_MEMO_LIMIT = 8192
_MAX_DEPTH = 100
_ADDRESS = re.compile(r"0x[0-9a-fA-F]{4,}")

_OP = dis.opmap
_SKIPPED_OPS = frozenset(_OP[name] for name in ("NOP", "EXTENDED_ARG", "CACHE") if name in _OP)
_JUMP_OPS = frozenset(dis.hasjrel) | frozenset(dis.hasjabs)
_CONST_OPS = frozenset(dis.hasconst)
_LOAD_CONST = _OP["LOAD_CONST"]
_IMPORT_NAME = _OP["IMPORT_NAME"]
_IMPORT_FROM = _OP["IMPORT_FROM"]


def _ops(*names: str) -> frozenset[int]:
    return frozenset(_OP[name] for name in names if name in _OP)


_GLOBAL_LOADS = _ops("LOAD_GLOBAL", "LOAD_NAME")
_ATTR_LOADS = _ops("LOAD_ATTR", "LOAD_METHOD")
_LOCAL_LOADS = _ops("LOAD_FAST", "LOAD_FAST_CHECK", "LOAD_FAST_BORROW", "LOAD_DEREF")
_STORES = _ops("STORE_FAST", "STORE_DEREF", "STORE_NAME", "STORE_GLOBAL")
# A flag, not content: 3.14 marks docstrings with it, and docstrings do not count.
_FLAG_MASK = ~0x4000000

# Class attributes that are bookkeeping, not behaviour (or hold memory addresses).
_CLASS_SKIP = frozenset({
    "__module__", "__qualname__", "__doc__", "__dict__", "__weakref__", "_abc_impl",
    "__firstlineno__", "__static_attributes__", "__dataclass_fields__", "__dataclass_params__",
})


@dataclass(frozen=True)
class CodeFingerprint:
    """A fingerprint and what it could not see.

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
    return fingerprint_details(fn).digest


def fingerprint_details(fn: Any) -> CodeFingerprint:
    """``code_fingerprint`` plus the values it could only identify by type.

    Args:
        fn: as for ``code_fingerprint``.

    Returns:
        A ``CodeFingerprint``.
    """
    encoder = _Encoder()
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
    return _Encoder().digest(value)


@functools.lru_cache(maxsize=1)
def library_roots() -> tuple[str, ...]:
    """Folders whose files belong to Python or installed packages, each ending in ``os.sep``.

    The standard library and site-packages folders, plus the interpreter prefixes
    except one that contains the current directory (a project may live under a
    prefix, e.g. a conda base at ``~``).
    """
    import site
    import sysconfig

    paths = sysconfig.get_paths()
    folders = [paths.get(k) for k in ("stdlib", "platstdlib", "purelib", "platlib")]
    try:
        folders += site.getsitepackages() + [site.getusersitepackages()]
    except AttributeError:  # old virtualenv's site.py lacks them
        pass
    cwd = _with_sep(os.path.realpath(os.getcwd()))
    for prefix in {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}:
        if not cwd.startswith(_with_sep(os.path.realpath(prefix))):
            folders.append(prefix)
    return tuple(sorted({_with_sep(os.path.realpath(f)) for f in folders if f}))


def _with_sep(path: str) -> str:
    return path if path.endswith(os.sep) else path + os.sep


# --- what counts as project-local -------------------------------------------------------

_PATH_LOCAL: dict[str, bool] = {}
_MODULE_LOCAL: dict[str, tuple[types.ModuleType, bool]] = {}
_TOP_LOCAL: dict[str, bool] = {}
_LIBRARY_PACKAGES = frozenset({"flowyml", "flowyml_tui"})


def _path_is_local(path: str) -> bool:
    """True for a source file of the user's project (or a pseudo-file like ``<string>``)."""
    known = _PATH_LOCAL.get(path)
    if known is None:
        if not os.path.isabs(path):
            known = True
        else:
            real = os.path.realpath(path)
            parts = real.split(os.sep)
            known = not ("site-packages" in parts or "dist-packages" in parts
                         or real.startswith(library_roots()))
        _PATH_LOCAL[path] = known
    return known


def _module_is_local(module: types.ModuleType) -> bool:
    name = getattr(module, "__name__", None) or ""
    known = _MODULE_LOCAL.get(name)
    if known is not None and known[0] is module:
        return known[1]
    if name == "__main__":
        local = True
    elif name.partition(".")[0] in _LIBRARY_PACKAGES or name in sys.builtin_module_names:
        local = False
    else:
        spec = getattr(module, "__spec__", None)
        origin = getattr(spec, "origin", None)
        file = getattr(module, "__file__", None)
        if origin in ("built-in", "frozen"):
            local = False
        else:
            local = not file or _path_is_local(file)
    _MODULE_LOCAL[name] = (module, local)
    return local


def _is_local(cls: type) -> bool:
    """True if a class was defined in the user's project."""
    modname = getattr(cls, "__module__", None)
    module = sys.modules.get(modname) if isinstance(modname, str) else None
    return module is None or _module_is_local(module)


def _function_is_local(fn: types.FunctionType) -> bool:
    """True if a function was defined in the user's project.

    Judged by the namespace it was defined in, not ``__module__``: ``functools.wraps``
    copies ``__module__`` from the wrapped function onto the wrapper.
    """
    namespace = fn.__globals__
    modname = namespace.get("__name__")
    module = sys.modules.get(modname) if isinstance(modname, str) else None
    if module is not None and getattr(module, "__dict__", None) is namespace:
        return _module_is_local(module)
    return _path_is_local(fn.__code__.co_filename)


def _top_is_local(name: str) -> bool:
    """Whether an importable (maybe not yet imported) top-level package is project-local."""
    top = name.partition(".")[0]
    if top in sys.modules:
        return _module_is_local(sys.modules[top])
    known = _TOP_LOCAL.get(top)
    if known is None:
        try:
            spec = importlib.util.find_spec(top)
        except (ImportError, ValueError):
            spec = None
        if spec is None or spec.origin in ("built-in", "frozen"):
            known = False
        elif spec.origin:
            known = top not in _LIBRARY_PACKAGES and _path_is_local(spec.origin)
        else:  # namespace package: judge by its first folder
            locations = list(spec.submodule_search_locations or ())
            known = bool(locations) and _path_is_local(os.path.join(locations[0], "__init__.py"))
        _TOP_LOCAL[top] = known
    return known


def _version(modname: str) -> str:
    top = sys.modules.get(modname.partition(".")[0])
    version = getattr(top, "__version__", None)
    return version if isinstance(version, str) else ""


# --- per-code-object summaries ----------------------------------------------------------


@dataclass(frozen=True)
class _CodeSummary:
    """What a code object contributes, independent of the function built from it."""

    digest: bytes
    refs: tuple[tuple[tuple, bytes], ...]  # (reference chain, its encoding), sorted


# Keyed by id (hashing a code object re-hashes its constants and nested code on every
# call); the entry keeps the code object alive, so the id cannot be reused meanwhile.
_CODE_MEMO: dict[int, tuple[types.CodeType, _CodeSummary]] = {}


def _summary(code: types.CodeType) -> _CodeSummary:
    found = _CODE_MEMO.get(id(code))
    if found is not None and found[0] is code:
        return found[1]
    summary = _summarise(code)
    if len(_CODE_MEMO) >= _CODE_MEMO_LIMIT:
        _CODE_MEMO.clear()
    _CODE_MEMO[id(code)] = (code, summary)
    return summary


def _summarise(code: types.CodeType) -> _CodeSummary:
    import blake3

    kept = _instructions(code)
    offsets = [ins[0] for ins in kept]
    words = []
    for offset, op, arg, argval in kept:
        if op in _JUMP_OPS:
            words.append(b"%d>%d" % (op, bisect_left(offsets, argval)))
        else:
            words.append(b"%d:%d" % (op, -1 if arg is None else arg))
    if getattr(code, "co_exceptiontable", b""):
        for entry in dis.Bytecode(code).exception_entries:
            words.append(b"x%d,%d,%d,%d,%d" % (
                bisect_left(offsets, entry.start), bisect_left(offsets, entry.end),
                bisect_left(offsets, entry.target), entry.depth, entry.lasti))
    consts = list(code.co_consts)
    # A function's docstring is its first constant, and no instruction loads it.
    if consts and type(consts[0]) is str and not any(
            op in _CONST_OPS and arg == 0 for _, op, arg, _ in kept):
        consts[0] = None
    out = bytearray(b";".join(words))
    encoder = _Encoder()
    encoder.value((tuple(consts), code.co_names, code.co_varnames, code.co_freevars,
                   code.co_cellvars, code.co_argcount, code.co_posonlyargcount,
                   code.co_kwonlyargcount, code.co_flags & _FLAG_MASK), out)
    refs = _references(kept)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            refs.update(chain for chain, _ in _summary(const).refs)
    encoded = []
    for chain in sorted(refs, key=repr):
        key = bytearray()
        encoder.value(chain, key)
        encoded.append((chain, bytes(key)))
    return _CodeSummary(blake3.blake3(bytes(out)).digest(), tuple(encoded))


# An instruction as ``(offset, opcode, arg, argval)``, without NOP / EXTENDED_ARG / CACHE.
# argval is the jump target offset, the name, or the constant, as in ``dis``.
_Instruction = tuple


def _instructions_dis(code: types.CodeType) -> list[_Instruction]:
    return [(ins.offset, ins.opcode, ins.arg, ins.argval) for ins in dis.get_instructions(code)
            if ins.opcode not in _SKIPPED_OPS]


def _instructions_311(code: types.CodeType) -> list[_Instruction]:
    """CPython 3.11's bytecode decoded directly: 5x faster than ``dis.get_instructions``,
    which also computes positions, line starts and labels (about 2 us per instruction
    here). A test checks it against ``dis`` on the standard library."""
    raw, names, consts, caches = code.co_code, code.co_names, code.co_consts, _CACHES
    varname = code._varname_from_oparg
    out: list[_Instruction] = []
    extended = 0
    i, n = 0, len(raw)
    while i < n:
        op = raw[i]
        if op < _HAVE_ARGUMENT:
            arg = argval = None
            extended = 0
        else:
            arg = raw[i + 1] | extended
            if op == _EXTENDED_ARG:
                extended = arg << 8
                i += 2
                continue
            extended = 0
            if op in _JUMP_OPS:
                argval = i + 2 + (-arg if op in _BACKWARD_JUMPS else arg) * 2
            elif op in _GLOBAL_LOADS_311:
                argval = names[arg >> 1]
            elif op in _NAME_OPS_311:
                argval = names[arg]
            elif op in _LOCAL_OPS_311:
                argval = varname(arg)
            elif op == _LOAD_CONST:
                argval = consts[arg]
            else:  # not needed (dis decodes some of these further)
                argval = arg
        if op != _NOP:
            out.append((i, op, arg, argval))
        i += 2 + 2 * caches[op]
    return out


_NOP = _OP["NOP"]
_EXTENDED_ARG = _OP["EXTENDED_ARG"]
_HAVE_ARGUMENT = dis.HAVE_ARGUMENT
_BACKWARD_JUMPS = frozenset(op for op in dis.hasjrel if "JUMP_BACKWARD" in dis.opname[op])
_GLOBAL_LOADS_311 = _ops("LOAD_GLOBAL")
_NAME_OPS_311 = _ops("LOAD_NAME", "LOAD_ATTR", "LOAD_METHOD", "IMPORT_NAME", "IMPORT_FROM",
                     "STORE_NAME", "STORE_GLOBAL")
_LOCAL_OPS_311 = _ops("LOAD_FAST", "STORE_FAST", "LOAD_DEREF", "STORE_DEREF", "LOAD_CLOSURE",
                      "LOAD_CLASSDEREF", "DELETE_FAST", "DELETE_DEREF")
try:
    from opcode import _inline_cache_entries as _CACHES  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - only 3.11 takes the fast path
    _CACHES = None
_instructions = (_instructions_311 if sys.version_info[:2] == (3, 11) and _CACHES is not None
                 else _instructions_dis)


def _references(kept: list[_Instruction]) -> set[tuple]:
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


def _import_refs(kept: list[_Instruction], k: int, refs: set[tuple],
                 imports: dict[str, tuple[int, str]]) -> None:
    """Record ``import m`` / ``from m import a`` found at ``kept[k]`` (an IMPORT_NAME)."""
    level = kept[k - 2][3] if k >= 2 and kept[k - 2][1] == _LOAD_CONST else 0
    fromlist = kept[k - 1][3] if k >= 1 and kept[k - 1][1] == _LOAD_CONST else None
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


# --- tokenising values ------------------------------------------------------------------


class _Marker:
    __slots__ = ("tag",)

    def __init__(self, tag: bytes) -> None:
        self.tag = tag


_ABSENT = _Marker(b"!absent")      # a referenced name that is not defined
_BUILTIN = _Marker(b"!builtin")    # a builtin: fixed by the Python version in the header
_EMPTY_CELL = _Marker(b"!empty")


@dataclass(frozen=True)
class _ModuleName:
    """A library module imported inside a function body: named, never versioned."""

    name: str


def _enc_none(v: Any, out: bytearray) -> None:
    out += b"N"


def _enc_bool(v: bool, out: bytearray) -> None:
    out += b"T" if v else b"F"


def _enc_int(v: int, out: bytearray) -> None:
    out += b"i%d;" % v


def _enc_float(v: float, out: bytearray) -> None:
    out += b"f%s;" % v.hex().encode()


def _enc_complex(v: complex, out: bytearray) -> None:
    out += b"j%s,%s;" % (v.real.hex().encode(), v.imag.hex().encode())


def _enc_str(v: str, out: bytearray) -> None:
    data = v.encode("utf-8", "surrogatepass")
    out += b"s%d:" % len(data)
    out += data


def _enc_bytes(v: bytes, out: bytearray) -> None:
    out += b"b%d:" % len(v)
    out += v


def _enc_bytearray(v: bytearray, out: bytearray) -> None:
    out += b"a%d:" % len(v)
    out += v


def _enc_ellipsis(v: Any, out: bytearray) -> None:
    out += b"."


def _enc_marker(v: _Marker, out: bytearray) -> None:
    out += v.tag


_SCALARS = {
    type(None): _enc_none, bool: _enc_bool, int: _enc_int, float: _enc_float,
    complex: _enc_complex, str: _enc_str, bytes: _enc_bytes, bytearray: _enc_bytearray,
    type(Ellipsis): _enc_ellipsis, _Marker: _enc_marker,
}


def _label(obj: Any) -> str:
    return f"{getattr(obj, '__module__', None)}:{getattr(obj, '__qualname__', None) or getattr(obj, '__name__', '?')}"


def _presort_key(item: Any) -> tuple[str, str]:
    """Order set members before encoding, so functions in a set get stable node numbers."""
    kind = type(item)
    if kind in _SCALARS:
        return (kind.__name__, repr(item))
    if isinstance(item, (types.FunctionType, type)):
        return ("~" + _label(item), "")
    return ("~~" + _label(kind), "")


def _presort_item(item: tuple[Any, Any]) -> tuple[str, str]:
    return _presort_key(item[0])


class _Encoder:
    """Writes a canonical byte form of values; project-local functions and classes
    become numbered nodes, each encoded once (so recursion and shared helpers are cheap)."""

    __slots__ = ("_nodes", "_index", "_stack", "unhashable", "_where")

    def __init__(self) -> None:
        self._nodes: list[Any] = []        # also keeps node objects alive while ids are in use
        self._index: dict[int, int] = {}
        self._stack: list[int] = []        # ids of containers being encoded (cycle guard)
        self.unhashable: list[str] = []
        self._where = "<value>"

    def digest(self, root: Any) -> str:
        import blake3

        out = bytearray(_FORMAT)
        self._guarded(root, out)
        i = 0
        while i < len(self._nodes):
            node = self._nodes[i]
            self._where = getattr(node, "__qualname__", "?")
            body = bytearray()
            if isinstance(node, type):
                self._class_body(node, body)
            else:
                self._function_body(node, body)
            out += b"#%d:" % len(body)
            out += body
            i += 1
        return blake3.blake3(bytes(out)).hexdigest()

    # dispatch ------------------------------------------------------------------------

    def value(self, v: Any, out: bytearray) -> None:
        kind = type(v)
        scalar = _SCALARS.get(kind)
        if scalar is not None:
            scalar(v, out)
        elif kind is tuple:
            out += b"t%d(" % len(v)
            for item in v:
                self.value(item, out)
        elif kind is types.FunctionType:
            self._function(v, out)
        elif kind is list or kind is dict or kind is set or kind is frozenset:
            self._container(v, out)
        elif isinstance(v, type):
            if _is_local(v):
                self._node(v, out)
            else:
                self._external(v, out)
        elif isinstance(v, types.ModuleType):
            self._module(v, out)
        elif kind is types.CodeType:
            out += b"K"
            out += _summary(v).digest
        else:
            self._other(v, out)

    def _node(self, obj: Any, out: bytearray) -> None:
        number = self._index.get(id(obj))
        if number is None:
            number = self._index[id(obj)] = len(self._nodes)
            self._nodes.append(obj)
        out += b"@%d;" % number

    def _external(self, obj: Any, out: bytearray) -> None:
        modname = getattr(obj, "__module__", None) or ""
        out += b"X"
        _enc_str(_label(obj), out)
        _enc_str(_version(modname), out)

    def _module(self, module: types.ModuleType, out: bytearray) -> None:
        if _module_is_local(module):
            out += b"L"
            _enc_str(module.__name__, out)
        else:
            out += b"Y"
            _enc_str(module.__name__, out)
            _enc_str(_version(module.__name__), out)

    def _mark_unhashable(self, v: Any, out: bytearray) -> None:
        out += b"?"
        self._external(type(v), out)
        self.unhashable.append(f"{self._where}: {_label(type(v))}")

    # functions and classes -------------------------------------------------------------

    def _function(self, fn: types.FunctionType, out: bytearray) -> None:
        if _function_is_local(fn):
            self._node(fn, out)
            return
        # Named where it was defined: functools.wraps copies the wrapped function's
        # __module__ and __qualname__ onto a wrapper.
        code = fn.__code__
        modname = fn.__globals__.get("__name__")
        modname = modname if isinstance(modname, str) else ""
        out += b"X"
        _enc_str(f"{modname}:{getattr(code, 'co_qualname', code.co_name)}", out)
        _enc_str(_version(modname), out)
        wrapped = fn.__dict__.get("__wrapped__")
        if wrapped is not None:
            self._wrapped(fn, wrapped, out)

    def _wrapped(self, wrapper: Any, wrapped: Any, out: bytearray) -> None:
        """A library wrapper: see through to what it wraps, plus its exposed config."""
        out += b"W"
        self.value(wrapped, out)
        parameters = getattr(wrapper, "cache_parameters", None)  # functools.lru_cache/cache
        if callable(parameters):
            self.value(parameters(), out)

    def _function_body(self, fn: types.FunctionType, out: bytearray) -> None:
        summary = _summary(fn.__code__)
        out += b"F"
        out += summary.digest
        self.value(fn.__defaults__, out)
        self.value(fn.__kwdefaults__, out)
        closure = fn.__closure__ or ()
        out += b"c%d(" % len(closure)
        for cell in closure:
            try:
                contents = cell.cell_contents
            except ValueError:  # a cell not filled yet
                contents = _EMPTY_CELL
            self._guarded(contents, out)
        namespace = fn.__globals__
        for chain, key in summary.refs:
            out += key
            self._guarded_ref(chain, namespace, out)
        wrapped = fn.__dict__.get("__wrapped__") if fn.__dict__ else None
        if wrapped is not None:
            out += b"W"
            self._guarded(wrapped, out)

    def _class_body(self, cls: type, out: bytearray) -> None:
        out += b"C"
        _enc_str(cls.__qualname__, out)
        if type(cls) is not type:
            self.value(type(cls), out)
        self.value(cls.__bases__, out)
        members = sorted((k, v) for k, v in cls.__dict__.items() if k not in _CLASS_SKIP
                         if isinstance(k, str))
        for name, member in members:
            _enc_str(name, out)
            self._guarded(member, out)

    # references through globals ----------------------------------------------------------

    def _guarded(self, v: Any, out: bytearray) -> None:
        """Encode ``v``; a value that breaks the encoder counts as unhashable, not as a crash."""
        part = bytearray()
        depth = len(self._stack)
        try:
            self.value(v, part)
        except Exception:  # noqa: BLE001 - arbitrary user objects; the marker keeps determinism
            del self._stack[depth:]
            part = bytearray()
            self._mark_unhashable(v, part)
        out += part

    def _guarded_ref(self, chain: tuple, namespace: dict, out: bytearray) -> None:
        try:
            target = _resolve(chain, namespace)
        except Exception:  # noqa: BLE001 - a module whose __getattr__ raises oddly
            target = _ABSENT
        if type(target) is _ModuleName:
            out += b"y"
            _enc_str(target.name, out)
        else:
            self._guarded(target, out)

    # containers and other objects -------------------------------------------------------

    def _enter(self, v: Any, out: bytearray) -> bool:
        """Push ``v`` on the cycle guard; False (and a back-reference written) if already there."""
        ident = id(v)
        if ident in self._stack:
            out += b"^%d;" % (len(self._stack) - self._stack.index(ident))
            return False
        if len(self._stack) >= _MAX_DEPTH:
            raise RecursionError("value nested too deeply to fingerprint")
        self._stack.append(ident)
        return True

    def _container(self, v: Any, out: bytearray) -> None:
        if not self._enter(v, out):
            return
        kind = type(v)
        if kind is list:
            out += b"l%d[" % len(v)
            for item in v:
                self.value(item, out)
        elif kind is dict:
            out += b"d%d{" % len(v)
            # Presorted so that functions among the values are numbered in a stable order.
            items = sorted(v.items(), key=_presort_item)
            out += b"".join(sorted(self._pair(k, x) for k, x in items))
        else:
            out += (b"e%d{" if kind is set else b"z%d{") % len(v)
            out += b"".join(sorted(self._encoded(item) for item in sorted(v, key=_presort_key)))
        self._stack.pop()

    def _encoded(self, v: Any) -> bytes:
        part = bytearray()
        self.value(v, part)
        return bytes(part)

    def _pair(self, key: Any, v: Any) -> bytes:
        part = bytearray()
        self.value(key, part)
        self.value(v, part)
        return bytes(part)

    def _other(self, v: Any, out: bytearray) -> None:
        kind = type(v)
        if kind is types.MethodType:
            out += b"M"
            self.value(v.__func__, out)
            self.value(v.__self__, out)
        elif kind is types.BuiltinFunctionType or kind is types.BuiltinMethodType:
            self._external(v, out)
        elif kind is staticmethod or kind is classmethod:
            out += b"S" if kind is staticmethod else b"D"
            self.value(v.__func__, out)
        elif kind is property:
            out += b"P"
            self.value((v.fget, v.fset, v.fdel), out)
        elif kind is functools.partial:
            out += b"p"
            self.value((v.func, v.args, v.keywords), out)
        elif isinstance(v, enum.Enum):
            out += b"E"
            self.value(kind, out)
            _enc_str(v.name, out)
        elif isinstance(v, _ModuleName):
            out += b"y"
            _enc_str(v.name, out)
        elif not self._enter(v, out):
            return
        else:
            try:
                self._object(v, out)
            finally:
                self._stack.pop()

    def _object(self, v: Any, out: bytearray) -> None:
        kind = type(v)
        top = (kind.__module__ or "").partition(".")[0]
        if top == "numpy" and _numpy_token(v, out):
            return
        if top == "pandas" and _pandas_token(v, out):
            return
        wrapped = None if _is_local(kind) else _wrapped_of(v)
        if wrapped is not None:
            self.value(kind, out)
            self._wrapped(v, wrapped, out)
            return
        if self._reduced(v, out):
            return
        try:
            text = repr(v)
        except Exception:  # noqa: BLE001
            text = "0x0000"
        if _ADDRESS.search(text):
            self._mark_unhashable(v, out)
        else:
            out += b"r"
            self.value(kind, out)
            _enc_str(text, out)

    def _reduced(self, v: Any, out: bytearray) -> bool:
        """Encode the object's pickle recipe (``__reduce_ex__``) without pickling it."""
        try:
            recipe = v.__reduce_ex__(4)
        except Exception:  # noqa: BLE001 - "cannot pickle" and friends
            return False
        if isinstance(recipe, str):  # a module-level singleton
            out += b"G"
            _enc_str(f"{type(v).__module__}:{recipe}", out)
            return True
        if not isinstance(recipe, tuple) or not 2 <= len(recipe) <= 6:
            return False
        part = bytearray(b"R")
        parts = list(recipe) + [None] * (5 - len(recipe))
        for i, item in enumerate(parts[:5]):
            if i >= 3 and item is not None:
                item = list(item)  # list/dict item iterators
            self.value(item, part)
        out += part
        return True


def _wrapped_of(v: Any) -> Any:
    """The function a library wrapper object wraps (``functools.wraps`` sets ``__wrapped__``)."""
    if not callable(v):
        return None
    try:
        wrapped = object.__getattribute__(v, "__wrapped__")
    except AttributeError:
        return None
    return wrapped


def _numpy_token(v: Any, out: bytearray) -> bool:
    import blake3
    import numpy as np

    if isinstance(v, np.ndarray) and v.dtype != object:
        out += b"A"
        _enc_str(v.dtype.str, out)
        out += b"%r" % (v.shape,)
        out += blake3.blake3(np.ascontiguousarray(v).tobytes()).digest()
        return True
    if isinstance(v, np.generic) and v.dtype != object:
        out += b"a"
        _enc_str(v.dtype.str, out)
        _enc_bytes(v.tobytes(), out)
        return True
    return False


def _pandas_token(v: Any, out: bytearray) -> bool:
    import pandas as pd

    if not isinstance(v, (pd.DataFrame, pd.Series, pd.Index)):
        return False
    try:
        hashes = pd.util.hash_pandas_object(v, index=not isinstance(v, pd.Index))
    except Exception:  # noqa: BLE001 - unhashable cells (lists, dicts): use __reduce_ex__
        return False
    import blake3

    if isinstance(v, pd.DataFrame):
        header = [type(v).__name__, [repr(c) for c in v.columns], [str(d) for d in v.dtypes]]
    else:
        header = [type(v).__name__, repr(v.name), str(v.dtype)]
    header.append([repr(n) for n in getattr(v.index, "names", ())] if not isinstance(v, pd.Index) else [])
    out += b"D"
    _Encoder().value(header, out)
    out += blake3.blake3(hashes.to_numpy().tobytes()).digest()
    return True


# --- resolving reference chains -----------------------------------------------------------


def _resolve(chain: tuple, namespace: dict) -> Any:
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
        return _BUILTIN if found else _ABSENT
    module = _import_in_body(chain[1], chain[2], namespace)
    if not isinstance(module, types.ModuleType):
        return module
    return _walk(module, chain, 3)


def _walk(obj: Any, chain: tuple, i: int) -> Any:
    while i < len(chain) and isinstance(obj, types.ModuleType) and _module_is_local(obj):
        name = chain[i]
        try:
            obj = getattr(obj, name)
        except AttributeError:
            obj = sys.modules.get(f"{obj.__name__}.{name}", _ABSENT)
        i += 1
    return obj


def _import_in_body(level: int, name: str, namespace: dict) -> Any:
    """The module a function body imports: a local one is imported (the step would import
    it anyway), a library one is only named, so the key never depends on import order."""
    if level:
        package = namespace.get("__package__") or ""
        if not package:
            return _ABSENT
        try:
            name = importlib.util.resolve_name("." * level + name, package)
        except (ImportError, ValueError):
            return _ABSENT
    module = sys.modules.get(name)
    if module is not None:
        return module if _module_is_local(module) else _ModuleName(name)
    if not _top_is_local(name):
        return _ModuleName(name)
    try:
        return importlib.import_module(name)
    except Exception:  # noqa: BLE001 - the step itself will raise when it runs
        return _ABSENT
