"""The app driven through Pilot over a history made by real pipeline runs (see project.py)."""

from __future__ import annotations

import pytest
from textual.widgets import DataTable, Input, Select, Static, Tree

from flowyml.runs import RunHistory
from flowyml_tui.app import FlowymlApp
from flowyml_tui.artifact_screen import ArtifactScreen
from flowyml_tui.dag_view import DagView
from flowyml_tui.diff_screen import DiffScreen
from flowyml_tui.lineage_screen import LineageScreen
from flowyml_tui.run_screen import RunScreen
from flowyml_tui.run_table import RunTable
from flowyml_tui.runs_screen import RunsScreen
from flowyml_tui.versions_screen import VersionsScreen

from .helpers import screen_text, text_of, wait_for

SIZE = (160, 48)


def runs_by_pipeline(project) -> dict[str, list]:
    """The recorded runs of each pipeline, newest first, through the public API."""
    with RunHistory(project) as repo:
        found: dict[str, list] = {}
        for run in repo.runs(limit=None):
            found.setdefault(run.pipeline, []).append(run)
        for runs in found.values():
            for run in runs:
                run.manifest  # noqa: B018 - read now, while the repository is open
        return found


async def started(pilot, app) -> RunTable:
    """Wait until the run list is filled; return it."""
    await wait_for(pilot, lambda: isinstance(app.screen, RunsScreen) and app.screen.loaded, what="the run list")
    return app.screen.query_one(RunTable)


async def open_run(pilot, app, run_id: str) -> DagView:
    """Open ``run_id`` from the run list with the keyboard; return its DAG once drawn."""
    table = await started(pilot, app)
    table.cursor = next(i for i, r in enumerate(table.rows) if r.run_id == run_id)
    await pilot.press("enter")
    await wait_for(pilot, lambda: isinstance(app.screen, RunScreen) and app.screen.view is not None,
                   what=f"run {run_id}")
    return app.screen.query_one(DagView)


async def select_step(pilot, app, name: str) -> None:
    """Move the DAG cursor to step ``name`` with the arrow keys."""
    dag = app.screen.query_one(DagView)
    dag.focus()
    target = next(i for i, r in enumerate(dag.rows) if r.step == name)
    key = "down" if target > dag.cursor else "up"
    while dag.cursor != target:
        await pilot.press(key)
    await pilot.pause()


def statuses(dag: DagView) -> dict[str, str]:
    return {name: rec.status for name, rec in dag.view.steps.items()}


# -- the run list ----------------------------------------------------------------------


async def test_run_list_shows_every_run_newest_first(history_project):
    runs = runs_by_pipeline(history_project)
    app = FlowymlApp(history_project)
    async with app.run_test(size=SIZE) as pilot:
        table = await started(pilot, app)
        rows = {r.run_id: r for r in table.rows}
        assert len(rows) == sum(len(v) for v in runs.values()) == 8
        training = [r.run_id for r in table.rows if r.pipeline == "training"]
        assert training == [r.run_id for r in runs["training"]]  # newest first
        newest, cached, first = (rows[i] for i in training)
        assert (first.total, first.cached, cached.total, cached.cached) == (6, 0, 6, 6)
        assert (newest.total, newest.cached) == (6, 4)
        etl = rows[runs["etl"][0].run_id]
        assert (etl.status, etl.failed) == ("failed", 1)
        text = screen_text(app)
        assert "6 cached / 6" in text and "✗ failed" in text and "8 runs" in text


async def test_filters_by_pipeline_status_and_search(history_project):
    app = FlowymlApp(history_project)
    async with app.run_test(size=SIZE) as pilot:
        table = await started(pilot, app)
        app.screen.query_one("#pipeline", Select).value = "training"
        await wait_for(pilot, lambda: {r.pipeline for r in table.rows} == {"training"}, what="pipeline filter")
        assert len(table.rows) == 3
        app.screen.query_one("#pipeline", Select).value = ""
        app.screen.query_one("#status", Select).value = "failed"
        await wait_for(pilot, lambda: [r.pipeline for r in table.rows] == ["etl"], what="status filter")
        await pilot.press("escape")
        await wait_for(pilot, lambda: len(table.rows) == 8, what="filters cleared")
        await pilot.press("slash")
        assert app.focused is app.screen.query_one("#search", Input)
        await pilot.press(*"fan")
        await wait_for(pilot, lambda: [r.pipeline for r in table.rows] == ["fanout"], what="search")
        await pilot.press(*"zzz")
        await wait_for(pilot, lambda: not table.rows, what="no match")
        assert "No run matches the filters" in text_of(app.screen.query_one("#runs-message", Static))


