"""Artifact previews: lazy table heads, plain values, metrics, pickles described without loading."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys

import pyarrow as pa
import pytest

from flowyml.manifest import OutputRecord
from flowyml.store.objects import ObjectStore
from flowyml_tui.preview import (MetricsPreview, ObjectPreview, PreviewError, TablePreview, ValuePreview,
                                 load_object, pickled_type, preview_output, table_head)


def record(store, value, asset=None) -> OutputRecord:
    ref = store.put(value)
    return OutputRecord(ref.oid, ref.codec, ref.size, asset)


def test_table_head_reads_only_what_it_shows(tmp_path):
    store = ObjectStore(tmp_path)
    batches = [pa.record_batch({"n": list(range(i * 1000, (i + 1) * 1000)), "s": ["x"] * 1000}) for i in range(50)]
    rec = record(store, pa.Table.from_batches(batches))
    head = table_head(store, rec.oid, rows=5)
    assert head.row_count == 50_000 and head.columns == (("n", "int64"), ("s", "string"))
    assert head.rows == ((0, "x"), (1, "x"), (2, "x"), (3, "x"), (4, "x"))


def test_pandas_index_columns_are_labelled(tmp_path):
    pd = pytest.importorskip("pandas")
    store = ObjectStore(tmp_path)
    frame = pd.DataFrame({"a": [1, 2]}, index=pd.Index(["r1", "r2"], name=None))
    preview = preview_output(store, record(store, frame))
    assert isinstance(preview, TablePreview)
    assert [name for name, _ in preview.columns] == ["a", "(index)"] and preview.rows == ((1, "r1"), (2, "r2"))


def test_a_corrupt_or_missing_table_is_reported_not_shown(tmp_path):
    store = ObjectStore(tmp_path)
    rec = record(store, pa.table({"n": [1, 2, 3]}))
    path = store.path(rec.oid)
    os.chmod(path, 0o644)
    data = bytearray(path.read_bytes())
    data[-20] ^= 0xFF
    path.write_bytes(bytes(data))
    bad = preview_output(store, rec)
    assert isinstance(bad, PreviewError) and "corrupt" in bad.message
    path.unlink()
    gone = preview_output(store, rec)
    assert isinstance(gone, PreviewError) and "not in the store" in gone.message


def test_plain_values_and_metrics(tmp_path):
    store = ObjectStore(tmp_path)
    value = preview_output(store, record(store, {"a": [1, 2], "b": "x"}))
    assert isinstance(value, ValuePreview) and value.value == {"a": [1, 2], "b": "x"}
    assert value.summary == "dict of 2 keys"
    metrics = preview_output(store, record(store, {"acc": 0.9, "loss": 0.1}, {"kind": "metrics"}))
    assert metrics == MetricsPreview((("acc", 0.9), ("loss", 0.1)))
    inline = OutputRecord("0" * 64, "msgpack", 3, {"kind": "metrics", "values": {"f1": 0.5}})
    assert preview_output(store, inline) == MetricsPreview((("f1", 0.5),))  # no read at all


def test_numpy_arrays_are_described_by_shape(tmp_path):
    np = pytest.importorskip("numpy")
    store = ObjectStore(tmp_path)
    preview = preview_output(store, record(store, np.zeros((3, 4), dtype="float32")))
    assert isinstance(preview, ValuePreview) and preview.summary == "ndarray (3, 4) float32"


def test_a_pickle_is_named_without_being_loaded(tmp_path):
    """The class lives in a module this process cannot even import: naming it must not try."""
    module = tmp_path / "secretmod.py"
    module.write_text("class Model:\n    def __init__(self):\n        self.w = [1, 2, 3]\n")
    blob = tmp_path / "model.pkl"
    code = f"import pickle, secretmod; open({str(blob)!r}, 'wb').write(pickle.dumps(secretmod.Model(), 5))"
    subprocess.run([sys.executable, "-c", code], cwd=tmp_path, check=True)
    store = ObjectStore(tmp_path / "store")
    oid = store.put_bytes(blob.read_bytes())
    rec = OutputRecord(oid, "pickle", blob.stat().st_size, {"kind": "model", "name": "m"})
    preview = preview_output(store, rec)
    assert preview == ObjectPreview("secretmod.Model", "pickle", rec.size)
    assert "secretmod" not in sys.modules


@pytest.mark.parametrize("protocol", [0, 2, 5])
def test_pickle_type_names_across_protocols(tmp_path, protocol):
    np = pytest.importorskip("numpy")
    path = tmp_path / "p"
    for value, name in ((OutputRecord("a", "b", 1), "flowyml.manifest.OutputRecord"),
                        (np.arange(3), "numpy.ndarray"), ({"k": np.arange(2)}, "dict"), ([object()], "list")):
        path.write_bytes(pickle.dumps(value, protocol=protocol))
        assert pickled_type(path) == name, (value, protocol)


def test_junk_is_no_pickle(tmp_path):
    (tmp_path / "junk").write_bytes(b"\x00not a pickle")
    assert pickled_type(tmp_path / "junk") is None
    assert pickled_type(tmp_path / "missing") is None


def test_loading_an_object_is_explicit(tmp_path):
    store = ObjectStore(tmp_path)
    rec = record(store, OutputRecord("a", "b", 1))
    assert rec.codec == "pickle"
    assert isinstance(preview_output(store, rec), ObjectPreview)
    loaded = load_object(store, rec)
    assert loaded.type_name == "flowyml.manifest.OutputRecord" and "OutputRecord(oid='a'" in loaded.loaded
