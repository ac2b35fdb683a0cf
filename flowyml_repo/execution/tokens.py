"""Tokens: the canonical bytes that fingerprints and value tokens hash.

``Encoder`` writes any value as bytes that depend only on what can change a step's
output; the rules (what counts, what is unhashable) are the contract documented in
:mod:`flowyml.execution.fingerprint`. Project-local functions and classes become
numbered nodes, each encoded once after the root, so recursion and shared helpers
are cheap. A code object counts by its summary (normalised bytecode and constants
from ``bytecode``, reference chains from ``references``), memoised per code object.
"""

from __future__ import annotations

import enum
import functools
import re
import sys
import types
from typing import Any

from flowyml.execution.bytecode import constants, instructions, normalised
from flowyml.execution.locality import class_is_local, function_is_local, module_is_local, package_version
from flowyml.execution.references import ABSENT, Marker, ModuleName, references, resolve

__all__ = ["Encoder", "function_digest"]

_FORMAT = b"flowyml-code-fingerprint-1|%s|%d.%d|" % (
    sys.implementation.name.encode(), *sys.version_info[:2])

# Bounded so code generated in a loop (exec, dataclasses) cannot grow the memo forever;
# dropping entries only costs a re-disassembly (~70 us for 30 instructions, measured).
_CODE_MEMO_LIMIT = 8192
_MAX_DEPTH = 100
_ADDRESS = re.compile(r"0x[0-9a-fA-F]{4,}")

# A flag, not content: 3.14 marks docstrings with it, and docstrings do not count.
_FLAG_MASK = ~0x4000000

# Class attributes that are bookkeeping, not behaviour (or hold memory addresses).
_CLASS_SKIP = frozenset({
    "__module__", "__qualname__", "__doc__", "__dict__", "__weakref__", "_abc_impl",
    "__firstlineno__", "__static_attributes__", "__dataclass_fields__", "__dataclass_params__",
})


# --- per-code-object summaries ----------------------------------------------------------


class _CodeSummary:
    """What a code object contributes, independent of the function built from it.

    A plain class: a dataclass costs ~0.4 ms of import time on every run's first key.
    """

    __slots__ = ("digest", "refs")

    def __init__(self, digest: bytes, refs: tuple[tuple[tuple, bytes], ...]) -> None:
        self.digest = digest
        self.refs = refs  # (reference chain, its encoding), sorted


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

    kept = instructions(code)
    out = bytearray(normalised(code, kept))
    encoder = Encoder()
    encoder.value((constants(code, kept), code.co_names, code.co_varnames, code.co_freevars,
                   code.co_cellvars, code.co_argcount, code.co_posonlyargcount,
                   code.co_kwonlyargcount, code.co_flags & _FLAG_MASK), out)
    refs = references(kept)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            refs.update(chain for chain, _ in _summary(const).refs)
    encoded = []
    for chain in sorted(refs, key=repr):
        key = bytearray()
        encoder.value(chain, key)
        encoded.append((chain, bytes(key)))
    return _CodeSummary(blake3.blake3(bytes(out)).digest(), tuple(encoded))


# --- tokenising values ------------------------------------------------------------------


_EMPTY_CELL = Marker(b"!empty")


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


def _enc_marker(v: Marker, out: bytearray) -> None:
    out += v.tag


