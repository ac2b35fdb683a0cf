"""The record path without dulwich's Repo: what it writes, where, and when it steps aside.

``History`` writes refs, reflogs and loose objects itself (through dulwich's refs
container and object classes) unless the repository's config asks for more; these
tests check the result with the real git binary, in every repository layout.
"""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import time
import zlib
from pathlib import Path

import pytest

from flowyml.errors import HistoryError, RefConflict
from flowyml.store.history import History
from flowyml.store.locate import LooseObjects
from flowyml.store.reflock import ref_lock_path
from flowyml.store.refnames import run_ref

try:  # tests/store may or may not become a package
    from .gitenv import fsck_strict, git, make_user_repo, scrub_git_env
except ImportError:
    from gitenv import fsck_strict, git, make_user_repo, scrub_git_env

REF = run_ref("light")
HEAVY = ("dulwich.repo", "dulwich.object_store", "filelock", "flowyml.store.runindex")

# Records twice in a fresh interpreter, reads back, and reports what it had to import.
RECORD = r"""
import json, sys
from flowyml.records import worktree_state
from flowyml.store.history import History
from flowyml.store.locate import LooseObjects

with History.open(sys.argv[1]) as h:
    shas = [h.record(sys.argv[2], {"manifest.json": f"run {n}".encode(), "sub/part.txt": b"x"}, f"run {n}",
                     run_id=f"{n:08x}") for n in range(2)]
    state = worktree_state(h) if h.bare else None
    heavy = [m for m in sys.argv[3].split(",") if m in sys.modules]
    read = [h.read(shas[1], "manifest.json").decode(), [c.sha for c in h.log(sys.argv[2])]]
    print(json.dumps({"shas": shas, "git_dir": h.git_dir, "bare": h.bare, "state": state, "read": read,
                      "heavy": heavy, "heavy_after_reads": [m for m in sys.argv[3].split(",") if m in sys.modules]}))
"""

HOLD_LOCK = r"""
import fcntl, os, sys, time
path, ready, released = sys.argv[1:4]
os.makedirs(os.path.dirname(path), exist_ok=True)
fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
fcntl.flock(fd, fcntl.LOCK_EX)
os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
open(ready, "w").close()
if released == "-":
    sys.stdin.read()  # hold until the test closes our stdin
else:
    time.sleep(0.5)
    os.ftruncate(fd, 0)
    open(released, "w").close()
fcntl.flock(fd, fcntl.LOCK_UN)
"""


@pytest.fixture(autouse=True)
def _clean_git_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    scrub_git_env(monkeypatch, tmp_path / "home")


def record_in_fresh_process(start: Path) -> dict:
    done = subprocess.run([sys.executable, "-c", RECORD, str(start), REF, ",".join(HEAVY)],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def wait_for(path: Path) -> None:
    deadline = time.monotonic() + 30
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.01)


def loose_object(git_dir: Path, sha: str) -> Path:
    return git_dir / "objects" / sha[:2] / sha[2:]


def assert_read_back(out: dict) -> None:
    """What the recording process itself read back (loose objects: still no Repo)."""
    assert out["read"] == ["run 1", list(reversed(out["shas"]))]
    assert "dulwich.repo" not in out["heavy_after_reads"] or "dulwich.repo" in out["heavy"]


def assert_git_reads_back(git_dir: Path, shas: list[str]) -> None:
    """Both commits, their files and reflog entries, as plain git sees them; fsck clean."""
    g = ("--git-dir", str(git_dir))
    assert git(*g, "rev-parse", REF, cwd=git_dir).strip() == shas[1]
    assert git(*g, "log", "--format=%H %an <%ae>", REF, cwd=git_dir).splitlines() == [
        f"{sha} flowyml <flowyml@localhost>" for sha in reversed(shas)]
    assert git(*g, "show", f"{REF}:manifest.json", cwd=git_dir) == "run 1"
    assert git(*g, "show", f"{REF}:sub/part.txt", cwd=git_dir) == "x"
    assert git(*g, "log", "-1", "--format=%(trailers:key=Flowyml-Run-Id,valueonly)", REF, cwd=git_dir).strip() == "00000001"
    reflog = git(*g, "reflog", "show", "--format=%H %gs", REF, cwd=git_dir).splitlines()
    assert reflog == [f"{shas[1]} flowyml: record", f"{shas[0]} flowyml: record"]
    blob = git(*g, "rev-parse", f"{REF}:manifest.json", cwd=git_dir).strip()
    assert os.stat(loose_object(git_dir, blob)).st_mode & 0o777 == 0o444  # loose and read-only, as git writes them
    fsck_strict(git_dir)


# -- the plain writers, in every layout ------------------------------------------------


