"""The object store: content addressing, atomic writes, verified reads, flush."""

from __future__ import annotations

import multiprocessing
import os
import pickle
import stat
import sys
import threading
import time
from pathlib import Path

import pytest

from flowyml.errors import CodecError, CorruptObject, ObjectNotFound, StoreError
from flowyml.store.canonical import digest
from flowyml.store.objects import ObjectRef, ObjectStore

np = pytest.importorskip("numpy")
pd = pytest.importorskip("pandas")


@pytest.fixture
def store(tmp_path: Path) -> ObjectStore:
    return ObjectStore(tmp_path / "store")


def flip_byte(path: Path, offset: int = 0) -> None:
    path.chmod(stat.S_IRUSR | stat.S_IWUSR)  # objects are stored read-only
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


def object_files(store: ObjectStore) -> list[Path]:
    return sorted(p for p in (store.root / "objects").rglob("*") if p.is_file())


def test_put_and_get_a_small_value(store: ObjectStore) -> None:
    ref = store.put(42)
    assert ref == ObjectRef(ref.oid, "msgpack", 1)
    assert store.get(ref.oid, ref.codec) == 42


def test_objects_are_named_by_the_blake3_of_their_bytes(store: ObjectStore) -> None:
    ref = store.put({"a": [1, 2]})
    path = store.path(ref.oid)
    assert path == store.root / "objects" / ref.oid[:2] / ref.oid[2:]
    assert digest(path.read_bytes()) == ref.oid
    assert path.stat().st_size == ref.size
    assert store.get_bytes(ref.oid) == path.read_bytes()


def test_the_store_is_created_lazily(tmp_path: Path) -> None:
    root = tmp_path / "not" / "yet"
    store = ObjectStore(root)
    assert not root.exists()
    assert list(store.iter_oids()) == []
    store.put("x")
    assert root.is_dir()


def test_a_relative_root_is_created_from_the_working_directory(tmp_path: Path, monkeypatch) -> None:
    # Folder creation walked up with dirname(); a relative path ran out at "" and spun forever.
    monkeypatch.chdir(tmp_path)
    store = ObjectStore(Path("rel") / "store")
    ref = store.put([1, 2])
    store.flush()
    assert (tmp_path / "rel" / "store" / "objects" / ref.oid[:2] / ref.oid[2:]).is_file()
    assert store.get(ref.oid, ref.codec) == [1, 2]


def test_identical_values_are_stored_once(store: ObjectStore) -> None:
    frame = pd.DataFrame({"a": [1.5, 2.5]}, index=pd.Index(["x", "y"], name="k"))
    first = store.put(frame)
    second = store.put(frame.copy())
    assert first == second
    assert store.put(b"raw") == store.put(b"raw")
    assert len(object_files(store)) == 2
    assert sorted(store.iter_oids()) == sorted({first.oid, store.put(b"raw").oid})


@pytest.mark.parametrize(
    "value",
    [
        None,
        {"nested": [1, (2, 3), {"b": b"\x00"}]},
        np.arange(400_000.0).reshape(400, 1000),  # above 1 MiB: memory-mapped on read
        np.float32(0.25),
    ],
)
def test_round_trips_through_the_store(store: ObjectStore, value: object) -> None:
    ref = store.put(value)
    out = store.get(ref.oid, ref.codec)
    if isinstance(value, np.ndarray):
        np.testing.assert_array_equal(out, value)
        out[0, 0] = -1.0  # loaded arrays are writable, like the step's own
    else:
        assert out == value and type(out) is type(value)


def test_large_dataframe_round_trips(store: ObjectStore) -> None:
    frame = pd.DataFrame(np.random.default_rng(1).standard_normal((100_000, 4)), columns=list("abcd"))
    frame["label"] = pd.Categorical(np.where(frame["a"] > 0, "up", "down"))
    ref = store.put(frame)
    assert ref.codec == "arrow/pandas" and ref.size > 1 << 20
    out = store.get(ref.oid, ref.codec)
    pd.testing.assert_frame_equal(out, frame, check_exact=True)
    out.iloc[0, 0] = 0.0  # the loaded frame does not lean on the read-only file


def test_frames_arrow_would_alter_fall_back_to_pickle(store: ObjectStore) -> None:
    frame = pd.DataFrame({"tags": pd.Series([["a"], ["b", "c"]], dtype=object)})
    ref = store.put(frame)
    assert ref.codec == "pickle"
    assert store.get(ref.oid, ref.codec)["tags"].tolist() == [["a"], ["b", "c"]]


