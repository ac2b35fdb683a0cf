"""Stacks: LocalStack, DaskStack and named stacks from the project's flowyml.yaml."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from flowyml import DaskStack, LocalStack, Pipeline, SequentialExecutor, ThreadExecutor, context, step
from flowyml.config import ConfigError
from flowyml.stacks import default_stack, named_stack


@pytest.fixture(scope="module")
def scheduler():
    """The address of a real Dask LocalCluster with two worker processes (one per module)."""
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
    yield cluster.scheduler_address
    cluster.close()


@step(outputs=["rows"])
def rows(batch_size: int) -> list[int]:
    return list(range(batch_size))


@step(inputs=["rows"], outputs=["total"])
def total(rows: list[int]) -> int:
    return sum(rows)


def project(workdir: Path, address: str | None = None, default: str | None = "dev") -> Path:
    config = f"""
        stacks:
          {"default: " + default if default else ""}
          dev:
            type: local
            artifact_path: stores/dev
            executor: threads
            max_workers: 3
          prod:
            type: dask
            address: {address or "tcp://127.0.0.1:1"}
            artifact_path: stores/prod
            metadata_path: history/prod.git
        """
    path = workdir / "flowyml.yaml"
    path.write_text(textwrap.dedent(config))
    return path


def training(**options) -> Pipeline:
    return Pipeline.from_steps(rows, total, name="training", **options)


def test_named_stacks_come_from_the_config(workdir):
    project(workdir)
    dev = named_stack("dev")
    assert isinstance(dev, LocalStack) and dev.name == "dev"
    assert dev.artifact_path == str(workdir / "stores" / "dev")  # relative to flowyml.yaml
    assert isinstance(dev.executor, ThreadExecutor) and dev.executor.max_workers == 3
    assert named_stack("dev") is dev  # reused while the entry is unchanged
    prod = named_stack("prod")
    assert isinstance(prod, DaskStack) and prod.address == "tcp://127.0.0.1:1"
    assert prod.metadata_path == str(workdir / "history" / "prod.git")
    (workdir / "sub").mkdir()
    assert named_stack("dev", start=workdir / "sub").artifact_path == dev.artifact_path


def test_pipeline_and_run_pick_stacks_by_name(workdir, scheduler):
    project(workdir, scheduler, default=None)
    pipeline = training(context=context(batch_size=10), stack="dev")
    dev = pipeline.run()
    assert dev.success and dev["total"] == 45
    assert (workdir / "stores" / "dev" / "objects").is_dir()
    prod = pipeline.run(stack="prod", context={"batch_size": 100})
    try:
        assert prod.success, prod.error
        assert prod["total"] == 4950
        assert (workdir / "stores" / "prod" / "objects").is_dir()
        assert (workdir / "history" / "prod.git").is_dir()
        assert prod.manifest.environment["store"] == str(workdir / "stores" / "prod")
    finally:
        named_stack("prod").close()


def test_environment_variable_then_config_default(workdir, monkeypatch):
    project(workdir)
    assert default_stack().name == "dev"
    assert training(context=context(batch_size=3)).run().manifest.environment["store"] == str(
        workdir / "stores" / "dev")
    monkeypatch.setenv("FLOWYML_STACK", "other")
    with pytest.raises(ConfigError, match="no stack named 'other'; stacks are: dev, prod"):
        training(context=context(batch_size=3)).run()
    explicit = LocalStack(artifact_path=workdir / "mine")
    result = training(context=context(batch_size=3), stack=explicit).run()  # an explicit stack wins
    assert result.manifest.environment["store"] == str(workdir / "mine")


def test_without_a_config_there_is_no_default_stack(workdir):
    assert default_stack() is None
    assert training(context=context(batch_size=2)).run().manifest.environment["store"] == str(workdir / ".flowyml")


def test_bad_entries_are_reported(workdir):
    (workdir / "flowyml.yaml").write_text(textwrap.dedent("""
        stacks:
          odd: {type: kubernetes}
          typo: {type: local, artefact_path: x}
          slow: {type: local, executor: gpu}
        """))
    with pytest.raises(ConfigError, match="unknown type 'kubernetes'"):
        named_stack("odd")
    with pytest.raises(ConfigError, match=r"unknown setting\(s\) \['artefact_path'\]"):
        named_stack("typo")
    with pytest.raises(ConfigError, match="executor must be sequential, threads or processes"):
        named_stack("slow")


def test_a_local_stack_without_artifact_path_uses_the_config_store(workdir):
    (workdir / "flowyml.yaml").write_text("store: objects-here\nstacks:\n  plain: {executor: sequential}\n")
    stack = named_stack("plain")
    assert stack.artifact_path == str(workdir / "objects-here")
    assert isinstance(stack.executor, SequentialExecutor)


def test_dask_stack_object(workdir, scheduler):
    stack = DaskStack(scheduler, artifact_path=workdir / "cluster-store")
    try:
        result = training(context=context(batch_size=5)).run(stack=stack)
        assert result.success and result["total"] == 10
        assert stack.executor.max_workers == 2
    finally:
        stack.close()


def test_auto_discover_orders_module_steps_by_their_data(workdir):
    """Off by default; on, build() takes the module's @step functions, ordered by dependencies."""
    import importlib
    import sys

    (workdir / "discovered_steps.py").write_text(textwrap.dedent("""
        from flowyml import Pipeline, step

        @step(inputs=["cleaned"], outputs=["model"])
        def train(cleaned):
            return sum(cleaned)

        @step(inputs=["raw"], outputs=["cleaned"])
        def clean(raw):
            return [x for x in raw if x]

        @step(outputs=["raw"])
        def load():
            return [0, 1, 2, 3]

        found = Pipeline("found", auto_discover=True)
        plain = Pipeline("plain")
        """))
    sys.path.insert(0, str(workdir))
    try:
        module = importlib.import_module("discovered_steps")
    finally:
        sys.path.remove(str(workdir))
        sys.modules.pop("discovered_steps", None)
    assert module.found.build().order == ["load", "clean", "train"]
    assert module.found.run()["model"] == 6
    assert module.plain.build().order == []
