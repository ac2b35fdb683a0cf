"""Native readers: the table readers whose file opens raise no audit event.

``filedeps`` learns what a step reads from the interpreter's ``open`` audit event.
pyarrow's and polars' readers open files in C++/Rust, so ``pd.read_parquet(path)``,
``pyarrow.parquet.read_table(path)``, ``pl.scan_parquet(path)`` and the like are
invisible to it, and a step reading a Parquet file would be a stale cache hit after
the file changed. This module wraps the Python-level entry points users call
(``READERS``) so that each call declares its source to ``filedeps.record_source``
before calling the original.

When wrapping happens, and what it costs:

* ``wrap_readers()`` runs each time a ``FileReads`` recorder becomes active: one
  ``sys.modules`` lookup per module in ``READERS``. A module already imported is
  wrapped there, once per module object (``functools.wraps``; the original stays
  reachable as ``__wrapped__``). A program that never imports pandas, pyarrow or
  polars has nothing wrapped and pays only those lookups.
* A module first imported *inside* a step (``import polars as pl`` in the step's
  body, or pandas importing ``pyarrow.parquet`` lazily in its first
  ``read_parquet``) is wrapped as soon as its import finishes, by a finder placed
  first on ``sys.meta_path`` at the first ``wrap_readers()``. The finder answers
  ``None`` after one set lookup for every other module.
* A wrapper outside any recorder costs one context-variable lookup per call.

What is covered: calls made through the module attribute (``pd.read_parquet``,
``pq.read_table``, ``pl.read_parquet``, ``ds.dataset``...), and every construction
of the classes wrapped in place (``ParquetFile``, ``ParquetDataset``, ``ORCFile``:
their ``__init__`` is wrapped, so class identity, ``isinstance`` and ``from pyarrow.parquet
import ParquetFile`` all keep working and are covered). ``pq.read_table`` and
``pd.read_parquet`` build a ``ParquetDataset``, so they are covered even when bound
with ``from ... import`` before the first step.

What is not: a reader *function* bound by ``from polars import read_parquet``
before the first recorder became active (the name holds the original); readers
not in ``READERS``; a lazy frame built outside the step and collected inside it;
``pa.OSFile``/``pa.input_stream`` (extension types, which cannot be wrapped in
place). Sources that are file objects or buffers are left to the audit hook (a file
object from ``open()`` was already recorded when opened); URLs (``s3://``,
``file://``) are not local files. How a source becomes dependencies (files,
directories, glob patterns) is ``filedeps.record_source``'s business.
"""

from __future__ import annotations

import functools
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from flowyml.execution.filedeps import record_source

__all__ = ["READERS", "Reader", "wrap_readers"]


@dataclass(frozen=True)
class Reader:
    """A reader entry point that opens its source natively.

    Attributes:
        module: the module users reach it through (``"pyarrow.parquet"``).
        attribute: its name there; ``"Class.__init__"`` wraps a class in place.
        source: the name of the parameter holding the source; it is also the first
            parameter (after ``self``) of every entry point listed.
    """

    module: str
    attribute: str
    source: str


def _readers(module: str, source: str, *attributes: str) -> tuple[Reader, ...]:
    return tuple(Reader(module, attribute, source) for attribute in attributes)


# Outermost entry points first. pandas imports pyarrow.parquet lazily inside its first
# read_parquet, which is why pandas' own entry points are listed. read_feather/read_orc
# open through Python today (the audit hook sees them); they are listed so a change of
# engine cannot silently lose them. Checked against pandas 3.1, pyarrow 26, polars 2.1;
# an entry missing from another version is skipped.
READERS: tuple[Reader, ...] = (
    *_readers("pandas", "path", "read_parquet", "read_feather", "read_orc"),
    Reader("pandas", "read_excel", "io"),
    Reader("pandas", "read_hdf", "path_or_buf"),
    Reader("pyarrow", "memory_map", "path"),
    *_readers("pyarrow.parquet", "source", "read_table", "read_pandas", "ParquetFile.__init__"),
    Reader("pyarrow.parquet", "ParquetDataset.__init__", "path_or_paths"),
    *_readers("pyarrow.parquet", "where", "read_metadata", "read_schema"),
    *_readers("pyarrow.feather", "source", "read_table", "read_feather"),
    *_readers("pyarrow.csv", "input_file", "read_csv", "open_csv"),
    *_readers("pyarrow.json", "input_file", "read_json", "open_json"),
    *_readers("pyarrow.orc", "source", "read_table", "ORCFile.__init__"),
    Reader("pyarrow.dataset", "dataset", "source"),
    Reader("pyarrow.dataset", "parquet_dataset", "metadata_path"),
    *_readers("pyarrow.ipc", "source", "open_file", "open_stream"),
    *_readers("polars", "source", "read_parquet", "scan_parquet", "read_parquet_schema",
              "read_parquet_metadata", "read_csv", "scan_csv", "read_ipc", "scan_ipc",
              "read_ipc_stream", "read_ipc_schema", "read_ndjson", "scan_ndjson", "read_json",
              "read_avro", "read_excel", "read_ods", "read_lines", "scan_lines", "read_delta",
              "scan_delta"),
)

