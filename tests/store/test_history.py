"""Run history on git refs: real repositories, checked with the real git binary."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from flowyml.errors import AmbiguousRunId, HistoryError, ObjectNotFound, RefConflict, RunNotFound
from flowyml.store.history import History
from flowyml.store.refnames import (
    MAX_COMPONENT,
    RUNS_PREFIX,
    check_ref,
    decode_component,
    encode_component,
    is_shortened,
    parse_ref,
    ref_for,
    run_ref,
)

try:  # tests/store may or may not become a package
    from .gitenv import fsck_strict, git, make_user_repo, scrub_git_env, user_state
except ImportError:
    from gitenv import fsck_strict, git, make_user_repo, scrub_git_env, user_state

MANIFEST = b'{"steps": {"load": "k1", "train": "k2"}}'


@pytest.fixture(autouse=True)
def _clean_git_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    scrub_git_env(monkeypatch, tmp_path / "home")


@pytest.fixture
def history(tmp_path: Path):
    with History.open(tmp_path, metadata_path=tmp_path / "meta.git") as h:
        yield h


def run_id(n: int) -> str:
    return f"{n:012x}"


# -- where the repository lives ---------------------------------------------------


def test_inside_a_work_tree_runs_go_to_the_users_repo_and_touch_nothing_else(tmp_path: Path) -> None:
    project = make_user_repo(tmp_path / "project")
    (project / "src").mkdir()
    before = user_state(project)

    with History.open(project / "src") as h:  # any folder inside the work tree
        assert Path(h.git_dir) == project / ".git"
        ref = run_ref("train pipeline")
        for n in range(3):
            h.record(ref, {"manifest.json": MANIFEST + bytes([n])}, f"run {n}: 2 steps ok", run_id=run_id(n))

    assert user_state(project) == before
    assert not list(project.glob("HOOK-*"))
    subjects = git("log", "--format=%s", ref, cwd=project).splitlines()
    assert subjects == ["run 2: 2 steps ok", "run 1: 2 steps ok", "run 0: 2 steps ok"]
    assert git("log", "-1", "--format=%an <%ae>", ref, cwd=project).strip() == "flowyml <flowyml@localhost>"
    assert git("show", f"{ref}:manifest.json", cwd=project).encode() == MANIFEST + bytes([2])
    fsck_strict(project / ".git")


def test_outside_a_work_tree_a_bare_repo_is_created_under_dot_flowyml(tmp_path: Path) -> None:
    project = tmp_path / "plain"
    (project / "sub").mkdir(parents=True)
    with History.open(project) as h:
        assert Path(h.git_dir) == project / ".flowyml" / "history.git"
        sha = h.record(run_ref("p"), {"m": b"1"}, "first", run_id=run_id(1))
    bare = project / ".flowyml" / "history.git"
    assert git("--git-dir", str(bare), "rev-parse", "--is-bare-repository", cwd=tmp_path).strip() == "true"
    assert git("--git-dir", str(bare), "rev-parse", "refs/flowyml/runs/p", cwd=tmp_path).strip() == sha
    fsck_strict(bare)
    # Opened again from a subfolder, the same history is found by looking upward.
    with History.open(project / "sub") as h:
        assert Path(h.git_dir) == bare
        assert h.find_run(run_id(1)) == ("refs/flowyml/runs/p", sha)


def test_metadata_path_wins_over_an_enclosing_work_tree(tmp_path: Path) -> None:
    project = make_user_repo(tmp_path / "project")
    with History.open(project, metadata_path=tmp_path / "elsewhere.git") as h:
        assert Path(h.git_dir) == tmp_path / "elsewhere.git"
        h.record(run_ref("p"), {"m": b"1"}, "run")
    assert git("for-each-ref", "refs/flowyml", cwd=project) == ""
    fsck_strict(tmp_path / "elsewhere.git")


def test_a_linked_worktree_shares_the_main_repositorys_refs(tmp_path: Path) -> None:
    project = make_user_repo(tmp_path / "project")
    git(*["worktree", "add", "-q", "-b", "side", str(tmp_path / "wt")], cwd=project)
    assert (tmp_path / "wt" / ".git").is_file()
    with History.open(tmp_path / "wt") as h:
        assert Path(h.git_dir) == project / ".git"
        sha = h.record(run_ref("p"), {"m": b"1"}, "from the worktree")
    assert git("rev-parse", "refs/flowyml/runs/p", cwd=project).strip() == sha
    assert git("rev-parse", "--abbrev-ref", "HEAD", cwd=tmp_path / "wt").strip() == "side"
    fsck_strict(project / ".git")


# -- commits and trees -----------------------------------------------------------


def test_nested_paths_round_trip_and_pass_fsck(history: History, tmp_path: Path) -> None:
    files = {
        "manifest.msgpack": b"\x82\xa1a\x01",
        "steps/load.json": b"{}",
        "steps/train/record.json": b'{"key": "abc"}',
        "z.txt": b"",
        "a-b.txt": b"dash sorts before slash",
        "a": b"a file named a sorts before a-b.txt and a.txt",
        "a.txt": b"x",
    }
    sha = history.record(run_ref("p"), files, "nested")
    assert history.read_tree_files(sha) == files
    assert history.read(sha, "steps/train/record.json") == b'{"key": "abc"}'
    with pytest.raises(ObjectNotFound):
        history.read(sha, "steps/missing.json")
    with pytest.raises(ObjectNotFound):
        history.read(sha, "steps")  # a folder, not a file
    with pytest.raises(ObjectNotFound):
        history.read("0" * 40, "manifest.msgpack")
    assert git("--git-dir", history.git_dir, "show", f"{sha}:steps/load.json", cwd=tmp_path) == "{}"
    fsck_strict(history.git_dir)


@pytest.mark.parametrize("path", ["", "../escape", "a//b", "./a", "a/..", ".git/config", "x/.GIT", "a/"])
def test_paths_git_would_refuse_are_rejected(history: History, path: str) -> None:
    with pytest.raises(ValueError):
        history.record(run_ref("p"), {path: b"1"}, "bad")
    assert history.tip(run_ref("p")) is None


def test_a_path_cannot_be_both_file_and_folder(history: History) -> None:
    with pytest.raises(ValueError):
        history.record(run_ref("p"), {"a": b"1", "a/b": b"2"}, "bad")
    with pytest.raises(ValueError):
        history.record(run_ref("p"), {"a/b": b"2", "a": b"1"}, "bad")


def test_log_is_newest_first_with_limit_and_skip(history: History) -> None:
    ref = run_ref("p")
    shas = [history.record(ref, {"m": bytes([n])}, f"run {n}\n\nbody {n}", run_id=run_id(n)) for n in range(5)]
    log = list(history.log(ref))
    assert [c.sha for c in log] == shas[::-1]
    assert log[0].parents == (shas[3],) and log[-1].parents == ()
    assert log[0].summary == "run 4"
    assert log[0].trailers == {"Flowyml-Run-Id": run_id(4)}
    assert log[0].message.startswith("run 4\n\nbody 4\n\n")
    assert [c.sha for c in history.log(ref, limit=2, skip=1)] == [shas[3], shas[2]]
    assert list(history.log(ref, limit=0)) == []
    assert list(history.log(run_ref("never recorded"))) == []


def test_extra_parents_and_author_time_are_recorded(history: History, tmp_path: Path) -> None:
    base = history.record(run_ref("upstream"), {"m": b"u"}, "upstream run")
    first = history.record(run_ref("p"), {"m": b"1"}, "first")
    second = history.record(run_ref("p"), {"m": b"2"}, "second", parents_extra=[base], author_time=1_000_000_000)
    info = history.commit(second)
    assert info.parents == (first, base)
    assert info.author_time == 1_000_000_000 and info.time > 1_000_000_000
    # First-parent log stays on this ref; the full walk also reaches the upstream run.
    assert [c.sha for c in history.log(run_ref("p"))] == [second, first]
    assert base in [c.sha for c in history.log(run_ref("p"), first_parent=False)]
    assert git("--git-dir", history.git_dir, "rev-list", "--count", run_ref("p"), cwd=tmp_path).strip() == "3"
    with pytest.raises(ValueError):
        history.record(run_ref("p"), {"m": b"3"}, "third", parents_extra=["1" * 40])
    fsck_strict(history.git_dir)


def test_local_time_zone_is_written_properly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "Asia/Kolkata")
    time.tzset()
    try:
        with History.open(tmp_path, metadata_path=tmp_path / "tz.git") as h:
            sha = h.record(run_ref("p"), {"m": b"1"}, "tz")
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()
    date = git("--git-dir", str(tmp_path / "tz.git"), "log", "-1", "--format=%ai", sha, cwd=tmp_path)
    assert date.strip().endswith("+0530")
    fsck_strict(tmp_path / "tz.git")


def test_run_id_and_trailers_are_validated_and_merged(history: History) -> None:
    with pytest.raises(ValueError):
        history.record(run_ref("p"), {"m": b"1"}, "x", run_id="not-hex!")
    with pytest.raises(ValueError):
        history.record(run_ref("p"), {"m": b"1"}, "x", trailers={"Bad Key": "v"})
    with pytest.raises(ValueError):
        history.record(run_ref("p"), {"m": b"1"}, "x", trailers={"K": "two\nlines"})
    sha = history.record(
        run_ref("p"), {"m": b"1"}, "summary\n\nCo-Authored-By: someone", run_id=run_id(7), trailers={"Flowyml-Status": "failed"}
    )
    assert history.commit(sha).trailers == {
        "Co-Authored-By": "someone",
        "Flowyml-Run-Id": run_id(7),
        "Flowyml-Status": "failed",
    }
    (entry,) = history.list_runs()
    assert entry.run_id == run_id(7) and entry.trailer("flowyml-status") == "failed"


def test_only_refs_under_refs_flowyml_can_be_written(history: History) -> None:
    for bad in ("refs/heads/main", "HEAD", "refs/flowyml/", "refs/flowyml/runs/../../heads/main", "refs/flowyml/a b"):
        with pytest.raises(ValueError):
            history.record(bad, {"m": b"1"}, "nope")
    assert history.refs("refs/") == {}


def test_a_ref_cannot_be_both_a_file_and_a_folder(history: History) -> None:
    history.record("refs/flowyml/runs/a", {"m": b"1"}, "a")
    with pytest.raises(HistoryError):
        history.record("refs/flowyml/runs/a/b", {"m": b"2"}, "a/b")
    history.record("refs/flowyml/runs/c/d", {"m": b"3"}, "c/d")
    with pytest.raises(HistoryError):
        history.record("refs/flowyml/runs/c", {"m": b"4"}, "c")
    assert sorted(history.refs()) == ["refs/flowyml/runs/a", "refs/flowyml/runs/c/d"]
    fsck_strict(history.git_dir)


# -- ref names -------------------------------------------------------------------

HOSTILE = [
    "../../heads/main",
    "a b",
    "x.lock",
    "X.LOCK",
    "..",
    ".",
    ".hidden",
    "-rf",
    "trailing.",
    "a..b",
    "a/b/c",
    "@{upstream}",
    "@",
    "~^:?*[\\",
    "tab\there",
    "new\nline",
    "ünïcødé 模型 🚀",
    "",
    "%",
    "%41",
    "x%_0123456789abcdef",
    "plain_name-1.2",
    "a" * 500,
    "é" * 300,
]


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_names_become_one_safe_component(name: str, tmp_path: Path) -> None:
    component = encode_component(name)
    assert "/" not in component and ".." not in component
    assert not component.startswith((".", "-")) and not component.lower().endswith(".lock")
    assert len(component) <= MAX_COMPONENT
    ref = ref_for("runs", name)
    assert check_ref(ref) == ref
    subprocess.run(["git", "check-ref-format", ref], check=True, cwd=tmp_path)
    if is_shortened(component):
        assert decode_component(component).endswith("…")
        assert name.startswith(decode_component(component)[:-1])
    else:
        assert decode_component(component) == name
        assert parse_ref(ref) == ("runs", (name,))


def test_encoding_is_injective_and_readable() -> None:
    components = [encode_component(n) for n in HOSTILE]
    assert len(set(components)) == len(HOSTILE)
    assert encode_component("a" * 500) != encode_component("a" * 501)
    assert encode_component("train_model") == "train_model"
    assert run_ref("my pipeline") == "refs/flowyml/runs/my%20pipeline"
    assert RUNS_PREFIX == "refs/flowyml/runs/"


@pytest.mark.parametrize("bad", ["a/b", "%G0", "%4", ".x", "a b", ""])
def test_decoding_refuses_what_encoding_never_makes(bad: str) -> None:
    with pytest.raises(ValueError):
        decode_component(bad)


def test_hostile_names_record_into_their_own_refs(history: History) -> None:
    for name in ["../../heads/main", "x.lock", "a b", "ünï"]:
        history.record(run_ref(name), {"m": name.encode()}, f"run of {name}")
    names = sorted(parse_ref(r)[1][0] for r in history.refs())
    assert names == sorted(["../../heads/main", "x.lock", "a b", "ünï"])
    assert history.refs("refs/heads/") == {}
    fsck_strict(history.git_dir)


# -- finding runs ----------------------------------------------------------------


def test_find_run_by_prefix(history: History) -> None:
    ids = ["abc111111111", "abc222222222", "def333333333"]
    shas = {i: history.record(run_ref(f"p{n % 2}"), {"m": i.encode()}, f"run {i}", run_id=i) for n, i in enumerate(ids)}
    assert history.find_run("def") == (run_ref("p0"), shas["def333333333"])
    assert history.find_run("abc1") == (run_ref("p0"), shas["abc111111111"])
    assert history.find_run("ABC2") == (run_ref("p1"), shas["abc222222222"])
    with pytest.raises(AmbiguousRunId) as ambiguous:
        history.find_run("abc")
    assert sorted(ambiguous.value.matches) == ["abc111111111", "abc222222222"]
    for missing in ("fff", "abc3", "not hex"):
        with pytest.raises(RunNotFound):
            history.find_run(missing)
    with pytest.raises(KeyError):  # RunNotFound is also a KeyError
        history.find_run("999")


def test_a_run_id_recorded_twice_resolves_to_the_newest_commit(history: History) -> None:
    history.record(run_ref("p"), {"m": b"partial"}, "checkpoint", run_id=run_id(5))
    final = history.record(run_ref("p"), {"m": b"final"}, "resumed", run_id=run_id(5))
    assert history.find_run(run_id(5)[:6]) == (run_ref("p"), final)


def test_list_runs_newest_first_across_refs(history: History, monkeypatch: pytest.MonkeyPatch) -> None:
    # Git times have one-second resolution: give each run its own second.
    clock = iter(range(1_700_000_000, 1_700_001_000, 10))
    monkeypatch.setattr(time, "time", lambda: float(next(clock)))
    order = []
    for n in range(12):
        ref = run_ref(["a", "b", "c"][n % 3])
        order.append(history.record(ref, {"m": bytes([n])}, f"run {n}", run_id=run_id(n)))
    history.record(ref_for("versions", "a", "v1"), {"m": b"v"}, "a version, not a run")
    runs = history.list_runs(limit=5)
    assert [r.run_id for r in runs] == [run_id(n) for n in (11, 10, 9, 8, 7)]
    assert [r.sha for r in runs] == order[:-6:-1]
    assert runs[0].ref == run_ref("c") and runs[0].summary == "run 11"
    assert runs[0].tree == history.commit(runs[0].sha).tree
    assert len(history.list_runs(limit=None)) == 12
    assert {r.ref for r in history.list_runs(ref_prefix=run_ref("b"), limit=None)} == {run_ref("b")}
    assert [r.summary for r in history.list_runs(ref_prefix="refs/flowyml/versions/")] == ["a version, not a run"]


def test_find_by_any_trailer(history: History) -> None:
    history.record(run_ref("p"), {"m": b"1"}, "one", trailers={"Flowyml-Version": "v1.0"})
    newest = history.record(run_ref("p"), {"m": b"2"}, "two", trailers={"Flowyml-Version": "v1.1"})
    assert [e.summary for e in history.find("Flowyml-Version", "v1.")] == ["two", "one"]
    assert [e.sha for e in history.find("flowyml-version", "v1.1")] == [newest]
    assert history.find("Flowyml-Version", "v2") == []


def test_resolve_refs_run_ids_and_commit_prefixes(history: History) -> None:
    sha = history.record(run_ref("p"), {"m": b"1"}, "one", run_id="0123456789ab")
    assert history.resolve("refs/flowyml/runs/p") == sha
    assert history.resolve("runs/p") == sha
    assert history.resolve("01234") == sha
    assert history.resolve(sha[:7]) == sha
    for missing in ("runs/q", "refs/heads/main", "zzzz", "fedcba98"):
        with pytest.raises(RunNotFound):
            history.resolve(missing)


# -- moving refs -----------------------------------------------------------------


def test_set_ref_and_delete_ref_compare_and_swap(history: History) -> None:
    ref, tag = run_ref("p"), ref_for("versions", "p", "v1")
    first = history.record(ref, {"m": b"1"}, "one")
    second = history.record(ref, {"m": b"2"}, "two")
    history.set_ref(tag, first, expected=None)
    assert history.tip(tag) == first
    with pytest.raises(RefConflict):
        history.set_ref(tag, second, expected=None)  # exists already
    with pytest.raises(RefConflict):
        history.set_ref(tag, second, expected=second)  # wrong expectation
    history.set_ref(tag, second, expected=first)
    history.set_ref(tag, first)  # no expectation: any tip is replaced
    assert history.tip(tag) == first
    with pytest.raises(ValueError):
        history.set_ref(tag, "2" * 40)  # not an object
    with pytest.raises(ValueError):
        history.set_ref(tag, history.commit(first).tree)  # not a commit
    with pytest.raises(RefConflict):
        history.delete_ref(tag, expected=second)
    assert history.delete_ref(tag, expected=first) is True
    assert history.delete_ref(tag) is False
    assert history.tip(tag) is None and history.tip(ref) == second
    fsck_strict(history.git_dir)


# -- the index -------------------------------------------------------------------


def test_index_is_rebuilt_after_deletion_and_corruption(history: History) -> None:
    for n in range(6):
        history.record(run_ref(f"p{n % 2}"), {"m": bytes([n])}, f"run {n}", run_id=run_id(n))
    listed = history.list_runs(limit=None)
    index_file = Path(history.git_dir) / "flowyml" / "runindex.msgpack"
    assert index_file.exists()
    index_file.unlink()
    with History(history.git_dir) as fresh:
        assert fresh.list_runs(limit=None) == listed
    index_file.write_bytes(b"\xc1 not msgpack")
    with History(history.git_dir) as fresh:
        assert fresh.list_runs(limit=None) == listed
        assert fresh.find_run(run_id(3))[1] == listed[2].sha
    assert history.rebuild_index() == 6
    assert history.list_runs(limit=None) == listed


def test_index_catches_up_with_other_writers(history: History) -> None:
    history.record(run_ref("p"), {"m": b"0"}, "run 0", run_id=run_id(0))
    assert [r.run_id for r in history.list_runs()] == [run_id(0)]
    # Another process (here another History on the same repository) adds runs.
    with History(history.git_dir) as other:
        for n in (1, 2):
            other.record(run_ref("p"), {"m": bytes([n])}, f"run {n}", run_id=run_id(n))
        other.record(run_ref("q"), {"m": b"3"}, "run 3", run_id=run_id(3))
    assert {r.run_id for r in history.list_runs()} == {run_id(n) for n in range(4)}
    assert history.find_run(run_id(2))[0] == run_ref("p")
    # A rewound ref and a deleted ref are reflected too.
    first = history.find_run(run_id(0))[1]
    history.set_ref(run_ref("p"), first)
    history.delete_ref(run_ref("q"))
    assert [r.run_id for r in history.list_runs()] == [run_id(0)]
    with pytest.raises(RunNotFound):
        history.find_run(run_id(3))


def test_reading_a_run_through_the_index(history: History) -> None:
    shas = [history.record(run_ref("p"), {"manifest": bytes([n]) * 10}, f"run {n}") for n in range(3)]
    for entry, sha in zip(history.list_runs(), shas[::-1]):
        assert entry.sha == sha
        assert history.read_tree_files(entry.sha) == {"manifest": history.read(sha, "manifest")}


def test_history_keeps_working_after_git_gc_packs_objects_and_refs(history: History, tmp_path: Path) -> None:
    ref, tag = run_ref("p"), ref_for("versions", "p", "v1")
    first = history.record(ref, {"m": b"1"}, "one", run_id=run_id(1))
    history.set_ref(tag, first)
    assert [r.run_id for r in history.list_runs()] == [run_id(1)]
    git("--git-dir", history.git_dir, "gc", "--quiet", cwd=tmp_path)
    assert not (Path(history.git_dir) / ref).exists()  # the ref now lives in packed-refs
    assert list((Path(history.git_dir) / "objects" / "pack").glob("*.pack"))

    second = history.record(ref, {"m": b"2"}, "two", run_id=run_id(2))
    assert history.commit(second).parents == (first,)
    assert history.read(first, "m") == b"1"
    assert [r.run_id for r in history.list_runs()] == [run_id(2), run_id(1)]
    assert history.refs() == {ref: second, tag: first}
    assert history.delete_ref(tag, expected=first) is True  # a packed-only ref
    assert history.refs() == {ref: second}
    fsck_strict(history.git_dir)


def test_objects_are_loose_not_one_pack_per_object(history: History) -> None:
    for n in range(5):
        history.record(run_ref("p"), {"m": bytes([n])}, f"run {n}")
    assert list((Path(history.git_dir) / "objects" / "pack").glob("*.pack")) == []
