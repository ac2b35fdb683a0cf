"""File dependencies: which files a step read, and whether their content changed since."""

from __future__ import annotations

import importlib
import json
import os
import threading
from pathlib import Path

import pytest

from flowyml.execution.filedeps import (
    MISSING,
    FileReads,
    changed_files,
    digest_files,
    ignore_dir,
    record_read,
)


@pytest.fixture
def data(tmp_path: Path) -> Path:
    path = tmp_path / "data.csv"
    path.write_text("a,b\n1,2\n3,4\n")
    return path


def test_open_for_reading_is_recorded_with_an_absolute_path(data, monkeypatch):
    monkeypatch.chdir(data.parent)
    with FileReads() as reads:
        with open("data.csv") as stream:
            stream.read()
    assert reads.paths == {str(data)}
    with FileReads() as low_level:
        os.close(os.open("data.csv", os.O_RDONLY))
    assert low_level.paths == {str(data)}


def test_reads_through_libraries_are_recorded(data, tmp_path):
    pd = pytest.importorskip("pandas")
    np = pytest.importorskip("numpy")
    array = tmp_path / "x.npy"
    np.save(array, np.arange(3))
    with FileReads() as reads:
        frame = pd.read_csv(data)
        np.load(array)
        Path(data).read_bytes()
    assert list(frame.columns) == ["a", "b"]
    assert reads.paths == {str(data), str(array)}


def test_writes_are_not_recorded_nor_reads_of_what_the_step_wrote(tmp_path):
    out = tmp_path / "out.txt"
    log = tmp_path / "calls.log"
    with FileReads() as reads:
        out.write_text("result")
        with open(log, "a") as stream:
            stream.write("step\n")
        assert out.read_text() == "result"  # the step's own output, read back
        os.close(os.open(tmp_path / "new.bin", os.O_WRONLY | os.O_CREAT))
    assert reads.paths == set()


def test_imports_and_traceback_source_lookups_are_not_recorded(tmp_path, monkeypatch):
    (tmp_path / "fd_module_for_import.py").write_text("VALUE = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    with FileReads() as reads:
        module = importlib.import_module("fd_module_for_import")
        import linecache

        linecache.getline(module.__file__, 1)
        json.dumps({})  # stdlib work inside the step
    monkeypatch.delitem(__import__("sys").modules, "fd_module_for_import")
    assert reads.paths == set()


def test_directories_devices_and_ignored_folders_are_not_recorded(tmp_path):
    store = tmp_path / "store"
    (store / "objects").mkdir(parents=True)
    (store / "objects" / "ab").write_bytes(b"x")
    ignore_dir(store)
    with FileReads() as reads:
        (store / "objects" / "ab").read_bytes()
        os.close(os.open(tmp_path, os.O_RDONLY))
        if os.path.exists("/dev/null"):
            open("/dev/null").close()
    assert reads.paths == set()


def test_a_missing_file_is_recorded_and_its_appearance_is_a_change(tmp_path):
    optional = tmp_path / "overrides.json"
    with FileReads() as reads:
        try:
            open(optional).close()
        except FileNotFoundError:
            pass
    assert reads.paths == {str(optional)}
    deps = digest_files(reads.paths)
    assert deps == {str(optional): MISSING}
    optional.write_text("{}")
    assert changed_files(deps) == [str(optional)]


def test_nothing_is_recorded_outside_the_block(data):
    with FileReads() as reads:
        pass
    data.read_text()
    assert reads.paths == set()


def test_recording_is_per_thread(tmp_path):
    mine, theirs = tmp_path / "mine.txt", tmp_path / "theirs.txt"
    mine.write_text("1")
    theirs.write_text("2")
    started, release = threading.Event(), threading.Event()
    seen: dict[str, set[str]] = {}

    def other() -> None:
        with FileReads() as reads:
            started.set()
            release.wait(5)
            theirs.read_text()
        seen["other"] = reads.paths

    worker = threading.Thread(target=other)
    worker.start()
    started.wait(5)
    with FileReads() as reads:
        mine.read_text()
        release.set()
        worker.join(5)
    assert reads.paths == {str(mine)}
    assert seen["other"] == {str(theirs)}


def test_nested_recorders_both_see_inner_reads(data):
    with FileReads() as outer:
        with FileReads() as inner:
            data.read_text()
    assert outer.paths == inner.paths == {str(data)}


def test_record_read_declares_a_native_read(data):
    with FileReads() as reads:
        record_read(data)
    record_read(data)  # no recorder: nothing happens
    assert reads.paths == {str(data)}


def test_touching_a_file_keeps_its_digest_and_editing_changes_it(data):
    deps = digest_files([str(data)])
    assert len(deps[str(data)]) == 64
    stat = data.stat()
    os.utime(data, ns=(stat.st_atime_ns + 5_000_000_000, stat.st_mtime_ns + 5_000_000_000))
    assert digest_files([str(data)]) == deps
    assert changed_files(deps) == []
    data.write_text("a,b\n1,2\n3,5\n")  # same size, new content
    assert changed_files(deps) == [str(data)]


def test_an_edit_that_restores_the_mtime_is_still_seen(data):
    old = data.stat()
    os.utime(data, ns=(old.st_atime_ns - 10_000_000_000, old.st_mtime_ns - 10_000_000_000))
    deps = digest_files([str(data)])  # old enough to be memoised
    restored = data.stat()
    data.write_text("a,b\n9,9\n9,9\n")  # same size
    os.utime(data, ns=(restored.st_atime_ns, restored.st_mtime_ns))
    assert changed_files(deps) == [str(data)]


def test_a_vanished_file_is_a_change(data):
    deps = digest_files([str(data)])
    data.unlink()
    assert digest_files([str(data)]) == {str(data): MISSING}
    assert changed_files(deps) == [str(data)]


def test_equal_contents_have_equal_digests(tmp_path):
    a, b, empty = tmp_path / "a", tmp_path / "b", tmp_path / "empty"
    a.write_bytes(b"same bytes")
    b.write_bytes(b"same bytes")
    empty.write_bytes(b"")
    digests = digest_files([str(a), str(b), str(empty)])
    assert digests[str(a)] == digests[str(b)] != digests[str(empty)]
    import blake3

    assert digests[str(empty)] == blake3.blake3(b"").hexdigest()
