"""Arrow codecs: pandas, polars and pyarrow tables as uncompressed Arrow IPC files.

``arrow/pandas`` and ``arrow/pandas-series`` keep pyarrow's pandas metadata (index,
dtypes, attrs) plus what pyarrow drops; ``arrow/polars`` and ``arrow/polars-series``
carry polars' dtypes in Arrow field metadata; ``arrow/table`` decodes zero-copy. The
IPC image is handed to the store as chunks that view the table's own buffers, so a
large table is never copied into one buffer. pyarrow, pandas and polars are imported
only when a codec encodes or decodes. The registry is in :mod:`flowyml.store.codecs`.
"""

from __future__ import annotations

from typing import Any

from flowyml.errors import CodecError
from flowyml.store.lazytypes import is_exact

__all__ = [
    "ArrowTableCodec",
    "PandasFrameCodec",
    "PandasSeriesCodec",
    "PolarsFrameCodec",
    "PolarsSeriesCodec",
]

# Our own schema metadata on Arrow tables (pandas facts pyarrow does not keep).
_META_KEY = b"flowyml"


class _ChunkSink:
    """A write-only file for ``pyarrow.PythonFile`` that keeps what is written.

    pyarrow hands large column buffers over as ``pyarrow.Buffer`` views of the table's own
    memory, so keeping them costs no copy; small pieces (headers, padding) are joined.
    """

    _SMALL = 1 << 16

    def __init__(self) -> None:
        self.chunks: list[Any] = []
        self.size = 0
        self._small = bytearray()
        self.closed = False

    def write(self, data: Any) -> int:
        n = memoryview(data).nbytes
        if n < self._SMALL:
            self._small += data
        else:
            self._flush_small()
            self.chunks.append(data)
        self.size += n
        return n

    def _flush_small(self) -> None:
        if self._small:
            self.chunks.append(bytes(self._small))
            self._small = bytearray()

    def tell(self) -> int:
        return self.size

    def writable(self) -> bool:
        return True

    def flush(self) -> None:
        pass

    def close(self) -> None:
        self._flush_small()
        self.closed = True


def _ipc_chunks(table: Any) -> list[Any]:
    """An uncompressed Arrow IPC file image of ``table`` as a list of zero-copy chunks."""
    import pyarrow as pa

    sink = _ChunkSink()
    stream = pa.PythonFile(sink, mode="w")
    with pa.ipc.new_file(stream, table.schema, options=pa.ipc.IpcWriteOptions(compression=None)) as writer:
        writer.write_table(table)
    sink.close()
    return sink.chunks


def _read_ipc(buffer: Any) -> Any:
    """The Table in an Arrow IPC file image; its columns are views of ``buffer``."""
    import pyarrow as pa

    try:
        return pa.ipc.open_file(pa.py_buffer(buffer)).read_all()
    except (pa.ArrowInvalid, OSError) as exc:
        raise CodecError(f"object is not a valid Arrow IPC file: {exc}") from exc


class _ArrowCodec:
    """Common part of the Arrow codecs: a value <-> Table <-> Arrow IPC file.

    Subclasses give ``name``, ``accepts``, ``to_table`` and ``from_table``.
    """

    name = ""

    def encode(self, value: Any) -> list[Any]:
        """Return the Arrow IPC file image; raises CodecError if Arrow cannot hold it."""
        if not self.accepts(value):
            raise CodecError(f"{self.name} cannot store {type(value).__name__}")
        try:
            table = self.to_table(value)
        except Exception as exc:  # pandas, pyarrow and polars each raise their own types
            raise CodecError(f"{self.name} cannot store this {type(value).__name__}: {exc}") from exc
        return _ipc_chunks(table)

    def decode(self, buffer: Any) -> Any:
        """Rebuild the value from an Arrow IPC file image."""
        return self.from_table(_read_ipc(buffer))


class ArrowTableCodec(_ArrowCodec):
    """pyarrow Tables; decoded without copying (columns view the stored bytes)."""

    name = "arrow/table"

    def accepts(self, value: Any) -> bool:
        """Exact ``pyarrow.Table``."""
        return is_exact(value, "pyarrow", "Table")

    def to_table(self, value: Any) -> Any:
        return value

    def from_table(self, table: Any) -> Any:
        return table


class PolarsFrameCodec(_ArrowCodec):
    """polars DataFrames through Arrow (polars' dtypes ride in Arrow field metadata)."""

    name = "arrow/polars"

    def accepts(self, value: Any) -> bool:
        """Exact ``polars.DataFrame``."""
        return is_exact(value, "polars", "DataFrame")

    def to_table(self, value: Any) -> Any:
        return value.to_arrow()

    def from_table(self, table: Any) -> Any:
        import polars as pl

        return pl.from_arrow(table)


