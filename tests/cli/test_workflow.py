"""Acceptance: init, run, a fully cached run, edit one step, run, and diff names that step."""

from __future__ import annotations

from .harness import git


def test_init_run_cached_edit_run_diff(tmp_path, monkeypatch, cli):
    root = tmp_path / "fresh"
    root.mkdir()
    git("init", "-q", cwd=root)
    monkeypatch.chdir(root)
    cli("init")

    first = cli.json("run", "pipeline.py")
    assert first["success"] and {s["status"] for s in first["steps"].values()} == {"success"}
    cached = cli.json("run", "pipeline.py")
    assert {s["status"] for s in cached["steps"].values()} == {"cached"}

    source = (root / "pipeline.py").read_text()
    edited = source.replace("return [n * factor for n in numbers]", "return [n * factor + 1 for n in numbers]")
    assert edited != source
    (root / "pipeline.py").write_text(edited)
    third = cli.json("run", "pipeline.py")
    assert {n: s["status"] for n, s in third["steps"].items()} == {
        "load": "cached", "scale": "success", "summarize": "success"}

    diff = cli.json("diff", cached["run_id"], third["run_id"])
    code_changed = [c["name"] for c in diff["modified"] if "code" in c["parts"]]
    assert code_changed == ["scale"]
    by_name = {c["name"]: c for c in diff["modified"]}
    assert by_name["scale"]["parts"] == ["code"]
    assert "scaled" in by_name["scale"]["outputs"]  # its output bytes changed too
    assert "code" not in by_name["summarize"]["parts"]  # changed only because its input did
    assert "load" not in by_name and not diff["added"] and not diff["removed"]

    text = cli("diff", cached["run_id"], third["run_id"]).stdout
    assert "~ scale: code changed" in text
    assert sum("code changed" in line for line in text.splitlines()) == 1

    nothing = cli("diff", first["run_id"], cached["run_id"]).stdout
    assert "no changes" in nothing
