"""flowyml.inflight: runs in progress, read from their journals."""

from __future__ import annotations

import os
import socket

from flowyml.inflight import InflightWatcher, existing_history, inflight_runs, read_inflight
from flowyml.manifest import StepRecord
from flowyml.store.journal import Journal


def journal(root, run_id, pipeline="train", started=100.0, steps=(), **start_extra):
    j = Journal(root, run_id)
    j.append({"type": "start", "run_id": run_id, "pipeline": pipeline, "started": started,
              "context": {"lr": 0.1}, **start_extra})
    for name, status in steps:
        j.append({"type": "step", "record": StepRecord(name=name, status=status).to_dict()})
    j.close()
    return j


def test_lists_runs_with_journals_newest_first(tmp_path):
    journal(tmp_path, "aaa111", started=100.0, steps=[("load", "success")])
    journal(tmp_path, "bbb222", pipeline="etl", started=200.0, steps=[("a", "success"), ("b", "failed")])
    runs = inflight_runs([tmp_path])
    assert [r.run_id for r in runs] == ["bbb222", "aaa111"]
    etl = runs[0]
    assert etl.pipeline == "etl" and etl.context == {"lr": 0.1} and etl.started == 200.0
    assert {n: r.status for n, r in etl.steps.items()} == {"a": "success", "b": "failed"}
    assert etl.store_root == tmp_path.absolute() and etl.alive is None
    assert inflight_runs([tmp_path], committed={"bbb222"})[0].run_id == "aaa111"


def test_a_torn_last_record_and_foreign_files_are_ignored(tmp_path):
    j = journal(tmp_path, "ccc333", steps=[("load", "success")])
    with open(j.path, "ab") as f:
        f.write(b"\x82\xa4type\xa4st")  # a step record cut short by kill -9
    (tmp_path / "runs" / "notes.txt").write_text("not a journal")
    stray = Journal(tmp_path, "ddd444")  # steps but no start record: not a run journal
    stray.append({"type": "step", "record": {"name": "x", "status": "success"}})
    stray.close()
    [run] = inflight_runs([tmp_path])
    assert run.run_id == "ccc333" and list(run.steps) == ["load"]


def test_the_watcher_sees_new_steps_and_finished_runs(tmp_path):
    watcher = InflightWatcher([tmp_path / "missing", tmp_path])
    assert watcher.poll() == []
    j = Journal(tmp_path, "eee555")
    j.append({"type": "start", "run_id": "eee555", "pipeline": "p", "started": 1.0})
    assert list(watcher.poll()[0].steps) == []
    j.append({"type": "step", "record": StepRecord(name="s1", status="success").to_dict()})
    assert list(watcher.poll()[0].steps) == ["s1"]
    j.close(remove=True)  # what record_run does once the run is committed
    assert watcher.poll() == []


def test_read_one_run(tmp_path):
    journal(tmp_path, "fff666", steps=[("x", "cached")])
    assert read_inflight(tmp_path, "fff666").steps["x"].status == "cached"
    assert read_inflight(tmp_path, "nope") is None


def test_a_named_dead_process_is_not_alive(tmp_path):
    journal(tmp_path, "abc001", pid=os.getpid(), host=socket.gethostname())
    dead = 2 ** 22 + 12345  # above the default pid_max: no such process
    journal(tmp_path, "abc002", pid=dead, host=socket.gethostname())
    alive = {r.run_id: r.alive for r in inflight_runs([tmp_path])}
    assert alive == {"abc001": True, "abc002": False}


def test_existing_history_never_creates_one(tmp_path):
    if existing_history(tmp_path) is not None:
        return  # the temporary folder sits inside a git repository on this machine
    assert existing_history(tmp_path) is None and list(tmp_path.iterdir()) == []
    (tmp_path / ".flowyml" / "history.git").mkdir(parents=True)
    assert existing_history(tmp_path / ".flowyml" / ".." ) == str(tmp_path / ".flowyml" / "history.git")