class PolarsSeriesCodec(PolarsFrameCodec):
    """polars Series, as a one-column frame."""

    name = "arrow/polars-series"

    def accepts(self, value: Any) -> bool:
        """Exact ``polars.Series``."""
        return is_exact(value, "polars", "Series")

    def to_table(self, value: Any) -> Any:
        return super().to_table(value.to_frame())

    def from_table(self, table: Any) -> Any:
        return super().from_table(table).to_series()


class PandasFrameCodec(_ArrowCodec):
    """pandas DataFrames through pyarrow's pandas metadata (index, dtypes, attrs).

    Frames Arrow would change on the way back are refused with CodecError (``put`` then
    falls back to pickle): object columns whose values Arrow converts (lists become
    arrays, mixed numbers become floats, dicts gain keys), duplicate column names, and
    column labels of mixed types. RangeIndex columns and the ``freq`` of a datetime
    index, which pyarrow drops, are kept in our own schema metadata.
    """

    name = "arrow/pandas"

    def accepts(self, value: Any) -> bool:
        """Exact ``pandas.DataFrame``."""
        return is_exact(value, "pandas", "DataFrame")

    def to_table(self, value: Any) -> Any:
        import pyarrow as pa

        _check_labels(value.columns)
        table = pa.Table.from_pandas(value, preserve_index=None)
        _check_object_columns(table)
        extra = _pandas_extras(value)
        if extra:
            table = table.replace_schema_metadata({**table.schema.metadata, _META_KEY: _json().dumps(extra).encode()})
        return table

    def from_table(self, table: Any) -> Any:
        frame = table.to_pandas()
        raw = (table.schema.metadata or {}).get(_META_KEY)
        return _restore_pandas_extras(frame, _json().loads(raw)) if raw else frame


class PandasSeriesCodec(PandasFrameCodec):
    """pandas Series, as a one-column frame; the name (even None) is kept."""

    name = "arrow/pandas-series"

    def accepts(self, value: Any) -> bool:
        """Exact ``pandas.Series``."""
        return is_exact(value, "pandas", "Series")

    def to_table(self, value: Any) -> Any:
        table = super().to_table(value.to_frame(name=value.name if value.name is not None else "__series__"))
        marker = {b"flowyml.series": b"unnamed" if value.name is None else b"named"}
        return table.replace_schema_metadata({**table.schema.metadata, **marker})

    def from_table(self, table: Any) -> Any:
        frame = super().from_table(table)
        series = frame.iloc[:, 0]
        if table.schema.metadata.get(b"flowyml.series") == b"unnamed":
            series.name = None
        return series


def _json() -> Any:
    import json  # 1 ms that only pandas frames need

    return json


def _check_labels(columns: Any) -> None:
    """Refuse column labels pyarrow would turn into strings (mixed or odd types)."""
    if columns.has_duplicates:
        raise ValueError("duplicate column names")
    levels = columns.levels if hasattr(columns, "levels") else [columns]
    for level in levels:
        if level.dtype == object and not all(isinstance(label, str) for label in level):
            raise ValueError("column labels of mixed or non-string types")


def _check_object_columns(table: Any) -> None:
    """Refuse object columns Arrow would not give back as the same Python objects."""
    import pyarrow as pa

    meta = table.schema.pandas_metadata or {}
    for column in meta.get("columns", []):
        if column.get("numpy_type") != "object":
            continue
        field = table.schema.field(column["field_name"])
        if not _object_type_round_trips(field.type, pa):
            raise ValueError(
                f"object column {column['name']!r} would come back as {field.type} values, not the same objects"
            )


def _object_type_round_trips(arrow_type: Any, pa: Any) -> bool:
    types = pa.types
    if types.is_string(arrow_type) or types.is_large_string(arrow_type):
        # pandas >= 3 (and 2.x with future.infer_string) reads strings back as the str dtype.
        import pandas as pd

        return not pd.get_option("future.infer_string")
    return (
        types.is_null(arrow_type)
        or types.is_decimal(arrow_type)
        or types.is_date(arrow_type)
        or types.is_time(arrow_type)
        or types.is_binary(arrow_type)
        or types.is_large_binary(arrow_type)
    )


def _pandas_extras(frame: Any) -> dict[str, Any]:
    import pandas as pd

    extra: dict[str, Any] = {}
    if type(frame.columns) is pd.RangeIndex:
        cols = frame.columns
        extra["columns_range"] = [cols.start, cols.stop, cols.step, cols.name]
    freq = getattr(frame.index, "freq", None)
    if freq is not None and isinstance(frame.index, (pd.DatetimeIndex, pd.TimedeltaIndex)):
        extra["index_freq"] = freq.freqstr
    return extra


def _restore_pandas_extras(frame: Any, extra: dict[str, Any]) -> Any:
    import pandas as pd

    if "columns_range" in extra:
        start, stop, step, name = extra["columns_range"]
        frame.columns = pd.RangeIndex(start, stop, step, name=name)
    if "index_freq" in extra:
        frame.index = type(frame.index)(frame.index, freq=extra["index_freq"])
    return frame
