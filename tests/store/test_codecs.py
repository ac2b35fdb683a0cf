"""Every codec round-trips what it accepts and refuses what it would alter."""

from __future__ import annotations

import datetime
import decimal
import io
import subprocess
import sys
import threading

import pytest

from flowyml.errors import CodecError
from flowyml.store.codecs import Codec, choose_codec, codec_names, get_codec

np = pytest.importorskip("numpy")
pd = pytest.importorskip("pandas")
pa = pytest.importorskip("pyarrow")


def round_trip(value: object, codec: str | None = None) -> tuple[str, object]:
    """Encode and decode through the codec ``choose_codec`` picks (or the one named)."""
    chosen = get_codec(codec) if codec else choose_codec(value)
    data = chosen.encode(value)
    stored = b"".join(bytes(memoryview(c)) for c in data) if isinstance(data, list) else bytes(memoryview(data))
    return chosen.name, chosen.decode(stored)


class Model:
    """Stands in for a fitted scikit-learn estimator: an arbitrary object with arrays."""

    def __init__(self, coef: object, name: str) -> None:
        self.coef_ = coef
        self.name = name


# -- registry --------------------------------------------------------------------------


def test_every_codec_is_registered_under_its_name() -> None:
    names = codec_names()
    assert {"msgpack", "npy", "npy/scalar", "arrow/pandas", "arrow/pandas-series", "arrow/polars",
            "arrow/polars-series", "arrow/table", "pickle"} <= set(names)
    for name in names:
        codec = get_codec(name)
        assert codec.name == name
        assert isinstance(codec, Codec)


def test_unknown_codec_names_raise() -> None:
    with pytest.raises(CodecError, match="unknown codec 'parquet'"):
        get_codec("parquet")


@pytest.mark.parametrize(
    ("value", "name"),
    [
        (1, "msgpack"),
        ({"a": [1, 2.5, None]}, "msgpack"),
        (np.arange(3), "npy"),
        (np.array([1, "x"], dtype=object), "pickle"),
        (np.ma.masked_array([1, 2], mask=[0, 1]), "pickle"),  # a subclass: npy would drop the mask
        (np.float64(0.5), "npy/scalar"),
        (pd.DataFrame({"a": [1]}), "arrow/pandas"),
        (pd.Series([1]), "arrow/pandas-series"),
        (pa.table({"a": [1]}), "arrow/table"),
        ({1, 2}, "pickle"),
        (Model([1.0], "m"), "pickle"),
    ],
)
def test_choose_codec_by_type(value: object, name: str) -> None:
    assert choose_codec(value).name == name


def test_type_checks_do_not_import_heavy_libraries() -> None:
    code = (
        "import sys\n"
        "from flowyml.store.codecs import choose_codec\n"
        "for v in (1, {'a': (1,)}, object(), {1}, b'x'):\n"
        "    choose_codec(v)\n"
        "heavy = [m for m in ('numpy', 'pandas', 'pyarrow', 'polars') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# -- msgpack ---------------------------------------------------------------------------


def test_msgpack_keeps_nesting_tuples_and_dict_order() -> None:
    value = {"z": (1, (2, [3, (4,)])), "a": [b"raw", None, True, -5, 2.5, "s"], "m": {"y": 1, "x": 2}}
    name, out = round_trip(value)
    assert name == "msgpack"
    assert out == value
    assert type(out["z"]) is tuple and type(out["z"][1][1][1]) is tuple
    assert list(out) == ["z", "a", "m"] and list(out["m"]) == ["y", "x"]


def test_msgpack_is_deterministic() -> None:
    codec = get_codec("msgpack")
    assert codec.encode({"a": [1, (2,)], "b": "x"}) == codec.encode({"a": [1, (2,)], "b": "x"})


def test_msgpack_refuses_values_it_would_change() -> None:
    codec = get_codec("msgpack")
    for value in ([np.float64(1.0)], {1, 2}, 2**64, [object()]):
        with pytest.raises(CodecError):
            codec.encode(value)


# -- numpy -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "array",
    [
        np.arange(12, dtype=np.int32).reshape(3, 4),
        np.asfortranarray(np.arange(12.0).reshape(3, 4)),
        np.arange(20.0).reshape(4, 5)[::2, 1::2],  # neither C nor Fortran contiguous
        np.array(3.5),  # 0-d
        np.zeros((0, 3)),
        np.array([1.5, 2.5], dtype=">f8"),  # big-endian
        np.array(["2020-01-01", "2021-06-30"], dtype="datetime64[D]"),
        np.array([(1, 2.0, b"ab")], dtype=[("i", "<i4"), ("f", "<f8"), ("s", "S2")]),
        np.array(["ünï", "x"]),
        np.array([True, False]),
        np.arange(300_000, dtype=np.float64).reshape(1000, 300),  # > 1 MiB
    ],
)
def test_npy_round_trips(array: object) -> None:
    name, out = round_trip(array)
    assert name == "npy"
    assert type(out) is np.ndarray
    assert out.dtype == array.dtype and out.shape == array.shape
    np.testing.assert_array_equal(out, array)
    assert out.flags.writeable


