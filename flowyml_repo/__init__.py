"""flowyml: reproducible ML pipelines.

Steps are plain functions; every output goes into a content-addressed object
store; every step execution has an exact cache key; every run is committed to
a git ref. This module re-exports the public API and nothing else.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flowyml.assets import Asset, Dataset, Metrics, Model
from flowyml.context import Context, context
from flowyml.control import on_failure, retry, when
from flowyml.errors import (CorruptObject, FlowymlError, MapTaskError, ObjectNotFound, PipelineDefinitionError,
                            StepFailed, TypeMismatchError)
from flowyml.pipeline import Pipeline
from flowyml.result import PipelineResult, StepResult

# Eager, not lazy: importing the submodule `flowyml.runs` would otherwise shadow the function `runs`.
from flowyml.runs import Artifact, Run, RunHistory, get_run, runs
from flowyml.stack import LocalStack, Stack
from flowyml.step import Step, step

if TYPE_CHECKING:
    from flowyml.execution.dynamic import dynamic
    from flowyml.execution.executors import (DaskExecutor, LocalExecutor, ProcessExecutor, SequentialExecutor,
                                             ThreadExecutor)
    from flowyml.execution.maptask import MapResult, map_task
    from flowyml.execution.parallel import parallel_map
    from flowyml.snapshot import PipelineSnapshot, freeze_pipeline
    from flowyml.stacks import DaskStack
    from flowyml.versioning import VersionedPipeline

__version__ = "0.1.0"

# Imported on first use: these modules cost ~27 ms at start-up (measured with
# -X importtime), which a pipeline that never leaves the sequential path, or never
# queries its history, should not pay.
_LAZY = {
    "PipelineSnapshot": "flowyml.snapshot",
    "VersionedPipeline": "flowyml.versioning",
    "freeze_pipeline": "flowyml.snapshot",

    "DaskExecutor": "flowyml.execution.executors",
    "DaskStack": "flowyml.stacks",
    "LocalExecutor": "flowyml.execution.executors",
    "MapResult": "flowyml.execution.maptask",
    "ProcessExecutor": "flowyml.execution.executors",
    "SequentialExecutor": "flowyml.execution.executors",
    "ThreadExecutor": "flowyml.execution.executors",
    "dynamic": "flowyml.execution.dynamic",
    "map_task": "flowyml.execution.maptask",
    "parallel_map": "flowyml.execution.parallel",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'flowyml' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))

__all__ = [
    "Artifact",
    "Asset",
    "Context",
    "CorruptObject",
    "DaskExecutor",
    "DaskStack",
    "Dataset",
    "FlowymlError",
    "LocalExecutor",
    "LocalStack",
    "MapResult",
    "MapTaskError",
    "Metrics",
    "Model",
    "ObjectNotFound",
    "Pipeline",
    "PipelineDefinitionError",
    "PipelineResult",
    "PipelineSnapshot",
    "ProcessExecutor",
    "Run",
    "RunHistory",
    "SequentialExecutor",
    "Stack",
    "Step",
    "StepFailed",
    "StepResult",
    "ThreadExecutor",
    "TypeMismatchError",
    "VersionedPipeline",
    "context",
    "dynamic",
    "freeze_pipeline",
    "get_run",
    "map_task",
    "on_failure",
    "parallel_map",
    "retry",
    "runs",
    "step",
    "when",
]