def test_a_forced_codec_is_used_or_refused(store: ObjectStore) -> None:
    assert store.put([1, 2], codec="pickle").codec == "pickle"
    with pytest.raises(CodecError):
        store.put([1, 2], codec="npy")
    with pytest.raises(CodecError):
        store.put(1, codec="no-such-codec")


def test_unstorable_values_raise_codec_error(store: ObjectStore) -> None:
    with pytest.raises(CodecError):
        store.put(threading.Lock())


def test_flipped_byte_is_reported_as_corrupt(store: ObjectStore) -> None:
    ref = store.put({"metric": 0.93})
    flip_byte(store.path(ref.oid), offset=3)
    with pytest.raises(CorruptObject) as caught:
        store.get(ref.oid, ref.codec)
    assert caught.value.oid == ref.oid
    assert caught.value.actual == digest(store.path(ref.oid).read_bytes()) != ref.oid
    assert caught.value.path == str(store.path(ref.oid))
    with pytest.raises(CorruptObject):
        store.get_bytes(ref.oid)
    assert store.verify(ref.oid) is False


def test_corruption_is_caught_before_decoding_large_objects(store: ObjectStore) -> None:
    ref = store.put(np.arange(300_000.0))
    assert store.verify(ref.oid) is True
    flip_byte(store.path(ref.oid), offset=ref.size - 1)
    with pytest.raises(CorruptObject):
        store.get(ref.oid, ref.codec)
    assert store.verify(ref.oid) is False


def test_missing_objects_raise_object_not_found(store: ObjectStore) -> None:
    oid = digest(b"never stored")
    assert not store.has(oid)
    with pytest.raises(ObjectNotFound) as caught:
        store.get(oid, "msgpack")
    assert caught.value.oid == oid
    assert isinstance(caught.value, KeyError)
    with pytest.raises(ObjectNotFound):
        store.get_bytes(oid)
    with pytest.raises(ObjectNotFound):
        store.verify(oid)


def test_malformed_oids_never_name_a_path_outside_the_store(store: ObjectStore) -> None:
    for bad in ("../../etc/passwd", "ABC", "g" * 64, digest(b"x").upper(), ""):
        assert not store.has(bad)
        with pytest.raises(StoreError):
            store.get(bad, "msgpack")
        with pytest.raises(StoreError):
            store.path(bad)


def test_a_leftover_temp_file_does_not_break_a_later_put(store: ObjectStore) -> None:
    value = {"step": "train"}
    oid = store.put("warm up").oid  # creates the folders
    final = store.path(digest(get_encoded(value)))
    final.parent.mkdir(parents=True, exist_ok=True)
    stale = final.parent / f"{final.name}.0123456789ab.tmp"  # what a killed writer leaves
    stale.write_bytes(b"half an obj")
    ref = store.put(value)
    assert store.path(ref.oid) == final
    assert store.get(ref.oid, ref.codec) == value
    assert sorted(store.iter_oids()) == sorted([oid, ref.oid])  # the temp file is not an object


def get_encoded(value: object) -> bytes:
    from flowyml.store.codecs import get_codec

    return bytes(get_codec("msgpack").encode(value))


def test_clean_temp_removes_only_old_temp_files(store: ObjectStore) -> None:
    ref = store.put("x")
    folder = store.path(ref.oid).parent
    old, fresh = folder / "aa.000000000000.tmp", folder / "bb.111111111111.tmp"
    old.write_bytes(b"")
    fresh.write_bytes(b"")
    an_hour_ago = time.time() - 7200
    os.utime(old, (an_hour_ago, an_hour_ago))
    assert store.clean_temp(older_than=3600) == 1
    assert not old.exists() and fresh.exists()
    assert store.has(ref.oid)


def test_a_truncated_object_is_rewritten_by_the_next_put(store: ObjectStore) -> None:
    ref = store.put("a value long enough to cut short")
    path = store.path(ref.oid)
    path.chmod(stat.S_IRUSR | stat.S_IWUSR)
    path.write_bytes(b"")  # what a power loss before flush() can leave
    assert store.put("a value long enough to cut short") == ref
    assert store.get(ref.oid, ref.codec) == "a value long enough to cut short"


def test_objects_are_read_only_files(store: ObjectStore) -> None:
    mode = store.path(store.put(1).oid).stat().st_mode
    assert not mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)