async def test_mouse_opens_a_run(history_project):
    app = FlowymlApp(history_project)
    async with app.run_test(size=SIZE) as pilot:
        table = await started(pilot, app)
        await pilot.click(RunTable, offset=(5, 2))
        assert table.cursor == 2
        wanted = table.rows[2].run_id
        await pilot.double_click(RunTable, offset=(5, 2))
        await wait_for(pilot, lambda: isinstance(app.screen, RunScreen) and app.screen.view is not None,
                       what="the run screen")
        assert app.screen.view.run_id == wanted


# -- one run ---------------------------------------------------------------------------


async def test_failed_run_shows_its_traceback_and_what_did_not_run(history_project):
    run = runs_by_pipeline(history_project)["etl"][0]
    app = FlowymlApp(history_project)
    async with app.run_test(size=SIZE) as pilot:
        dag = await open_run(pilot, app, run.run_id)
        assert [r.step for r in dag.rows if r.step] == ["extract", "transform", "publish"]
        assert statuses(dag) == {"extract": "success", "transform": "failed", "publish": "not_run"}
        await select_step(pilot, app, "transform")
        error = text_of(app.screen.query_one("#step-error", Static))
        assert "ValueError: bad record 3: value out of range" in error and "Traceback" in error
        assert "failed" in text_of(app.screen.query_one("#run-summary", Static))


async def test_cached_rerun_says_where_outputs_came_from(history_project):
    first, cached = runs_by_pipeline(history_project)["training"][2], runs_by_pipeline(history_project)["training"][1]
    app = FlowymlApp(history_project)
    async with app.run_test(size=SIZE) as pilot:
        dag = await open_run(pilot, app, cached.run_id)
        assert set(statuses(dag).values()) == {"cached"}
        await select_step(pilot, app, "train")
        title = text_of(app.screen.query_one("#step-title", Static))
        assert f"outputs reused from run {first.run_id}" in title
        assert "did not run here" in text_of(app.screen.query_one("#step-logs", Static))


async def test_step_detail_shows_key_parts_outputs_and_printed_output(history_project):
    first = runs_by_pipeline(history_project)["training"][2]
    record = first.manifest.steps["train"]
    app = FlowymlApp(history_project)
    async with app.run_test(size=SIZE) as pilot:
        dag = await open_run(pilot, app, first.run_id)
        assert [r.step for r in dag.rows if r.step][:2] == ["load", "clean"]
        await select_step(pilot, app, "train")
        key = text_of(app.screen.query_one("#step-key", Static))
        assert record.key in key and record.key_parts["code"] in key
        assert "lr = 0.1" in key and "features ← features" not in key  # param and output share a name
        assert record.key_parts["inputs"]["features"][:16] in key
        outputs = app.screen.query_one("#outputs", DataTable)
        assert outputs.get_row_at(0)[:4] == ["model", "pickle", outputs.get_row_at(0)[2], "model"]
        await select_step(pilot, app, "load")
        logs = text_of(app.screen.query_one("#step-logs", Static))
        assert "loading 50 rows" in logs and "this goes to stderr" in logs


async def test_map_task_run_and_its_list_output(history_project):
    run = runs_by_pipeline(history_project)["scoring"][0]
    app = FlowymlApp(history_project)
    async with app.run_test(size=SIZE) as pilot:
        dag = await open_run(pilot, app, run.run_id)
        assert statuses(dag) == {"make_items": "success", "score": "success", "summarize_scores": "success"}
        await select_step(pilot, app, "score")
        await pilot.press("a")
        await wait_for(pilot, lambda: isinstance(app.screen, ArtifactScreen) and app.screen.preview is not None,
                       what="the scores preview")
        assert text_of(app.screen.query_one("#preview-title", Static)).strip() == "Value — list of 20 items"
        assert "'score': 1.0" in text_of(app.screen.query_one("#value-preview", Static))


async def test_many_parallel_steps_stay_three_lanes_wide(history_project):
    run = runs_by_pipeline(history_project)["fanout"][0]
    app = FlowymlApp(history_project)
    async with app.run_test(size=SIZE) as pilot:
        dag = await open_run(pilot, app, run.run_id)
        steps = [r.step for r in dag.rows if r.step]
        assert steps[0] == "source" and steps[-1] == "combine" and len(steps) == 14
        assert max(len(r.graph.rstrip()) for r in dag.rows) <= 5
        assert set(statuses(dag).values()) == {"success"}
        assert "part_11" in screen_text(app)


# -- artifacts -------------------------------------------------------------------------