def test_a_new_history_is_a_bare_repository_git_and_dulwich_accept(tmp_path: Path) -> None:
    from dulwich.repo import Repo

    with History.open(tmp_path) as h:
        assert h.bare
    bare = tmp_path / ".flowyml" / "history.git"
    g = ("--git-dir", str(bare))
    assert git(*g, "rev-parse", "--is-bare-repository", cwd=tmp_path).strip() == "true"
    assert git(*g, "config", "core.repositoryformatversion", cwd=tmp_path).strip() == "0"
    assert git(*g, "symbolic-ref", "HEAD", cwd=tmp_path).strip() == "refs/heads/master"
    fsck_strict(bare)
    with Repo(str(bare)) as repo:
        assert repo.bare and repo.refs.as_dict(b"refs/") == {}
    assert [p.name for p in tmp_path.joinpath(".flowyml").iterdir()] == ["history.git"]  # no staging left


def test_outside_a_work_tree_recording_needs_no_dulwich_repo(tmp_path: Path) -> None:
    out = record_in_fresh_process(tmp_path)
    assert out["heavy"] == []
    assert_read_back(out)
    assert out["bare"] is True and out["state"] == {}
    assert_git_reads_back(Path(out["git_dir"]), out["shas"])


def test_in_a_work_tree_the_plain_writers_write_the_users_repository(tmp_path: Path) -> None:
    project = make_user_repo(tmp_path / "project")
    out = record_in_fresh_process(project)
    assert out["heavy"] == []
    assert_read_back(out)
    assert out["bare"] is False
    assert Path(out["git_dir"]) == project / ".git"
    assert (project / ".git" / "logs" / REF).is_file()
    assert_git_reads_back(project / ".git", out["shas"])


def test_in_a_linked_worktree_refs_logs_and_objects_go_to_the_common_folder(tmp_path: Path) -> None:
    project = make_user_repo(tmp_path / "project")
    git("worktree", "add", "-q", "-b", "side", str(tmp_path / "wt"), cwd=project)
    out = record_in_fresh_process(tmp_path / "wt")
    assert out["heavy"] == []
    assert_read_back(out)
    assert out["bare"] is False
    assert Path(out["git_dir"]) == project / ".git"
    own = project / ".git" / "worktrees" / "wt"
    assert not (own / "refs" / "flowyml").exists() and not (own / "logs" / "refs").exists()
    assert_git_reads_back(project / ".git", out["shas"])
    assert git("rev-parse", REF, cwd=tmp_path / "wt").strip() == out["shas"][1]


def test_a_relative_gitdir_file_is_followed(tmp_path: Path) -> None:
    project = make_user_repo(tmp_path / "project")
    (project / ".git").rename(tmp_path / "separate.git")
    (project / ".git").write_text("gitdir: ../separate.git\n")
    out = record_in_fresh_process(project)
    assert Path(out["git_dir"]) == tmp_path / "separate.git"
    assert_git_reads_back(tmp_path / "separate.git", out["shas"])


def test_an_existing_object_is_kept_and_freshened_not_rewritten(tmp_path: Path) -> None:
    with History.open(tmp_path) as h:
        first = h.record(REF, {"m": b"same bytes"}, "one")
        blob = loose_object(Path(h.git_dir), h.commit(first).tree)
        an_hour_ago = time.time() - 3600
        os.utime(blob, (an_hour_ago, an_hour_ago))
        inode = os.stat(blob).st_ino
        h.record(REF, {"m": b"same bytes"}, "two")  # the same tree again
    assert os.stat(blob).st_ino == inode  # not written again
    assert os.stat(blob).st_mtime > an_hour_ago + 60  # but safe from an age-based prune


def test_packed_objects_are_read_through_dulwich_and_a_damaged_loose_one_is_caught(tmp_path: Path) -> None:
    from dulwich.errors import ChecksumMismatch

    with History.open(tmp_path) as h:
        first = h.record(REF, {"manifest.json": b"packed"}, "one")
        git_dir = Path(h.git_dir)
    git("--git-dir", str(git_dir), "gc", "-q", "--prune=now", cwd=tmp_path)
    assert not loose_object(git_dir, first).exists()
    with History.open(tmp_path) as h:
        second = h.record(REF, {"manifest.json": b"loose"}, "two")
        assert h.read(first, "manifest.json") == b"packed"
        assert [c.sha for c in h.log(REF)] == [second, first]
    blob = loose_object(git_dir, git("--git-dir", str(git_dir), "rev-parse", f"{REF}:manifest.json", cwd=tmp_path).strip())
    blob.chmod(0o644)
    blob.write_bytes(zlib.compress(b"blob 5\x00LOOSE"))  # a readable object, but not the one named
    with History.open(tmp_path) as h, pytest.raises(ChecksumMismatch):
        h.read(second, "manifest.json")


# -- repositories the plain writers leave to dulwich ------------------------------------


def test_a_compression_level_in_the_config_is_honoured_through_dulwich(tmp_path: Path) -> None:
    project = make_user_repo(tmp_path / "project")
    git("config", "core.compression", "0", cwd=project)
    out = record_in_fresh_process(project)
    assert "dulwich.repo" in out["heavy"]  # the fallback was taken
    assert_read_back(out)
    blob = git("rev-parse", f"{REF}:manifest.json", cwd=project).strip()
    data = loose_object(project / ".git", blob).read_bytes()
    assert data[:2] == b"\x78\x01"  # zlib level 0, as core.compression = 0 asks
    assert zlib.decompress(data) == b"blob 5\x00run 1"
    assert_git_reads_back(project / ".git", out["shas"])


