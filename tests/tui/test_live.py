"""Watching a run in flight: a pipeline in another process shows up and its steps change state."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from textual.widgets import Static

from flowyml_tui.app import FlowymlApp
from flowyml_tui.dag_view import DagView
from flowyml_tui.run_screen import RunScreen
from flowyml_tui.run_table import RunTable
from flowyml_tui.runs_screen import RunsScreen

from .helpers import clean_env, new_project, run_script, text_of, wait_for

SIZE = (160, 48)
pytestmark = pytest.mark.slow


def start_live_run(project, gate) -> subprocess.Popen:
    """``live`` in its own process; its ``wait`` step blocks until ``gate`` exists."""
    return subprocess.Popen([sys.executable, "project.py", "live", str(gate)], cwd=project,
                            env=clean_env(project.parent), stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def step_statuses(app) -> dict[str, str]:
    view = app.screen.query_one(DagView).view
    return {name: rec.status for name, rec in view.steps.items()} if view else {}


async def test_a_run_in_flight_appears_and_its_steps_change_state(tmp_path):
    project = new_project(tmp_path / "project")
    run_script(project, "live-seed")  # a finished run, so the UI knows the pipeline's steps
    gate = tmp_path / "gate"
    app = FlowymlApp(project)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, RunsScreen) and app.screen.loaded, what="the list")
        table = app.screen.query_one(RunTable)
        assert [r.live for r in table.rows] == [False]
        proc = start_live_run(project, gate)
        try:
            live = await wait_for(pilot, lambda: next((r for r in table.rows if r.live), None), timeout=60,
                                  what="the run in flight to be listed")
            assert (live.pipeline, live.status) == ("live", "running")
            table.cursor = table.rows.index(live)
            await pilot.press("enter")
            await wait_for(pilot, lambda: isinstance(app.screen, RunScreen) and
                           step_statuses(app) == {"first": "success", "wait": "running", "last": "pending"},
                           timeout=60, what="first done, wait running")
            summary = text_of(app.screen.query_one("#run-summary", Static))
            assert "in flight" in summary and live.run_id in summary
            gate.touch()
            await wait_for(pilot, lambda: not app.screen.view.live, timeout=60, what="the run to be recorded")
            assert step_statuses(app) == {"first": "success", "wait": "success", "last": "success"}
            assert app.screen.view.status == "success" and app.screen.view.run_id == live.run_id
            await pilot.press("escape")
            await wait_for(pilot, lambda: [(r.run_id, r.live, r.status) for r in table.rows][:1]
                           == [(live.run_id, False, "success")], timeout=30, what="the list to show it recorded")
            assert len(table.rows) == 2
        finally:
            gate.touch()
            assert proc.wait(timeout=60) == 0, proc.stderr.read().decode()


async def test_without_an_earlier_run_only_finished_steps_show(tmp_path):
    project = new_project(tmp_path / "project")
    gate = tmp_path / "gate"
    proc = start_live_run(project, gate)
    try:
        app = FlowymlApp(project)
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: isinstance(app.screen, RunsScreen)
                           and any(r.live for r in app.screen.query_one(RunTable).rows), timeout=60,
                           what="the run in flight")
            await pilot.press("enter")
            await wait_for(pilot, lambda: isinstance(app.screen, RunScreen)
                           and step_statuses(app) == {"first": "success"}, timeout=60, what="the finished step")
            assert "only finished steps are known" in text_of(app.screen.query_one("#run-summary", Static))
            gate.touch()
            await wait_for(pilot, lambda: len(step_statuses(app)) == 3 and not app.screen.view.live, timeout=60,
                           what="the recorded run")
    finally:
        gate.touch()
        assert proc.wait(timeout=60) == 0, proc.stderr.read().decode()


async def test_the_first_run_of_a_project_shows_before_its_history_exists(tmp_path):
    from flowyml.inflight import existing_history

    project = tmp_path / "plain"
    project.mkdir()
    if existing_history(project) is not None:
        pytest.skip("the temporary folder is inside a git repository")
    shutil.copy(Path(__file__).parent / "project.py", project / "project.py")
    gate = tmp_path / "gate"
    app = FlowymlApp(project)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, RunsScreen) and app.screen.missing, what="no history")
        proc = start_live_run(project, gate)
        try:
            table = app.screen.query_one(RunTable)
            await wait_for(pilot, lambda: [r.live for r in table.rows] == [True], timeout=60,
                           what="the first run, in flight")
            assert app.screen.missing and table.display
            gate.touch()
            await wait_for(pilot, lambda: [(r.live, r.status) for r in table.rows] == [(False, "success")],
                           timeout=60, what="the first run, recorded")
            assert app.screen.missing is None
        finally:
            gate.touch()
            assert proc.wait(timeout=60) == 0, proc.stderr.read().decode()
