"""What steps print is shown and also kept in the run's record."""

from __future__ import annotations

import sys
import threading

from flowyml import Pipeline, step
from flowyml.execution.capture import KEEP_CHARS, captured


def test_step_output_is_recorded_and_still_printed(workdir, capsys):
    @step(outputs=["x"])
    def noisy():
        print("hello from the step")
        print("a warning", file=sys.stderr)
        return 1

    @step(inputs=["x"], outputs=["y"])
    def failing(x):
        print("about to fail")
        raise RuntimeError("boom")

    r = Pipeline("noisy").add_step(noisy).add_step(failing).run()
    shown = capsys.readouterr()
    assert "hello from the step" in shown.out and "a warning" in shown.err
    rec = r.manifest.steps
    assert rec["noisy"].stdout == "hello from the step\n" and rec["noisy"].stderr == "a warning\n"
    assert rec["failing"].stdout == "about to fail\n"
    import flowyml

    assert flowyml.get_run(r.run_id).steps["noisy"].stdout == "hello from the step\n"
    assert not isinstance(sys.stdout, type(sys.stdout)) or "Router" not in type(sys.stdout).__name__


def test_capture_is_per_thread_and_bounded(capsys):
    results = {}

    def work(name):
        with captured() as c:
            for i in range(3):
                print(f"{name}-{i}")
        results[name] = c.stdout

    threads = [threading.Thread(target=work, args=(n,)) for n in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == {"a": "a-0\na-1\na-2\n", "b": "b-0\nb-1\nb-2\n"}
    with captured() as c:
        print("x" * (KEEP_CHARS + 100), end="")
    assert len(c.stdout) == KEEP_CHARS
    assert "Router" not in type(sys.stdout).__name__