def test_records_are_compressed_at_zlib_level_1(tmp_path: Path) -> None:
    with History.open(tmp_path) as h:
        sha = h.record(REF, {"m": b"payload"}, "one")
        tree = h.commit(sha).tree
        git_dir = Path(h.git_dir)
    assert loose_object(git_dir, tree).read_bytes()[:2] == b"\x78\x01"  # fastest level; git reads any
    assert git("--git-dir", str(git_dir), "show", f"{REF}:m", cwd=git_dir) == "payload"
    git("--git-dir", str(git_dir), "fsck", "--strict", cwd=git_dir)


def test_a_records_objects_are_synced_once_before_its_ref_moves(tmp_path: Path, monkeypatch) -> None:
    seen = []
    original = LooseObjects.sync

    def watching(self: LooseObjects) -> None:
        seen.append((list(self._unsynced), h.tip(REF)))
        original(self)

    monkeypatch.setattr(LooseObjects, "sync", watching)
    with History.open(tmp_path) as h:
        first = h.record(REF, {"m": b"payload"}, "one")
        h.record(REF, {"m": b"payload 2"}, "two")
    assert len(seen) == 2
    (written, tip_then), (_, tip_later) = seen
    assert len(written) == 3 and tip_then is None  # blob, tree, commit; the ref not yet there
    assert tip_later == first


def test_a_supported_extension_is_written_through_dulwich(tmp_path: Path) -> None:
    project = make_user_repo(tmp_path / "project")
    git("config", "core.repositoryformatversion", "1", cwd=project)
    git("config", "extensions.worktreeConfig", "true", cwd=project)
    out = record_in_fresh_process(project)
    assert "dulwich.repo" in out["heavy"]
    assert_git_reads_back(project / ".git", out["shas"])


def test_an_unknown_extension_is_refused_not_written(tmp_path: Path) -> None:
    project = make_user_repo(tmp_path / "project")
    git("config", "core.repositoryformatversion", "1", cwd=project)
    (project / ".git" / "config").open("a").write("[extensions]\n\tfrobnicate = true\n")
    with pytest.raises(HistoryError, match="cannot use"):
        History.open(project)
    assert not (project / ".git" / "refs" / "flowyml").exists()


def test_a_sha256_repository_is_refused_not_corrupted(tmp_path: Path) -> None:
    project = tmp_path / "project"
    git("init", "-q", "--object-format=sha256", str(project), cwd=tmp_path)
    with pytest.raises(HistoryError, match="sha256"):
        History.open(project)
    assert not (project / ".git" / "refs" / "flowyml").exists()
    assert git("count-objects", cwd=project).startswith("0 objects")


# -- the per-ref OS lock ----------------------------------------------------------------


def test_a_writer_waits_while_another_process_holds_the_ref_lock(tmp_path: Path) -> None:
    with History.open(tmp_path) as h:
        first = h.record(REF, {"m": b"1"}, "one")
        lock = ref_lock_path(os.path.join(h.git_dir, "flowyml"), REF.encode())
        ready, released = tmp_path / "ready", tmp_path / "released"
        holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, lock, str(ready), str(released)])
        try:
            wait_for(ready)
            second = h.record(REF, {"m": b"2"}, "two")
            assert released.exists()  # it could only land once the holder let go
        finally:
            assert holder.wait(timeout=30) == 0
        assert h.commit(second).parents == (first,)
        assert Path(lock).read_bytes() == b""  # left cleanly for the next writer
    fsck_strict(Path(h.git_dir))


def test_a_ref_lock_held_past_the_deadline_raises_ref_conflict(tmp_path: Path) -> None:
    with History.open(tmp_path, retry_deadline=0.3) as h:
        first = h.record(REF, {"m": b"1"}, "one")
        lock = ref_lock_path(os.path.join(h.git_dir, "flowyml"), REF.encode())
        ready = tmp_path / "ready"
        holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, lock, str(ready), "-"], stdin=subprocess.PIPE)
        try:
            wait_for(ready)
            with pytest.raises(RefConflict):
                h.record(REF, {"m": b"2"}, "two")
            assert h.tip(REF) == first
        finally:
            holder.stdin.close()
            assert holder.wait(timeout=30) == 0
        h.record(REF, {"m": b"3"}, "three")  # free again


def test_without_flock_the_ref_still_moves_by_compare_and_swap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import fcntl

    from flowyml.store import reflock

    class NoFlock:  # a file system that refuses flock, as some network mounts do
        LOCK_EX, LOCK_NB, LOCK_UN = fcntl.LOCK_EX, fcntl.LOCK_NB, fcntl.LOCK_UN

        @staticmethod
        def flock(fd: int, op: int) -> None:
            raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(reflock, "fcntl", NoFlock)
    with History.open(tmp_path) as h:
        first = h.record(REF, {"m": b"1"}, "one")
        second = h.record(REF, {"m": b"2"}, "two")
        assert h.commit(second).parents == (first,)
    fsck_strict(tmp_path / ".flowyml" / "history.git")
