"""flowyml: reproducible ML pipelines.

Steps are plain functions; every output goes into a content-addressed object
store; every step execution has an exact cache key; every run is committed to
a git ref. This module re-exports the public API and nothing else.
"""

from __future__ import annotations

from flowyml.assets import Asset, Dataset, Metrics, Model
from flowyml.context import Context, context
from flowyml.control import on_failure, retry, when
from flowyml.errors import (CorruptObject, FlowymlError, ObjectNotFound, PipelineDefinitionError, StepFailed,
                            TypeMismatchError)
from flowyml.pipeline import Pipeline
from flowyml.result import PipelineResult, StepResult
from flowyml.runs import Artifact, Run, RunHistory, get_run, runs
from flowyml.snapshot import PipelineSnapshot, freeze_pipeline
from flowyml.stack import LocalStack, Stack
from flowyml.step import Step, step
from flowyml.versioning import VersionedPipeline

__version__ = "0.1.0"

__all__ = [
    "Artifact",
    "Asset",
    "Context",
    "CorruptObject",
    "Dataset",
    "FlowymlError",
    "LocalStack",
    "Metrics",
    "Model",
    "ObjectNotFound",
    "Pipeline",
    "PipelineDefinitionError",
    "PipelineResult",
    "PipelineSnapshot",
    "Run",
    "RunHistory",
    "Stack",
    "Step",
    "StepFailed",
    "StepResult",
    "TypeMismatchError",
    "VersionedPipeline",
    "context",
    "freeze_pipeline",
    "get_run",
    "on_failure",
    "retry",
    "runs",
    "step",
    "when",
]