def test_npy_bytes_are_a_standard_npy_file() -> None:
    array = np.asfortranarray(np.arange(6.0).reshape(2, 3))
    data = b"".join(bytes(memoryview(c)) for c in get_codec("npy").encode(array))
    np.testing.assert_array_equal(np.load(io.BytesIO(data), allow_pickle=False), array)


def test_npy_refuses_object_arrays_both_ways() -> None:
    codec = get_codec("npy")
    with pytest.raises(CodecError, match="dtype=object"):
        codec.encode(np.array([{"a": 1}], dtype=object))
    pickled = io.BytesIO()
    np.save(pickled, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(CodecError, match="refusing to unpickle"):
        codec.decode(pickled.getvalue())


def test_object_arrays_go_to_pickle() -> None:
    array = np.array([{"a": 1}, None], dtype=object)
    name, out = round_trip(array)
    assert name == "pickle"
    assert out.dtype == object and out[0] == {"a": 1}


@pytest.mark.parametrize(
    "scalar",
    [np.float64(0.1), np.float32(1.5), np.int64(-3), np.uint8(7), np.bool_(True), np.datetime64("2020-01-02"),
     np.complex128(1 + 2j), np.str_("s")],
)
def test_numpy_scalars_keep_their_type(scalar: object) -> None:
    name, out = round_trip(scalar)
    assert name == "npy/scalar"
    assert type(out) is type(scalar)
    assert out == scalar


# -- pandas ----------------------------------------------------------------------------


def mixed_frame() -> object:
    index = pd.MultiIndex.from_tuples([("a", 1), ("a", 2), ("b", 1)], names=["group", "n"])
    frame = pd.DataFrame(
        {
            "int": np.array([1, 2, 3], dtype=np.int64),
            "small": np.array([1, 2, 3], dtype=np.uint8),
            "float": [1.5, np.nan, 3.0],
            "f32": np.array([1, 2, 3], dtype=np.float32),
            "str": ["x", None, "z"],
            "bool": [True, False, True],
            "nullable": pd.array([1, None, 3], dtype="Int64"),
            "cat": pd.Categorical(["lo", "hi", "lo"], categories=["lo", "hi"], ordered=True),
            "when": pd.date_range("2024-01-01", periods=3, tz="Europe/Paris"),
            "delta": pd.to_timedelta([1, 2, 3], unit="s"),
            "date": [datetime.date(2020, 1, d) for d in (1, 2, 3)],
            "dec": [decimal.Decimal("1.10"), decimal.Decimal("2"), None],
            "raw": [b"a", b"b", None],
        },
        index=index,
    )
    frame.attrs["source"] = "test"
    return frame


def test_pandas_round_trips_index_and_dtypes() -> None:
    frame = mixed_frame()
    name, out = round_trip(frame)
    assert name == "arrow/pandas"
    pd.testing.assert_frame_equal(out, frame, check_exact=True, check_index_type=True, check_column_type=True)
    assert out.attrs == {"source": "test"}


@pytest.mark.parametrize(
    "frame",
    [
        pd.DataFrame(np.arange(6.0).reshape(2, 3)),  # RangeIndex columns
        pd.DataFrame({"a": [1, 2, 3]}, index=pd.date_range("2020", periods=3, freq="D", name="day")),
        pd.DataFrame({"a": [1, 2, 3]}, index=pd.RangeIndex(10, 16, 2, name="r")),
        pd.DataFrame({"a": [1, 2]}, index=pd.Index(["x", "y"], name="k")),
        pd.DataFrame(np.ones((2, 2)), columns=pd.MultiIndex.from_tuples([("a", 1), ("b", 2)])),
        pd.DataFrame(),
        pd.DataFrame({"a": pd.period_range("2020-01", periods=2, freq="M"), "b": pd.interval_range(0, 2)}),
    ],
)
def test_pandas_round_trips_index_kinds(frame: object) -> None:
    name, out = round_trip(frame)
    assert name == "arrow/pandas"
    pd.testing.assert_frame_equal(out, frame, check_exact=True, check_index_type=True, check_column_type=True,
                                  check_freq=True)


def test_pandas_frames_arrow_would_alter_are_refused() -> None:
    codec = get_codec("arrow/pandas")
    for frame in (
        pd.DataFrame({"lists": pd.Series([[1, 2], [3]], dtype=object)}),  # would come back as arrays
        pd.DataFrame({"mixed": pd.Series([1, 2.5], dtype=object)}),  # would come back as float64
        pd.DataFrame({"dicts": [{"x": 1}, {"y": 2}]}),  # would gain the missing keys
        pd.DataFrame([[1, 2]], columns=["a", "a"]),
        pd.DataFrame({1: [1], "b": [2]}),  # mixed label types would become strings
    ):
        with pytest.raises(CodecError):
            codec.encode(frame)


def test_pandas_series_keep_name_and_index() -> None:
    for series in (
        pd.Series([1.5, 2.5], name="price", index=pd.Index(["a", "b"], name="sku")),
        pd.Series([1, 2, 3]),  # unnamed
        pd.Series(["x", "y"], name=0),
    ):
        name, out = round_trip(series)
        assert name == "arrow/pandas-series"
        pd.testing.assert_series_equal(out, series, check_exact=True, check_index_type=True)
        assert out.name == series.name


# -- polars and pyarrow ------------------------------------------------------------------


def test_polars_round_trips() -> None:
    pl = pytest.importorskip("polars")
    from polars.testing import assert_frame_equal, assert_series_equal

    frame = pl.DataFrame(
        {
            "i": [1, None, 3],
            "s": ["a", "b", None],
            "cat": pl.Series(["x", "y", "x"], dtype=pl.Categorical),
            "enum": pl.Series(["lo", "hi", "lo"], dtype=pl.Enum(["lo", "hi"])),
            "lst": [[1], [2, 3], None],
            "when": [datetime.datetime(2024, 1, d) for d in (1, 2, 3)],
        }
    )
    name, out = round_trip(frame)
    assert name == "arrow/polars"
    assert_frame_equal(out, frame)
    name, out = round_trip(frame["s"])
    assert name == "arrow/polars-series"
    assert_series_equal(out, frame["s"])


def test_pyarrow_table_round_trips_with_metadata() -> None:
    table = pa.table({"a": [1, 2, None], "b": ["x", "y", "z"]}).replace_schema_metadata({"origin": "test"})
    name, out = round_trip(table)
    assert name == "arrow/table"
    assert out.equals(table, check_metadata=True)


def test_arrow_bytes_are_a_standard_arrow_ipc_file() -> None:
    table = pa.table({"a": [1, 2]})
    data = b"".join(bytes(memoryview(c)) for c in get_codec("arrow/table").encode(table))
    assert data[:6] == b"ARROW1"
    assert pa.ipc.open_file(pa.py_buffer(data)).read_all().equals(table)


def test_arrow_encoding_is_deterministic() -> None:
    codec = get_codec("arrow/pandas")
    join = lambda chunks: b"".join(bytes(memoryview(c)) for c in chunks)  # noqa: E731
    assert join(codec.encode(mixed_frame())) == join(codec.encode(mixed_frame()))


def test_arrow_decode_refuses_garbage() -> None:
    with pytest.raises(CodecError):
        get_codec("arrow/table").decode(b"not arrow at all")


# -- pickle ----------------------------------------------------------------------------


def test_arbitrary_objects_round_trip_through_pickle() -> None:
    model = Model(np.array([0.5, -1.0]), "linear")
    name, out = round_trip(model)
    assert name == "pickle"
    assert type(out) is Model and out.name == "linear"
    np.testing.assert_array_equal(out.coef_, model.coef_)


def test_a_fitted_sklearn_estimator_round_trips() -> None:
    linear_model = pytest.importorskip("sklearn.linear_model")
    x = np.arange(10.0).reshape(5, 2)
    fitted = linear_model.LinearRegression().fit(x, x @ np.array([1.0, 2.0]))
    name, out = round_trip(fitted)
    assert name == "pickle"
    np.testing.assert_allclose(out.predict(x), fitted.predict(x))


def test_unpicklable_values_raise_codec_error() -> None:
    with pytest.raises(CodecError, match="cannot be pickled"):
        get_codec("pickle").encode(threading.Lock())
    with pytest.raises(CodecError):
        get_codec("pickle").decode(b"not a pickle")