_BY_MODULE: dict[str, tuple[Reader, ...]] = {}
for _reader in READERS:
    _BY_MODULE[_reader.module] = _BY_MODULE.get(_reader.module, ()) + (_reader,)
del _reader

_LOCK = threading.RLock()
_wrapped: dict[str, ModuleType] = {}  # module name -> the module object already wrapped
_finder_installed = False


def wrap_readers() -> None:
    """Wrap the entry points of every listed module already imported (idempotent).

    The first call also installs the finder that wraps a listed module when it is
    first imported later.
    """
    if not _finder_installed:
        _install_finder()
    modules = sys.modules
    for name in _BY_MODULE:
        module = modules.get(name)
        if module is not None and _wrapped.get(name) is not module:
            _wrap_module(name, module)


def _wrap_module(name: str, module: ModuleType, executed: bool = False) -> None:
    if not executed and getattr(getattr(module, "__spec__", None), "_initializing", False):
        return  # still executing (imported by another thread): wrapped on a later call
    with _LOCK:
        if _wrapped.get(name) is module:
            return
        for reader in _BY_MODULE[name]:
            _wrap_entry(module, reader)
        _wrapped[name] = module


def _wrap_entry(module: ModuleType, reader: Reader) -> None:
    *owner_path, attribute = reader.attribute.split(".")
    owner: Any = module
    for part in owner_path:
        owner = getattr(owner, part, None)
    original = getattr(owner, attribute, None) if owner is not None else None
    if original is None or getattr(original, "_flowyml_reader", False):
        return
    position = 1 if owner_path else 0  # a class's __init__ takes self first
    inner = original
    for _ in range(8):  # through decorators (polars wraps its readers to rename parameters)
        inner = getattr(inner, "__wrapped__", inner)
    code = getattr(inner, "__code__", None)
    if code is not None and code.co_varnames[position:position + 1] != (reader.source,):
        return  # another version with another signature: don't guess which argument is read
    setattr(owner, attribute, _reading(original, position, reader.source))


def _reading(original: Callable[..., Any], position: int, keyword: str) -> Callable[..., Any]:
    @functools.wraps(original)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        source = args[position] if len(args) > position else kwargs.get(keyword)
        try:
            record_source(source)
        except Exception:  # noqa: BLE001 - recording must never break the read itself
            pass
        return original(*args, **kwargs)

    wrapper._flowyml_reader = True  # type: ignore[attr-defined]
    return wrapper


# --- modules imported after the first recorder ---------------------------------------


class _WrapAfterImport:
    """A ``sys.meta_path`` finder that wraps a listed module right after it is executed.

    It finds the spec through the other finders and lets the loader run unchanged,
    then wraps; every other module gets ``None`` after one set lookup.
    """

    def __init__(self) -> None:
        self._busy = threading.local()

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        if fullname not in _BY_MODULE or getattr(self._busy, "name", None) == fullname:
            return None
        self._busy.name = fullname  # the other finders may call importlib.util.find_spec
        try:
            spec = _find_with_others(self, fullname, path, target)
        finally:
            self._busy.name = None
        loader = getattr(spec, "loader", None)
        if loader is not None and hasattr(loader, "exec_module"):
            _wrap_after_exec(loader, fullname)
        return spec


def _find_with_others(me: object, fullname: str, path: Any, target: Any) -> Any:
    for finder in list(sys.meta_path):
        find_spec = getattr(finder, "find_spec", None)
        if finder is me or find_spec is None:
            continue
        spec = find_spec(fullname, path, target)
        if spec is not None:
            return spec
    return None


def _wrap_after_exec(loader: Any, fullname: str) -> None:
    run = loader.exec_module  # bound method of this module's own loader instance

    def exec_module(module: ModuleType) -> None:
        try:
            run(module)
        finally:
            loader.__dict__.pop("exec_module", None)  # back to the class's method
        if module.__name__ == fullname:
            _wrap_module(fullname, module, executed=True)

    try:
        loader.exec_module = exec_module
    except (AttributeError, TypeError):  # a loader that takes no attributes: covered later
        pass


def _install_finder() -> None:
    global _finder_installed
    with _LOCK:
        if not _finder_installed:
            sys.meta_path.insert(0, _WrapAfterImport())
            _finder_installed = True
