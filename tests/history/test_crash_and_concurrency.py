"""Runs survive ``kill -9`` and concurrent writers (issue acceptance 2 and 3)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

PIPELINE = '''
import os, time
from flowyml import Pipeline, step

def log(name):
    with open("calls.log", "a") as f:
        f.write(name + "\\n")

@step(outputs=["a"])
def first():
    log("first")
    return list(range(1000))

@step(inputs=["a"], outputs=["b"])
def second(a):
    log("second")
    return [x * 2 for x in a]

@step(inputs=["b"], outputs=["c"])
def slow(b):
    log("slow")
    if os.path.exists("block"):
        open("slow.started", "w").close()
        time.sleep(60)
    return sum(b)

@step(inputs=["c"], outputs=["d"])
def last(c):
    log("last")
    return {"total": c}

pipeline = Pipeline("crashy", enable_cache=False).add_step(first).add_step(second).add_step(slow).add_step(last)

if __name__ == "__main__":
    result = pipeline.run()
    print(result.run_id)
'''


def _env() -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env["PYTHONPATH"] = os.pathsep.join(sys.path)
    return env


def _calls(root: Path) -> list[str]:
    log = root / "calls.log"
    return log.read_text().split() if log.exists() else []


@pytest.mark.slow
def test_kill_9_mid_step_then_resume(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    crashed, clean = tmp_path / "crashed", tmp_path / "clean"
    for d in (crashed, clean):
        d.mkdir()
        (d / "pipe.py").write_text(PIPELINE)

    # an uninterrupted run, for the reference oids
    subprocess.run([sys.executable, "pipe.py"], cwd=clean, env=_env(), check=True, capture_output=True)

    (crashed / "block").touch()
    proc = subprocess.Popen([sys.executable, "pipe.py"], cwd=crashed, env=_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 60
    while not (crashed / "slow.started").exists():
        assert proc.poll() is None, proc.communicate()
        assert time.time() < deadline, "the slow step never started"
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert _calls(crashed) == ["first", "second", "slow"]

    (crashed / "block").unlink()
    (crashed / "calls.log").unlink()
    monkeypatch.chdir(crashed)
    monkeypatch.syspath_prepend(str(crashed))
    from flowyml.checkpoints import interrupted_runs

    (killed,) = interrupted_runs(crashed / ".flowyml")
    import runpy

    pipeline = runpy.run_path(str(crashed / "pipe.py"), run_name="pipe")["pipeline"]
    result = pipeline.rerun(run_id=killed)
    assert result.success
    assert _calls(crashed) == ["slow", "last"]  # the finished steps were not executed again
    assert result.step_results["first"].cached and result.step_results["second"].cached
    assert result.manifest.parent_run == killed
    assert interrupted_runs(crashed / ".flowyml") == []

    import flowyml

    reference = flowyml.get_run(flowyml.runs("crashy", path=clean)[0].run_id, path=clean)
    resumed = flowyml.get_run(result.run_id)
    assert {n: o.oid for n, o in resumed.outputs.items()} == {n: o.oid for n, o in reference.outputs.items()}


WRITER = '''
import sys
from flowyml import Pipeline, step

@step(outputs=["x"])
def make():
    return 42

pipeline = Pipeline("busy").add_step(make)
for _ in range(int(sys.argv[1])):
    assert pipeline.run().success
'''


@pytest.mark.slow
def test_four_processes_record_a_hundred_runs(tmp_path: Path) -> None:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True, env=_env())
    (tmp_path / "writer.py").write_text(WRITER)
    procs = [subprocess.Popen([sys.executable, "writer.py", "25"], cwd=tmp_path, env=_env(),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(4)]
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err.decode()
    count = subprocess.run(["git", "rev-list", "--count", "refs/flowyml/runs/busy"], cwd=tmp_path, env=_env(),
                           capture_output=True, text=True, check=True).stdout
    assert int(count) == 100
    fsck = subprocess.run(["git", "fsck", "--strict"], cwd=tmp_path, env=_env(), capture_output=True, text=True)
    assert fsck.returncode == 0, fsck.stdout + fsck.stderr
    import flowyml

    runs = flowyml.runs("busy", limit=None, path=tmp_path)
    assert len(runs) == 100 and len({r.run_id for r in runs}) == 100
    # the user's repository was not touched: no branch, no index, an empty work tree but ours
    status = subprocess.run(["git", "status", "--porcelain"], cwd=tmp_path, env=_env(),
                            capture_output=True, text=True, check=True).stdout
    assert status.split("\n")[0] in ("?? .flowyml/", "?? writer.py") and "flowyml" not in subprocess.run(
        ["git", "branch", "-a"], cwd=tmp_path, env=_env(), capture_output=True, text=True).stdout


REGISTRAR = '''
import os, sys
from flowyml import Model, Pipeline, step

@step(outputs=["model"])
def train(seed):
    return Model({"weights": [seed, os.getpid()]}, name="shared")

pipeline = Pipeline("trainer", enable_cache=False).add_step(train)
for i in range(int(sys.argv[1])):
    assert pipeline.run(context={"seed": i}).success
'''


@pytest.mark.slow
def test_concurrent_registrations_of_one_model_get_distinct_versions(tmp_path: Path) -> None:
    # The version number used to be read from the ref before the compare-and-swap: two
    # runs registering at once could both write "v3".
    (tmp_path / "registrar.py").write_text(REGISTRAR)
    procs = [subprocess.Popen([sys.executable, "registrar.py", "5"], cwd=tmp_path, env=_env(),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(4)]
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err.decode()
    from flowyml.records import open_history
    from flowyml.registry import versions

    with open_history(start=tmp_path, create=False) as history:
        found = versions(history, "model", "shared")
    assert sorted(e.version for e in found) == list(range(1, 21))
    assert [e.version for e in found] == list(range(20, 0, -1))  # newest first, one commit per version
    assert len({e.oid for e in found}) == 20
