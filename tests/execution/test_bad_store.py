"""A damaged store never yields a wrong value: bytes are verified before use."""

from __future__ import annotations

import os

from flowyml import Pipeline, step


@step(outputs=["numbers"])
def numbers():
    return list(range(100))


@step(inputs=["numbers"], outputs=["total"], cache=False)
def total(numbers):
    return sum(numbers)


def _flip_a_byte(path: str) -> None:
    os.chmod(path, 0o644)  # objects are written read-only
    data = bytearray(open(path, "rb").read())
    data[-1] ^= 0xFF
    with open(path, "wb") as f:
        f.write(data)


def test_a_corrupt_input_fails_the_consumer_with_a_clear_error(workdir):
    first = Pipeline("bad").add_step(numbers).add_step(total).run()
    assert first.outputs["total"] == 4950
    _flip_a_byte(first.step_results["numbers"].artifact_uri)
    again = Pipeline("bad").add_step(numbers).add_step(total).run()
    assert again.step_results["numbers"].cached  # the key still matches: nothing was re-read
    assert not again.success and again.failed_step == "total"
    assert "CorruptObject" in again.error and "flowyml fsck" in again.error


def test_a_missing_object_is_a_cache_miss(workdir):
    first = Pipeline("gone").add_step(numbers).add_step(total).run()
    os.unlink(first.step_results["numbers"].artifact_uri)
    again = Pipeline("gone").add_step(numbers).add_step(total).run()
    assert again.success and not again.step_results["numbers"].cached
    assert again.outputs["total"] == 4950


def test_an_interrupted_run_can_be_resumed_from_its_journal(workdir):
    import pytest

    from flowyml.checkpoints import interrupted_runs

    @step(inputs=["numbers"], outputs=["total"])
    def interrupted(numbers):
        raise KeyboardInterrupt  # Ctrl-C in the middle of a step

    with pytest.raises(KeyboardInterrupt):
        Pipeline("ctrlc", enable_cache=False).add_step(numbers).add_step(interrupted).run()
    (run_id,) = interrupted_runs(workdir / ".flowyml")
    resumed = Pipeline("ctrlc", enable_cache=False).add_step(numbers).add_step(total).rerun(run_id=run_id)
    assert resumed.success and resumed.step_results["numbers"].cached and resumed.outputs["total"] == 4950
