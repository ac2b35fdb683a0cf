"""``flowyml gc``: unreachable objects go (dry run first), reachable and in-progress ones stay."""

from __future__ import annotations

import os
import time

from flowyml.store.cache import CacheIndex
from flowyml.store.journal import Journal
from flowyml.store.objects import ObjectStore


def _age(store: ObjectStore, oid: str, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(store.path(oid), (then, then))


def test_gc_removes_only_what_no_ref_reaches(project, cli):
    run = cli.json("run", "pipeline.py")
    store = ObjectStore(project / ".flowyml")
    kept = set(store.iter_oids())
    junk = [store.put_bytes(b"nobody names me %d" % i) for i in range(3)]
    for oid in junk:
        _age(store, oid, 7200)
    size = sum(os.path.getsize(store.path(o)) for o in junk)

    dry = cli.json("gc", "--dry-run")
    assert dry["dry_run"] and sorted(r["oid"] for r in dry["removed"]) == sorted(junk)
    assert dry["bytes"] == size and dry["reachable"] == len(kept)
    assert all(store.has(o) for o in junk)  # a dry run removes nothing
    text = cli("gc", "--dry-run").stdout
    assert f"would remove 3 objects ({size} B)" in text and all(f"would remove {o}" in text for o in junk)

    done = cli.json("gc")
    assert sorted(r["oid"] for r in done["removed"]) == sorted(junk)
    assert set(store.iter_oids()) == kept
    assert cli.json("fsck")["ok"] is True
    assert cli.json("cat", run["run_id"], "summary")["count"] == 10
    assert cli.json("gc")["removed"] == []


def test_gc_keeps_young_objects_unless_grace_is_zero(project, cli):
    cli("run", "pipeline.py")
    store = ObjectStore(project / ".flowyml")
    fresh = store.put_bytes(b"just written by a step in flight")
    report = cli.json("gc")
    assert report["removed"] == [] and report["recent"] == 1 and store.has(fresh)
    assert [r["oid"] for r in cli.json("gc", "--grace", "0")["removed"]] == [fresh]


def test_gc_never_removes_objects_of_a_run_in_progress(project, cli):
    cli("run", "pipeline.py")
    store = ObjectStore(project / ".flowyml")
    ref = store.put(["an output of a run still going"])
    _age(store, ref.oid, 7200)
    journal = Journal(project / ".flowyml", "abcdef012345")
    journal.append({"type": "start", "run_id": "abcdef012345", "pipeline": "example"})
    journal.append({"type": "step", "record": {"name": "load", "status": "success",
                                               "outputs": {"numbers": {"oid": ref.oid, "codec": ref.codec,
                                                                       "size": ref.size}}}})
    journal.close()
    report = cli.json("gc", "--grace", "0")
    assert report["removed"] == [] and report["in_progress"] == ["abcdef012345"]
    assert store.has(ref.oid)
    assert "runs in progress kept: abcdef012345" in cli("gc", "--grace", "0").stdout
    (project / ".flowyml" / "runs" / "abcdef012345.journal").unlink()
    assert [r["oid"] for r in cli.json("gc", "--grace", "0")["removed"]] == [ref.oid]


def test_gc_drops_cache_entries_of_removed_objects(project, cli):
    from flowyml.store.history import History
    from flowyml.records import ref_of

    cli("run", "pipeline.py")
    with History.open(project) as history:  # forget every run: its objects become garbage
        history.delete_ref(ref_of("runs", "example"))
    cache = CacheIndex(project / ".flowyml")
    assert len(list(cache.keys())) == 3
    report = cli.json("gc", "--grace", "0")
    assert len(report["removed"]) == 3 and report["cache_entries"] == 3
    assert list(cache.keys()) == []
    again = cli.json("run", "pipeline.py")  # nothing stale is reused: every step runs
    assert {s["status"] for s in again["steps"].values()} == {"success"}


def test_gc_keeps_registered_models(project, cli, write):
    from flowyml.store.history import History
    from flowyml.records import ref_of

    write("model.py", '''
        from flowyml import Model, Pipeline, step

        @step(outputs=["model"])
        def train() -> Model:
            return Model({"w": 1}, name="clf")

        pipeline = Pipeline("models").add_step(train)
    ''')
    run = cli.json("run", "model.py")
    with History.open(project) as history:
        history.delete_ref(ref_of("runs", "models"))
    assert cli.json("gc", "--grace", "0")["removed"] == []  # the registry still names it
    assert ObjectStore(project / ".flowyml").has(run["outputs"]["model"]["oid"])
