"""runs, show, log, cat, lineage, versions, diff of versions, rerun, freeze and verify."""

from __future__ import annotations

import pytest

from .pipelines import FAILING, TWO, VERSIONED


@pytest.fixture
def two_runs(project, cli):
    """Two runs of the template pipeline with different factors."""
    a = cli.json("run", "pipeline.py")
    b = cli.json("run", "pipeline.py", "-c", "factor=3")
    return a, b


def test_runs_lists_newest_first_with_filters(project, cli, write, two_runs):
    a, b = two_runs
    write("failing.py", FAILING)
    failed = cli.json("run", "failing.py", code=1)
    listed = cli.json("runs")
    assert [r["run_id"] for r in listed] == [failed["run_id"], b["run_id"], a["run_id"]]
    assert [r["run_id"] for r in cli.json("runs", "example")] == [b["run_id"], a["run_id"]]
    assert [r["run_id"] for r in cli.json("runs", "--limit", "1")] == [failed["run_id"]]
    assert [r["run_id"] for r in cli.json("runs", "--status", "failed")] == [failed["run_id"]]
    text = cli("runs").stdout.splitlines()
    assert text[0].split() == ["RUN", "RECORDED", "SUMMARY"]
    assert text[1].startswith(failed["run_id"]) and "failing: failed" in text[1]


def test_runs_on_an_empty_project(project, cli):
    assert cli.json("runs") == []
    result = cli("runs")
    assert result.stdout == "" and "no runs yet" in result.stderr


def test_show_steps_outputs_codecs_sizes(project, cli, two_runs):
    a, b = two_runs
    shown = cli.json("show", b["run_id"][:6])
    assert shown["run_id"] == b["run_id"] and shown["commit"]
    assert shown["steps"]["load"]["status"] == "cached" and shown["steps"]["scale"]["status"] == "success"
    text = cli("show", b["run_id"]).stdout
    assert f"{b['run_id']} (example)" in text
    assert "status    success: 2 ran, 1 cached" in text
    assert f"from run {a['run_id']}" in text  # the cached step says where its outputs came from
    scaled = shown["steps"]["scale"]["outputs"]["scaled"]
    line = next(li for li in text.splitlines() if li.startswith("scaled"))
    assert line.split()[:3] == ["scaled", "scale", scaled["codec"]] and scaled["oid"][:12] in line
    assert f"{scaled['size']} B" in line


def test_unknown_and_ambiguous_runs_exit_2(project, cli, two_runs):
    result = cli("show", "ffffffffffff", code=2)
    assert result.stderr.startswith("error: no run id starts with") and result.stderr.count("\n") == 1
    assert cli("show", "not-hex", code=2).stderr.count("\n") == 1
    assert cli("cat", two_runs[0]["run_id"], "nothing", code=2).stderr.startswith("error: run ")


def test_log_is_one_line_per_run(project, cli, two_runs):
    a, b = two_runs
    lines = cli("log", "example").stdout.splitlines()
    assert len(lines) == 2
    sha, run_id, *rest = lines[0].split()
    assert len(sha) == 7 and run_id == b["run_id"] and " ".join(rest).startswith("example: success")
    assert [e["run_id"] for e in cli.json("log", "example")] == [b["run_id"], a["run_id"]]
    assert "no runs of 'missing'" in cli("log", "missing").stderr


def test_cat_values_and_json(project, cli, two_runs):
    a, b = two_runs
    assert cli.json("cat", b["run_id"], "scaled") == [3.0 * n for n in range(1, 11)]
    assert cli.json("cat", b["run_id"], "summary") == {"count": 10, "mean": 16.5, "max": 30.0}
    text = cli("cat", a["run_id"], "summary").stdout
    assert '"mean": 11.0' in text
    raw = cli("cat", a["run_id"], "numbers", "--raw").stdout_bytes
    import blake3

    assert blake3.blake3(raw).hexdigest() == a["outputs"]["numbers"]["oid"]


def test_cat_previews_a_table(project, cli, write):
    pytest.importorskip("pandas")
    write("table.py", '''
        import pandas as pd
        from flowyml import Pipeline, step

        @step(outputs=["frame"])
        def frame():
            return pd.DataFrame({"x": range(25), "y": [f"r{i}" for i in range(25)]})

        pipeline = Pipeline("tables").add_step(frame)
    ''')
    run = cli.json("run", "table.py")
    text = cli("cat", run["run_id"], "frame", "--rows", "3").stdout
    assert "r2" in text and "r3" not in text
    assert "[25 rows x 2 columns (first 3 shown)]" in text
    assert "not a plain value" in cli("cat", run["run_id"], "frame", "--json", code=2).stderr


def test_lineage_upstream_and_downstream(project, cli, two_runs):
    a, b = two_runs
    found = cli.json("lineage", f"{b['run_id']}:scaled")
    assert found["artifact"]["step"] == "scale"
    assert [u["output"] for u in found["upstream"]] == ["numbers"]
    assert [(d["run_id"], d["output"]) for d in found["downstream"]] == [(b["run_id"], "summary")]
    numbers = cli.json("lineage", "numbers")  # the newest run with that output
    assert numbers["artifact"]["run_id"] == b["run_id"]
    assert numbers["produced_by"] == {"run_id": a["run_id"], "step": "load"}  # cached in b
    assert {d["output"] for d in numbers["downstream"]} == {"scaled", "summary"}
    text = cli("lineage", f"{a['run_id']}:numbers").stdout
    assert "upstream (made from):\n  nothing: a source" in text
    assert "no recorded run has an output called 'nope'" in cli("lineage", "nope", code=2).stderr