async def test_table_preview_reads_schema_rows_and_count(history_project):
    first = runs_by_pipeline(history_project)["training"][2]
    app = FlowymlApp(history_project)
    async with app.run_test(size=SIZE) as pilot:
        await open_run(pilot, app, first.run_id)
        await select_step(pilot, app, "load")
        await pilot.press("a")
        await wait_for(pilot, lambda: isinstance(app.screen, ArtifactScreen) and app.screen.preview is not None,
                       what="the table preview")
        table = app.screen.query_one("#table-preview", DataTable)
        assert [str(c.label) for c in table.columns.values()] == ["x", "y", "label"]
        assert table.row_count == 50
        assert [str(c) for c in table.get_row_at(3)] == ["3", "1.5", "1"]
        assert "50 rows × 3 columns" in text_of(app.screen.query_one("#preview-title", Static))
        assert "x: int64" in text_of(app.screen.query_one("#schema", Static))
        info = text_of(app.screen.query_one("#artifact-info", Static))
        assert first.artifact("raw").oid in info and "arrow/pandas" in info


async def test_metrics_show_as_a_table(history_project):
    first = runs_by_pipeline(history_project)["training"][2]
    app = FlowymlApp(history_project)
    async with app.run_test(size=SIZE) as pilot:
        await open_run(pilot, app, first.run_id)
        await select_step(pilot, app, "evaluate")
        await pilot.press("a")
        await wait_for(pilot, lambda: isinstance(app.screen, ArtifactScreen) and app.screen.preview is not None,
                       what="the metrics")
        table = app.screen.query_one("#table-preview", DataTable)
        rows = {str(table.get_row_at(i)[0]): str(table.get_row_at(i)[1]) for i in range(table.row_count)}
        assert set(rows) == {"accuracy", "rows"} and rows["rows"] == "42"


async def test_model_is_shown_by_type_and_loaded_only_on_request(history_project):
    first = runs_by_pipeline(history_project)["training"][2]
    app = FlowymlApp(history_project)
    async with app.run_test(size=SIZE) as pilot:
        await open_run(pilot, app, first.run_id)
        await select_step(pilot, app, "train")
        await pilot.press("a")
        await wait_for(pilot, lambda: isinstance(app.screen, ArtifactScreen) and app.screen.preview is not None,
                       what="the model")
        assert app.screen.preview.type_name == "sklearn.linear_model._logistic.LogisticRegression"
        assert app.screen.preview.loaded is None
        assert "press o to load" in text_of(app.screen.query_one("#value-preview", Static))
        assert "model 'classifier'" in text_of(app.screen.query_one("#artifact-info", Static))
        await pilot.press("o")
        await wait_for(pilot, lambda: app.screen.preview.loaded is not None, what="the loaded model")
        assert "LogisticRegression(C=0.1)" in text_of(app.screen.query_one("#value-preview", Static))


# -- lineage ---------------------------------------------------------------------------


def tree_nodes(tree: Tree) -> list:
    found, stack = [], [tree.root]
    while stack:
        node = stack.pop()
        if node.data is not None:
            found.append(node.data)
        stack.extend(node.children)
    return found


async def test_lineage_upstream_and_downstream_across_runs(history_project):
    training = runs_by_pipeline(history_project)["training"]
    first = training[2]
    app = FlowymlApp(history_project)
    async with app.run_test(size=SIZE) as pilot:
        await open_run(pilot, app, first.run_id)
        await select_step(pilot, app, "train")
        await pilot.press("l")
        await wait_for(pilot, lambda: isinstance(app.screen, LineageScreen)
                       and app.screen.query_one("#downstream", Tree).root.children, what="the lineage")
        up = {(n.output, n.step) for n in tree_nodes(app.screen.query_one("#upstream", Tree))}
        assert up == {("model", "train"), ("features", "featurize"), ("clean", "clean"), ("raw", "load")}
        down = tree_nodes(app.screen.query_one("#downstream", Tree))
        metrics = [n for n in down if n.output == "metrics"]
        assert metrics and all(n.step == "evaluate" for n in metrics)
        # the model of the first run fed evaluate in the first and the cached run
        assert sorted(metrics[0].run_ids) == sorted([training[2].run_id, training[1].run_id])
        # Enter on a node opens that artifact
        tree = app.screen.query_one("#upstream", Tree)
        tree.focus()
        tree.move_cursor(next(n for n in tree.root.children if n.data and n.data.output == "features"))
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ArtifactScreen) and app.screen.preview is not None,
                       what="the features artifact")
        assert app.screen.output == "features"


