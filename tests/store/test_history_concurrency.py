"""Concurrent writers and locks left behind by dead processes, with real processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from flowyml.errors import RefConflict
from flowyml.store.history import History
from flowyml.store.refnames import run_ref

try:  # tests/store may or may not become a package
    from .gitenv import fsck_strict, git, scrub_git_env
except ImportError:
    from gitenv import fsck_strict, git, scrub_git_env

REF = run_ref("shared pipeline")

WRITER = r"""
import os, sys, time
from flowyml.store.history import History

meta, ref, worker, count, go, serialize = sys.argv[1:7]
while not os.path.exists(go):
    time.sleep(0.001)
# Every writer also races to create the repository itself.
with History.open(os.path.dirname(meta), metadata_path=meta, serialize_writers=serialize == "1") as h:
    for n in range(int(count)):
        h.record(ref, {"manifest.json": f"{worker}:{n}".encode()}, f"worker {worker} run {n}",
                 run_id=f"{int(worker):04x}{n:08x}")
"""

KILLED_MID_UPDATE = r"""
import os, signal, sys
import dulwich.file
from flowyml.store.history import History

real_close = dulwich.file._GitFile.close

def close(self):
    # Die the way kill -9 would: after writing <ref>.lock, before renaming it.
    if os.fsdecode(self._filename).endswith(sys.argv[2].split("/")[-1]):
        os.kill(os.getpid(), signal.SIGKILL)
    return real_close(self)

dulwich.file._GitFile.close = close
History(sys.argv[1]).record(sys.argv[2], {"m": b"never lands"}, "doomed")
"""


@pytest.fixture(autouse=True)
def _clean_git_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    scrub_git_env(monkeypatch, tmp_path / "home")


@pytest.fixture
def git_dir(tmp_path: Path) -> Path:
    meta = tmp_path / "meta.git"
    History.open(tmp_path, metadata_path=meta).close()
    return meta


def ref_lock(git_dir: Path) -> Path:
    return git_dir / (REF + ".lock")


def commits_on(git_dir: Path, ref: str) -> list[str]:
    return git("--git-dir", str(git_dir), "log", "--first-parent", "--format=%s", ref, cwd=git_dir).splitlines()


@pytest.mark.slow
@pytest.mark.parametrize("serialize", [True, False], ids=["queued", "cas-only"])
def test_four_processes_recording_to_one_ref_lose_nothing(tmp_path: Path, serialize: bool) -> None:
    meta, go = tmp_path / "project" / "meta.git", tmp_path / "go"
    meta.parent.mkdir()
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(meta), REF, str(w), "25", str(go), "1" if serialize else "0"],
            stderr=subprocess.PIPE,
            text=True,
        )
        for w in range(4)
    ]
    time.sleep(0.3)  # let every interpreter start, so they begin together
    go.touch()
    for worker in workers:
        _, err = worker.communicate(timeout=300)
        assert worker.returncode == 0, err

    subjects = commits_on(meta, REF)
    assert len(subjects) == 100
    assert git("--git-dir", str(meta), "rev-list", "--count", REF, cwd=tmp_path).strip() == "100"
    for w in range(4):  # each worker's runs appear in the order it made them
        mine = [s for s in subjects if s.startswith(f"worker {w} ")]
        assert mine == [f"worker {w} run {n}" for n in reversed(range(25))]
    with History(meta) as h:
        runs = h.list_runs(limit=None)
        assert sorted(r.run_id for r in runs) == sorted(f"{w:04x}{n:08x}" for w in range(4) for n in range(25))
        assert len(h.refs()) == 1
    assert not ref_lock(meta).exists()
    fsck_strict(meta)


@pytest.mark.parametrize("serialize", [True, False], ids=["queued", "cas-only"])
def test_threads_with_their_own_history_lose_nothing(git_dir: Path, serialize: bool) -> None:
    errors: list[BaseException] = []

    def write(worker: int) -> None:
        try:
            with History(git_dir, serialize_writers=serialize) as h:
                for n in range(25):
                    h.record(REF, {"m": f"{worker}:{n}".encode()}, f"thread {worker} run {n}")
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(commits_on(git_dir, REF)) == 100
    fsck_strict(git_dir)


def test_a_lock_left_by_a_killed_writer_is_recovered_at_once(git_dir: Path) -> None:
    with History(git_dir) as h:
        first = h.record(REF, {"m": b"1"}, "before the crash")
    killed = subprocess.run([sys.executable, "-c", KILLED_MID_UPDATE, str(git_dir), REF])
    assert killed.returncode == -signal.SIGKILL
    assert ref_lock(git_dir).exists()  # the crash left git's lock behind

    # A huge age threshold: only the dead holder's evidence can free the ref in time.
    with History(git_dir, stale_lock_seconds=3600, retry_deadline=20) as h:
        after = h.record(REF, {"m": b"2"}, "after the crash")
        assert h.commit(after).parents == (first,)
    assert not ref_lock(git_dir).exists()
    assert commits_on(git_dir, REF) == ["after the crash", "before the crash"]
    fsck_strict(git_dir)


def test_an_old_lock_with_no_owner_is_removed(git_dir: Path) -> None:
    with History(git_dir) as h:
        h.record(REF, {"m": b"1"}, "one")
        lock = ref_lock(git_dir)
        lock.write_bytes(b"half-written by a killed git\n")
        an_hour_ago = time.time() - 3600
        os.utime(lock, (an_hour_ago, an_hour_ago))
        h.record(REF, {"m": b"2"}, "two")
    assert not lock.exists()
    assert commits_on(git_dir, REF) == ["two", "one"]


def test_a_live_lock_is_waited_for_not_broken(git_dir: Path) -> None:
    with History(git_dir, stale_lock_seconds=3600, retry_deadline=20) as h:
        h.record(REF, {"m": b"1"}, "one")
        lock = ref_lock(git_dir)
        lock.write_bytes(b"")
        releaser = threading.Timer(0.3, lock.unlink)
        releaser.start()
        h.record(REF, {"m": b"2"}, "two")
        releaser.join()
    assert commits_on(git_dir, REF) == ["two", "one"]


def test_a_lock_held_too_long_raises_ref_conflict(git_dir: Path) -> None:
    with History(git_dir, stale_lock_seconds=3600, retry_deadline=0.5) as h:
        first = h.record(REF, {"m": b"1"}, "one")
        lock = ref_lock(git_dir)
        lock.write_bytes(b"")
        with pytest.raises(RefConflict):
            h.record(REF, {"m": b"2"}, "two")
        assert lock.exists()  # someone else's live lock is never broken early
        assert h.tip(REF) == first


def test_an_object_lock_left_by_a_killed_write_is_recovered(git_dir: Path) -> None:
    from dulwich.objects import Blob

    data = b"the manifest a killed process was writing"
    sha = Blob.from_string(data).id.decode()
    lock = git_dir / "objects" / sha[:2] / (sha[2:] + ".lock")
    lock.parent.mkdir(exist_ok=True)
    lock.write_bytes(b"x\x9c partial")
    an_hour_ago = time.time() - 3600
    os.utime(lock, (an_hour_ago, an_hour_ago))
    with History(git_dir) as h:
        commit = h.record(REF, {"manifest": data}, "after a killed object write")
        assert h.read(commit, "manifest") == data
    assert not lock.exists()
    fsck_strict(git_dir)