_SCALARS = {
    type(None): _enc_none, bool: _enc_bool, int: _enc_int, float: _enc_float,
    complex: _enc_complex, str: _enc_str, bytes: _enc_bytes, bytearray: _enc_bytearray,
    type(Ellipsis): _enc_ellipsis, Marker: _enc_marker,
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


class Encoder:
    """Writes a canonical byte form of values; project-local functions and classes
    become numbered nodes, each encoded once (so recursion and shared helpers are cheap).

    One encoder serves one digest: node numbers and ``unhashable`` accumulate.

    Attributes:
        unhashable: one ``"<where>: <type>"`` line per value identified only by its type.
    """

    __slots__ = ("_nodes", "_index", "_stack", "unhashable", "_where")

    def __init__(self) -> None:
        self._nodes: list[Any] = []        # also keeps node objects alive while ids are in use
        self._index: dict[int, int] = {}
        self._stack: list[int] = []        # ids of containers being encoded (cycle guard)
        self.unhashable: list[str] = []
        self._where = "<value>"

    def digest(self, root: Any) -> str:
        """The blake3 hex digest of ``root`` and of every node it reaches."""
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
        """Append the canonical bytes of ``v`` to ``out`` (nodes are numbered, not expanded)."""
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
            if class_is_local(v):
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
        _enc_str(package_version(modname), out)

    def _module(self, module: types.ModuleType, out: bytearray) -> None:
        if module_is_local(module):
            out += b"L"
            _enc_str(module.__name__, out)
        else:
            out += b"Y"
            _enc_str(module.__name__, out)
            _enc_str(package_version(module.__name__), out)

    def _mark_unhashable(self, v: Any, out: bytearray) -> None:
        out += b"?"
        self._external(type(v), out)
        self.unhashable.append(f"{self._where}: {_label(type(v))}")

    # functions and classes -------------------------------------------------------------

    def _function(self, fn: types.FunctionType, out: bytearray) -> None:
        if function_is_local(fn):
            self._node(fn, out)
            return
        # Named where it was defined: functools.wraps copies the wrapped function's
        # __module__ and __qualname__ onto a wrapper.
        code = fn.__code__
        modname = fn.__globals__.get("__name__")
        modname = modname if isinstance(modname, str) else ""
        out += b"X"
        _enc_str(f"{modname}:{getattr(code, 'co_qualname', code.co_name)}", out)
        _enc_str(package_version(modname), out)
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
            target = resolve(chain, namespace)
        except Exception:  # noqa: BLE001 - a module whose __getattr__ raises oddly
            target = ABSENT
        if type(target) is ModuleName:
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
        elif isinstance(v, ModuleName):
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
        wrapped = None if class_is_local(kind) else _wrapped_of(v)
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


# --- memoised function digests ---------------------------------------------------------

# A local function's digest, keyed by its code object, its globals and the identities of
# everything else its encoding reads (``_reads``: defaults, closure values, what each
# global reference resolves to now). Kept only when all of those are immutable all the
# way down (numbers, strings, tuples of them, modules, markers), so the same objects
# always encode to the same bytes and a memoised digest is exactly what a full encoding
# would give. The entry holds the objects, so their ids cannot be reused while it
# exists. A step defined in a loop, or fingerprinted again on every run of a notebook,
# is encoded once: ~1.3 us instead of ~4 us per step of a 500-step chain (measured).
_DIGEST_MEMO: dict[tuple, tuple[tuple, str]] = {}
_IMMUTABLE = frozenset({type(None), bool, int, float, complex, str, bytes, type(Ellipsis), Marker, ModuleName,
                        types.ModuleType})


def function_digest(fn: types.FunctionType) -> str:
    """``Encoder().digest(fn)``, memoised where that is exact (see above)."""
    if "__wrapped__" in fn.__dict__:
        return Encoder().digest(fn)
    code, namespace, kwdefaults = fn.__code__, fn.__globals__, fn.__kwdefaults__ or {}
    values = _reads(fn)
    # The layout is fixed by the code object, except for how many keyword-only defaults
    # there are; a module counts with its version, which its encoding includes.
    key = (id(code), id(namespace), len(kwdefaults),
           *((id(v), package_version(v.__name__)) if type(v) is types.ModuleType else id(v) for v in values))
    found = _DIGEST_MEMO.get(key)
    if found is not None:
        return found[1]
    digest = Encoder().digest(fn)
    # Only local functions are kept (a library one is named, not encoded); locality is
    # fixed by the code and the namespace, so it is checked on a miss only (~0.8 us a step).
    if function_is_local(fn) and all(_immutable(v) for v in values):
        if len(_DIGEST_MEMO) >= _CODE_MEMO_LIMIT:
            _DIGEST_MEMO.clear()
        _DIGEST_MEMO[key] = ((code, namespace, values), digest)
    return digest


def _reads(fn: types.FunctionType) -> list[Any]:
    """What ``Encoder._function_body`` reads of ``fn`` besides its code, in the same order."""
    values: list[Any] = [fn.__defaults__]
    for name, default in (fn.__kwdefaults__ or {}).items():
        values += (name, default)
    for cell in fn.__closure__ or ():
        try:
            values.append(cell.cell_contents)
        except ValueError:  # a cell not filled yet
            values.append(_EMPTY_CELL)
    namespace = fn.__globals__
    for chain, _ in _summary(fn.__code__).refs:
        try:
            values.append(resolve(chain, namespace))
        except Exception:  # noqa: BLE001 - as in Encoder._guarded_ref
            values.append(ABSENT)
    return values


def _immutable(v: Any) -> bool:
    kind = type(v)
    if kind is tuple or kind is frozenset:
        return all(_immutable(item) for item in v)
    return kind in _IMMUTABLE


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
    Encoder().value(header, out)
    out += blake3.blake3(hashes.to_numpy().tobytes()).digest()
    return True