# -- diffs -----------------------------------------------------------------------------


def diff_rows(app) -> dict[str, list[str]]:
    table = app.screen.query_one("#diff-steps", DataTable)
    return {str(table.get_row_at(i)[0]): [str(c) for c in table.get_row_at(i)[1:]] for i in range(table.row_count)}


async def test_diff_of_two_marked_runs_names_the_changed_key_parts(history_project):
    training = runs_by_pipeline(history_project)["training"]
    newest, first = training[0], training[2]
    app = FlowymlApp(history_project)
    async with app.run_test(size=SIZE) as pilot:
        table = await started(pilot, app)
        for run in (first, newest):
            table.cursor = next(i for i, r in enumerate(table.rows) if r.run_id == run.run_id)
            await pilot.press("space")
        assert table.marked == [first.run_id, newest.run_id]
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, DiffScreen) and app.screen.view is not None,
                       what="the diff")
        rows = diff_rows(app)
        assert rows["train"][:2] == ["modified", "parameters"] and rows["train"][2] == "model"
        assert rows["evaluate"][0] == "modified" and "inputs" in rows["evaluate"][1]
        assert rows["load"][0] == "same"
        summary = text_of(app.screen.query_one("#diff-summary", Static))
        assert f"{first.run_id} → {newest.run_id}" in summary and "context lr: 0.1 → 0.5" in summary
        table = app.screen.query_one("#diff-steps", DataTable)
        table.move_cursor(row=list(rows).index("train"))
        await pilot.pause()
        assert "lr: 0.1 → 0.5" in text_of(app.screen.query_one("#diff-detail", Static))
        await pilot.press("c")  # only changes
        await wait_for(pilot, lambda: "load" not in diff_rows(app), what="unchanged steps hidden")


async def test_diff_from_a_run_compares_with_the_run_before(history_project):
    training = runs_by_pipeline(history_project)["training"]
    app = FlowymlApp(history_project)
    async with app.run_test(size=SIZE) as pilot:
        await open_run(pilot, app, training[0].run_id)
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, DiffScreen) and app.screen.view is not None,
                       what="the diff")
        assert app.screen.runs == (training[1].run_id, training[0].run_id)


async def test_diff_of_two_versions(history_project):
    report = runs_by_pipeline(history_project)["report"][0]
    app = FlowymlApp(history_project)
    async with app.run_test(size=SIZE) as pilot:
        table = await started(pilot, app)
        table.cursor = next(i for i, r in enumerate(table.rows) if r.run_id == report.run_id)
        await pilot.press("v")
        await wait_for(pilot, lambda: isinstance(app.screen, VersionsScreen), what="the version picker")
        await pilot.press("enter")  # old: v1 (highlighted first)
        await pilot.press("enter")  # new: v2
        await wait_for(pilot, lambda: isinstance(app.screen, DiffScreen) and app.screen.view is not None,
                       what="the version diff")
        rows = diff_rows(app)
        assert rows["summarize"][0] == "modified" and "code" in rows["summarize"][1]
        assert rows["render"][0] == "same"
        assert "versions of report" in text_of(app.screen.query_one("#diff-summary", Static))


# -- no history ------------------------------------------------------------------------


async def test_a_repository_without_runs_says_so(tmp_path):
    from dulwich.repo import Repo

    Repo.init(str(tmp_path)).close()
    app = FlowymlApp(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, RunsScreen) and app.screen.loaded, what="loading")
        message = text_of(app.screen.query_one("#runs-message", Static))
        assert "No runs recorded yet" in message
        assert app.screen.query_one("#runs-message").display and not app.screen.query_one(RunTable).display


async def test_a_folder_without_history_says_so_and_creates_nothing(tmp_path):
    from flowyml.inflight import existing_history

    if existing_history(tmp_path) is not None:
        pytest.skip("the temporary folder is inside a git repository")
    app = FlowymlApp(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, RunsScreen) and app.screen.loaded, what="loading")
        assert "No flowyml history here" in text_of(app.screen.query_one("#runs-message", Static))
    assert list(tmp_path.iterdir()) == []


async def test_help_panel_and_footer_list_the_keys(history_project):
    app = FlowymlApp(history_project)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot, app)
        footer = await wait_for(pilot, lambda: "Diff" in screen_text(app).splitlines()[-1] and
                                screen_text(app).splitlines()[-1], what="the footer")
        assert "Search" in footer and "Mark" in footer and "Quit" in footer
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: app.screen.query("HelpPanel"), what="the help panel")
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: not app.screen.query("HelpPanel"), what="the help panel to close")
