"""HistorySource and its plain values: what the screens are given to draw."""

from __future__ import annotations

from flowyml.inflight import InflightRun
from flowyml.manifest import RunManifest, StepRecord
from flowyml_tui.source import HistorySource, parse_summary, step_order, view_of_inflight


def test_summary_lines_give_duration_and_step_counts():
    assert parse_summary("training: success (2 ran, 4 cached) in 0.15s") == (0.15, 6, 4, 0)
    assert parse_summary("a: b: failed (1 ran, 0 cached, 1 failed, 1 not run, 2 skipped) in 3.00s") == (3.0, 5, 0, 1)
    assert parse_summary("a commit someone else wrote") == (None, 0, 0, 0)


def test_step_order_follows_dependencies_then_start_time():
    steps = {"z_last": StepRecord("z_last", "success", upstream=["b_mid"], started=3),
             "b_mid": StepRecord("b_mid", "success", upstream=["a_first", "c_side"], started=2),
             "c_side": StepRecord("c_side", "success", started=0.5),
             "a_first": StepRecord("a_first", "success", started=1)}
    assert step_order(steps) == ("c_side", "a_first", "b_mid", "z_last")


def test_a_run_in_flight_borrows_the_plan_of_the_previous_run(tmp_path):
    plan = RunManifest("old", "p", steps={
        "a": StepRecord("a", "success"), "b": StepRecord("b", "success", upstream=["a"]),
        "c": StepRecord("c", "success", upstream=["b"]), "d": StepRecord("d", "success", upstream=["a"])})
    run = InflightRun("new", "p", started=1.0, steps={"a": StepRecord("a", "success", started=1.0)},
                      journal=tmp_path / "runs" / "new.journal", updated=9e18)
    view = view_of_inflight(run, plan)
    assert view.live and view.planned and view.status == "running"
    assert {n: r.status for n, r in view.steps.items()} == {"a": "success", "b": "running", "c": "pending",
                                                           "d": "running"}
    assert view.order[0] == "a" and view.steps["c"].upstream == ["b"]
    failed = InflightRun("new", "p", started=1.0, steps={"a": StepRecord("a", "failed")},
                         journal=tmp_path / "runs" / "new.journal", updated=9e18)
    assert {r.status for n, r in view_of_inflight(failed, plan).steps.items() if n != "a"} == {"pending"}
    assert list(view_of_inflight(run, None).steps) == ["a"]


def test_rows_changes_and_previous_runs(history_project):
    source = HistorySource(history_project)
    try:
        assert source.changed() is True and source.changed() is False
        rows = source.rows()
        training = [r.run_id for r in rows if r.pipeline == "training"]
        assert source.previous_run(training[0]) == training[1]
        assert source.previous_run(training[-1]) is None
        assert source.versions("report") == ["v1", "v2"]
        view = source.run_view(training[-1])
        assert not view.live and view.order[0] == "load" and view.order[-1] == "evaluate"
        assert source.output(view, "model")[0] == "train"
    finally:
        source.close()