def test_pickles_are_refused_when_not_allowed(tmp_path: Path) -> None:
    ref = ObjectStore(tmp_path).put({1, 2})
    assert ref.codec == "pickle"
    guarded = ObjectStore(tmp_path, allow_pickle=False)
    with pytest.raises(CodecError, match="allow_pickle=False"):
        guarded.get(ref.oid, ref.codec)
    assert guarded.get(guarded.put([1]).oid, "msgpack") == [1]  # other codecs still decode


def test_put_bytes_and_get_bytes(store: ObjectStore) -> None:
    oid = store.put_bytes(memoryview(b"hello"))
    assert oid == digest(b"hello")
    assert store.get_bytes(oid) == b"hello"
    assert store.has(oid)


@pytest.mark.parametrize("count", [3, 40])  # few files: fsync each; many: one syncfs on Linux
def test_flush_after_puts(store: ObjectStore, count: int) -> None:
    refs = [store.put(i) for i in range(count)]
    refs.append(store.put(np.zeros(200_000)))  # a large object, synced in the background
    store.flush()
    store.flush()  # nothing pending: a no-op
    assert all(store.get(r.oid, r.codec) is not None for r in refs)


def test_flush_reports_objects_it_could_not_sync(store: ObjectStore) -> None:
    ref = store.put("doomed")
    store.path(ref.oid).unlink()
    with pytest.raises(StoreError, match="could not flush"):
        store.flush()
    store.flush()  # the failure was reported once


def test_flush_without_background_sync(tmp_path: Path) -> None:
    store = ObjectStore(tmp_path, background_sync=False)
    ref = store.put(np.zeros(200_000))
    store.flush()
    assert store.verify(ref.oid)


def test_concurrent_puts_of_the_same_value(store: ObjectStore) -> None:
    value = np.arange(50_000)
    refs: list[ObjectRef] = []
    threads = [threading.Thread(target=lambda: refs.append(store.put(value))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    store.flush()
    assert len(set(refs)) == 1
    assert object_files(store) == [store.path(refs[0].oid)]


def test_the_store_pickles_as_its_location(store: ObjectStore) -> None:
    ref = store.put("shared")
    copy = pickle.loads(pickle.dumps(store))
    assert copy.root == store.root
    assert copy.get(ref.oid, ref.codec) == "shared"


def _put_in_child(store: ObjectStore, queue: multiprocessing.Queue) -> None:
    ref = store.put({"from": "child"})
    store.flush()
    queue.put(ref.oid)


@pytest.mark.skipif(sys.platform == "win32", reason="needs fork")
def test_a_forked_child_writes_and_flushes(store: ObjectStore) -> None:
    store.put(np.zeros(200_000))  # the parent has background syncing under way
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_put_in_child, args=(store, queue))
    child.start()
    oid = queue.get(timeout=30)
    child.join(timeout=30)
    assert child.exitcode == 0
    assert store.get(oid, "msgpack") == {"from": "child"}
    store.flush()


def test_a_background_flush_reports_when_done(store: ObjectStore) -> None:
    refs = [store.put(i) for i in range(40)]
    pending = store.start_flush()
    pending.wait()
    assert all(store.get(r.oid, r.codec) == i for i, r in enumerate(refs))
    store.start_flush().wait()  # nothing left to flush: returns at once


def test_a_background_flush_hands_its_failure_to_the_waiter(store: ObjectStore, monkeypatch) -> None:
    store.put("x")

    def fail() -> None:
        raise StoreError("could not flush 1 object(s) to disk: disk gone")

    monkeypatch.setattr(store._syncer, "flush", fail)
    pending = store.start_flush()
    with pytest.raises(StoreError, match="disk gone"):
        pending.wait()


def test_a_fan_out_folder_removed_behind_the_stores_back_is_made_again(store: ObjectStore) -> None:
    import shutil

    ref = store.put("again")
    shutil.rmtree(store.path(ref.oid).parent)  # say, an empty-folder sweep by another tool
    assert store.put("again") == ref
    assert store.get(ref.oid, ref.codec) == "again"


def test_an_object_another_store_wrote_is_found_not_rewritten(tmp_path: Path) -> None:
    first, second = ObjectStore(tmp_path / "s"), ObjectStore(tmp_path / "s")
    ref = first.put("shared")
    before = first.path(ref.oid).stat().st_ino
    assert second.put("shared") == ref
    assert second.path(ref.oid).stat().st_ino == before  # the same file: not written twice
