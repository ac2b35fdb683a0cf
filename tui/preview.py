"""Previews of stored outputs, read as little as possible and never unpickled unasked.

* Tables (``arrow/*`` codecs) are Arrow IPC files: the object is verified
  against its oid, then memory-mapped; only the schema, the row count (from
  the file footer) and the first record batches are touched.
* Plain values (``msgpack``), numpy arrays and scalars are decoded by the store
  (verified, no code runs).
* Metrics show as a name/value table, from the manifest when it inlines them.
* Pickles (models and other objects) are described by their class, read from
  the pickle's opcodes without executing it, and their size; the value is
  loaded only by :func:`load_object`, on an explicit request.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flowyml.manifest import OutputRecord

PREVIEW_ROWS = 100
# Plain values above this size are not decoded for a preview (a 50 MB list
# would stall the worker for little gain); tables have no limit: they are mapped.
VALUE_PREVIEW_BYTES = 8 << 20
# How much of a pickle to scan for its class name (the first GLOBAL comes early).
PICKLE_SCAN_BYTES = 64 << 10


@dataclass(frozen=True)
class TablePreview:
    """The head of a table.

    Attributes:
        columns: ``(name, arrow type)`` per column; pandas index columns are named "(index)".
        rows: the first rows, one tuple of cell values each.
        row_count: rows in the whole table.
    """

    columns: tuple[tuple[str, str], ...]
    rows: tuple[tuple[Any, ...], ...]
    row_count: int


@dataclass(frozen=True)
class ValuePreview:
    """A decoded plain value (scalar, list, dict, array)."""

    value: Any
    summary: str


@dataclass(frozen=True)
class MetricsPreview:
    """Metrics as ``(name, value)`` pairs."""

    items: tuple[tuple[str, Any], ...]


@dataclass(frozen=True)
class ObjectPreview:
    """An object described without loading it (or after an explicit load).

    Attributes:
        type_name: ``module.Class`` read from the pickle, or "?".
        loaded: ``repr`` of the value after :func:`load_object`, else None.
    """

    type_name: str
    codec: str
    size: int
    loaded: str | None = None


@dataclass(frozen=True)
class PreviewError:
    """Why there is no preview (object missing, corrupt, undecodable)."""

    message: str


Preview = TablePreview | ValuePreview | MetricsPreview | ObjectPreview | PreviewError


def preview_output(store: Any, record: OutputRecord, rows: int = PREVIEW_ROWS) -> Preview:
    """A preview of one stored output.

    Args:
        store: the ObjectStore holding it.
        record: its manifest record (oid, codec, size, asset).
        rows: how many table rows to read.
    """
    from flowyml.errors import FlowymlError

    kind = (record.asset or {}).get("kind")
    try:
        if kind == "metrics":
            return _metrics(store, record)
        if record.codec.startswith("arrow/"):
            return table_head(store, record.oid, rows)
        if record.codec == "pickle":
            return ObjectPreview(pickled_type(store.path(record.oid)) or "?", record.codec, record.size)
        if record.size > VALUE_PREVIEW_BYTES:
            return PreviewError(f"{record.codec} value of {record.size} bytes: too large to preview")
        value = store.get(record.oid, record.codec)
        return ValuePreview(value, describe_value(value))
    except FlowymlError as exc:
        return PreviewError(_why(exc))
    except OSError as exc:
        return PreviewError(f"cannot read object {record.oid[:12]}: {exc}")


def table_head(store: Any, oid: str, rows: int = PREVIEW_ROWS) -> TablePreview:
    """Schema, row count and first ``rows`` rows of a stored Arrow table, read lazily.

    Raises:
        ObjectNotFound: the object is not in the store.
        CorruptObject: its bytes no longer match its oid.
        CodecError: it is not an Arrow IPC file.
    """
    import pyarrow as pa

    from flowyml.errors import CodecError, CorruptObject

    if not store.verify(oid):
        raise CorruptObject(oid, "something else", str(store.path(oid)))
    with pa.memory_map(str(store.path(oid)), "r") as source:
        try:
            reader = pa.ipc.open_file(source)
        except (pa.ArrowInvalid, OSError) as exc:
            raise CodecError(f"object {oid[:12]} is not an Arrow IPC file: {exc}") from exc
        batches, taken = [], 0
        for i in range(reader.num_record_batches):
            if taken >= rows:
                break
            batch = reader.get_batch(i)
            batches.append(batch)
            taken += batch.num_rows
        head = pa.Table.from_batches(batches, schema=reader.schema).slice(0, rows)
        count = reader.count_rows()
        index = _index_columns(reader.schema)
        columns = tuple(("(index)" if f.name in index else f.name, str(f.type)) for f in reader.schema)
        data = tuple(tuple(row.values()) for row in head.to_pylist(maps_as_pydicts="strict"))
    return TablePreview(columns, data, count)


def pickled_type(path: Any) -> str | None:
    """``module.Class`` of the object in a pickle file, found without unpickling it.

    Reads the opcodes of the first few KB (``pickletools.genops`` only parses)
    and returns the first class the pickle refers to, skipping the helpers old
    protocols and numpy reconstruct objects with; a pickle that starts with an
    empty dict, list, tuple or set holds that container.
    """
    import io
    import pickletools

    try:
        with open(path, "rb") as f:
            head = f.read(PICKLE_SCAN_BYTES)
    except OSError:
        return None
    strings: list[str] = []
    opening: list[str] = []  # the first opcodes that build something
    try:
        for op, arg, _pos in pickletools.genops(io.BytesIO(head)):
            if len(opening) < 2 and op.name not in ("PROTO", "FRAME"):
                opening.append(op.name)
                container = _CONTAINER_OPS.get(" ".join(opening))
                if container:
                    return container
            name = None
            if op.name in ("GLOBAL", "INST") and isinstance(arg, str):
                name = arg.replace(" ", ".")
            elif op.name == "STACK_GLOBAL" and len(strings) >= 2:
                name = f"{strings[-2]}.{strings[-1]}"
            elif isinstance(arg, str) and "UNICODE" in op.name:
                strings.append(arg)
            if name is not None and name not in _PICKLE_HELPERS:
                return _PICKLE_ALIASES.get(name, name)
    except Exception:  # truncated or odd pickles: we only wanted a name
        return None
    return None


_CONTAINER_OPS = {"EMPTY_DICT": "dict", "EMPTY_LIST": "list", "EMPTY_TUPLE": "tuple", "EMPTY_SET": "set",
                  "MARK DICT": "dict", "MARK LIST": "list"}  # the last two: protocol 0
# Globals a pickle calls to rebuild an object, not the object's class.
_PICKLE_HELPERS = frozenset({"copy_reg._reconstructor", "copyreg._reconstructor", "copyreg.__newobj__",
                             "copyreg.__newobj_ex__", "numpy._core.multiarray._reconstruct",
                             "numpy.core.multiarray._reconstruct"})
_PICKLE_ALIASES = {"numpy._core.numeric._frombuffer": "numpy.ndarray",
                   "numpy.core.numeric._frombuffer": "numpy.ndarray"}


def load_object(store: Any, record: OutputRecord, limit: int = 4000) -> ObjectPreview:
    """Load an object (unpickling it: call only when the user asked) and describe it."""
    value = store.get(record.oid, record.codec)
    text = repr(value)
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return ObjectPreview(f"{type(value).__module__}.{type(value).__qualname__}", record.codec, record.size, text)


def describe_value(value: Any) -> str:
    """``dict of 3 keys``, ``list of 10 items``, ``ndarray (100, 3) float64``, ``float``."""
    shape = getattr(value, "shape", None)
    if shape is not None and hasattr(value, "dtype"):
        return f"{type(value).__name__} {tuple(shape)} {value.dtype}"
    if isinstance(value, dict):
        return f"dict of {len(value)} key{'s' * (len(value) != 1)}"
    if isinstance(value, (list, tuple)):
        return f"{type(value).__name__} of {len(value)} item{'s' * (len(value) != 1)}"
    return type(value).__name__


def _metrics(store: Any, record: OutputRecord) -> Preview:
    values = (record.asset or {}).get("values")
    if values is None:
        if record.codec == "pickle":
            return ObjectPreview(pickled_type(store.path(record.oid)) or "?", record.codec, record.size)
        values = store.get(record.oid, record.codec)
    if isinstance(values, dict):
        return MetricsPreview(tuple((str(k), v) for k, v in values.items()))
    return ValuePreview(values, describe_value(values))


def _index_columns(schema: Any) -> set[str]:
    meta = schema.pandas_metadata or {}
    return {c for c in meta.get("index_columns", []) if isinstance(c, str)}


def _why(exc: Exception) -> str:
    from flowyml.errors import CodecError, CorruptObject, ObjectNotFound

    if isinstance(exc, ObjectNotFound):
        return "the object is not in the store (removed by gc, or the run was made on another machine)"
    if isinstance(exc, CorruptObject):
        return str(exc)
    if isinstance(exc, CodecError):
        return f"cannot decode: {exc}"
    return str(exc)
