"""Stacks: where a pipeline's objects and history live, and what executes it."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any


@dataclass
class Stack:
    """Where and how a pipeline runs.

    Attributes:
        name: the stack's name (as declared in the project's config file).
        artifact_path: the object store root.
        metadata_path: where the run history lives (a git repository), or None
            for the enclosing git repository (or ``.flowyml/`` outside one).
        executor: the executor to run steps with, or None for sequential.
    """

    name: str = "local"
    artifact_path: str | os.PathLike[str] = ".flowyml"
    metadata_path: str | os.PathLike[str] | None = None
    executor: Any = None


class LocalStack(Stack):
    """Everything on this machine.

    Args:
        artifact_path: the object store root (default ``.flowyml``).
        metadata_path: where the run history lives (default: the enclosing git
            repository, or ``.flowyml/history.git`` outside one).
        executor: optional executor.
        name: the stack's name.
    """

    def __init__(self, artifact_path: str | os.PathLike[str] = ".flowyml",
                 metadata_path: str | os.PathLike[str] | None = None,
                 executor: Any = None, name: str = "local") -> None:
        super().__init__(name, artifact_path, metadata_path, executor)