def test_versions_and_diff_of_versions(project, cli, write):
    write("trainer.py", VERSIONED.format(version="v1", extra=""))
    cli("run", "trainer.py")
    write("trainer.py", VERSIONED.format(version="v2", extra=" * 2"))
    cli("run", "trainer.py")
    assert cli.json("versions", "trainer") == ["v1", "v2"]
    assert cli("versions", "trainer").stdout.splitlines() == ["v1", "v2"]
    diff = cli.json("diff", "trainer@v1", "trainer@v2")
    assert [(c["name"], c["parts"]) for c in diff["modified"]] == [("evaluate", ["code"])]
    assert cli.json("diff", "--pipeline", "trainer", "v1", "v2") == diff
    assert "~ evaluate: code changed" in cli("diff", "trainer@v1", "trainer@v2").stdout
    missing = cli("diff", "trainer@v1", "trainer@v9", code=2)
    assert "no recorded version 'v9'" in missing.stderr and missing.stderr.count("\n") == 1
    assert "not one of each" in cli("diff", "trainer@v1", "abcdef", code=2).stderr
    assert "name one thing" in cli("versions", code=2).stderr


def test_versions_of_a_registered_model(project, cli, write):
    write("model.py", '''
        from flowyml import Model, Pipeline, context, step

        @step(outputs=["model"])
        def train(lr: float) -> Model:
            return Model({"lr": lr}, name="classifier")

        pipeline = Pipeline("registry", context=context(lr=0.1)).add_step(train)
    ''')
    first = cli.json("run", "model.py")
    cli.json("run", "model.py", "-c", "lr=0.2")
    entries = cli.json("versions", "--model", "classifier")
    assert [e["version"] for e in entries] == [2, 1] and entries[1]["run_id"] == first["run_id"]
    assert cli("versions", "--model", "classifier").stdout.splitlines()[0].split()[0] == "VERSION"


def test_rerun_from_step_and_resume(project, cli, two_runs):
    a, b = two_runs
    again = cli.json("rerun", b["run_id"], "--from-step", "scale")
    assert again["parent_run"] == b["run_id"] and again["from_step"] == "scale"
    assert {n: s["status"] for n, s in again["steps"].items()} == {
        "load": "cached", "scale": "success", "summarize": "success"}
    assert again["context"]["factor"] == 2.0  # the pipeline's context, unless overridden
    resumed = cli.json("rerun", a["run_id"])
    assert {s["status"] for s in resumed["steps"].values()} == {"cached"}
    bad = cli("rerun", a["run_id"], "--from-step", "nope", code=2)
    assert "no such step" in bad.stderr and bad.stderr.count("\n") == 1


def test_rerun_needs_to_know_the_file(project, cli, write):
    write("two.py", TWO)
    from flowyml.pipeline import Pipeline  # a run recorded outside `flowyml run`
    import runpy

    pipeline = runpy.run_path(str(project / "two.py"))["first"]
    assert isinstance(pipeline, Pipeline)
    result = pipeline.run()
    unknown = cli("rerun", result.run_id, code=2)
    assert "--file FILE.py" in unknown.stderr
    assert cli.json("rerun", result.run_id, "--file", "two.py:first")["parent_run"] == result.run_id
    wrong = cli("rerun", result.run_id, "--file", "two.py:second", code=2)
    assert "defines 'second-one'" in wrong.stderr


def test_freeze_and_verify(project, cli):
    seal = cli("freeze", "pipeline.py").stdout.strip()
    assert len(seal) == 64
    assert "matches snapshot" in cli("verify", "pipeline.py").stdout
    assert cli.json("verify", "pipeline.py")["verified"] is True
    source = (project / "pipeline.py").read_text()
    (project / "pipeline.py").write_text(source.replace("len(scaled)", "max(1, len(scaled))"))
    changed = cli("verify", "pipeline.py", code=1)
    assert changed.stderr.startswith("error: example no longer matches snapshot") and "summarize" in changed.stderr
    assert changed.stderr.count("\n") == 1
    assert cli.json("verify", "pipeline.py", "--snapshot", seal[:8], code=1)["verified"] is False


def test_verify_without_snapshot_exits_2(project, cli, write):
    write("two.py", TWO)
    assert "no frozen snapshot" in cli("verify", "two.py:first", code=2).stderr


@pytest.mark.slow
def test_rerun_resumes_a_killed_run(project, cli, write, monkeypatch):
    from .harness import run_process

    write("killed.py", '''
        import os
        from flowyml import Pipeline, step

        @step(outputs=["a"])
        def first():
            return 41

        @step(inputs=["a"], outputs=["b"])
        def second(a):
            if os.environ.get("FLOWYML_TEST_KILL"):
                os._exit(9)  # as a kill -9 would, mid-run
            return a + 1

        pipeline = Pipeline("killed").add_step(first).add_step(second)
    ''')
    monkeypatch.setenv("FLOWYML_TEST_KILL", "1")
    died = run_process("run", "killed.py", cwd=project)
    monkeypatch.delenv("FLOWYML_TEST_KILL")
    assert died.returncode == 9
    journals = list((project / ".flowyml" / "runs").glob("*.journal"))
    assert len(journals) == 1 and cli.json("runs") == []
    run_id = journals[0].name.split(".")[0]
    resumed = cli.json("rerun", run_id[:8])
    assert resumed["parent_run"] == run_id
    assert {n: s["status"] for n, s in resumed["steps"].items()} == {"first": "cached", "second": "success"}
    assert cli.json("cat", resumed["run_id"], "b") == 42
