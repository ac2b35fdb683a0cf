"""Named stacks: declared once in the project's ``flowyml.yaml``, chosen by name.

::

    stacks:
      default: dev                  # used when a run names no stack (optional)
      dev:
        type: local                 # the default type
        artifact_path: .flowyml/dev # relative paths are relative to flowyml.yaml
        executor: threads           # sequential (default), threads or processes
        max_workers: 8
      prod:
        type: dask
        address: tcp://scheduler:8786   # omit to start a LocalCluster
        artifact_path: /mnt/shared/flowyml   # workers must reach it
        metadata_path: /mnt/shared/history.git

A run's stack is, first to last: ``run(stack=...)``, ``Pipeline(stack=...)``,
the ``FLOWYML_STACK`` environment variable, the config's ``default``. Each may be
a stack object or a name. So the same code runs on a laptop and on a cluster::

    pipeline = Pipeline("ml_training", context=ctx_prod, stack="prod")

A stack without ``artifact_path`` keeps the pipeline's ``cache_dir`` (else the
config's ``store``). Stacks made from the config are reused while its entry is
unchanged, so a Dask stack keeps one client across runs.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

from flowyml.stack import LocalStack, Stack

__all__ = ["ENV_VAR", "DaskStack", "default_stack", "named_stack", "stack_from_config"]

ENV_VAR = "FLOWYML_STACK"

_KEYS = {"local": {"type", "artifact_path", "metadata_path", "executor", "max_workers"},
         "dask": {"type", "artifact_path", "metadata_path", "address", "n_workers", "threads_per_worker",
                  "max_workers"}}
_made: dict[tuple, Stack] = {}
_made_lock = threading.Lock()


class DaskStack(Stack):
    """Steps run on a Dask ``distributed`` cluster; objects and history stay where given.

    Args:
        address: the scheduler's address; None starts a ``LocalCluster`` of
            worker processes on first use.
        artifact_path: the object store root; every worker must reach it (the
            same machine, or a shared filesystem).
        metadata_path: where the run history lives (default: the enclosing git
            repository, or ``.flowyml/history.git`` outside one).
        n_workers: worker processes of a started LocalCluster.
        threads_per_worker: threads per worker of a started LocalCluster.
        max_workers: steps in flight at once (default: the cluster's threads).
        client: an existing ``distributed.Client`` to use instead.
        name: the stack's name.
    """

    def __init__(self, address: str | None = None, artifact_path: str | os.PathLike[str] = ".flowyml",
                 metadata_path: str | os.PathLike[str] | None = None, *, n_workers: int = 2,
                 threads_per_worker: int = 1, max_workers: int | None = None, client: Any = None,
                 name: str = "dask") -> None:
        from flowyml.execution.executors import DaskExecutor

        executor = DaskExecutor(address, client=client, n_workers=n_workers,
                                threads_per_worker=threads_per_worker, max_workers=max_workers)
        super().__init__(name, artifact_path, metadata_path, executor)
        self.address = address

    def close(self) -> None:
        """Close the client (and the LocalCluster this stack started)."""
        self.executor.close()


def named_stack(name: str, start: str | os.PathLike[str] = ".") -> Stack:
    """The stack called ``name`` in the project's config file.

    Args:
        name: a key under ``stacks:``.
        start: a folder inside the project (the config is looked up from there).

    Raises:
        ConfigError: no such stack, or its entry is malformed.
    """
    from flowyml.config import ConfigError, load_config

    config = load_config(start)
    stacks = config["stacks"]
    entry = stacks.get(name)
    if not isinstance(entry, dict):
        known = sorted(k for k, v in stacks.items() if isinstance(v, dict))
        where = config["file"] or "the project's config (flowyml.yaml)"
        raise ConfigError(f"no stack named {name!r}; stacks are: {', '.join(known) or 'none'}", where)
    key = (config["file"], name, repr(sorted(entry.items())))
    with _made_lock:
        stack = _made.get(key)
        if stack is None:
            stack = _made[key] = stack_from_config(name, entry, config["root"], config["store"], config["file"])
        return stack


def default_stack(start: str | os.PathLike[str] = ".") -> Stack | None:
    """The stack a run uses when none is given: ``$FLOWYML_STACK``, else the config's ``default``.

    Returns:
        The stack, or None when neither names one.
    """
    name = os.environ.get(ENV_VAR)
    if name:
        return named_stack(name, start)
    from flowyml.config import load_config

    default = load_config(start)["stacks"].get("default")
    return named_stack(default, start) if isinstance(default, str) else None


def stack_from_config(name: str, entry: dict[str, Any], root: str | os.PathLike[str], store: str | None = None,
                      file: str | None = None) -> Stack:
    """Make a stack from its config entry (``type: local`` or ``type: dask``).

    Args:
        name: the stack's name.
        entry: its settings.
        root: the folder relative paths are relative to.
        store: the object store root when the entry gives no ``artifact_path``.
        file: the config file (for error messages).

    Raises:
        ConfigError: an unknown type or key, or a value of the wrong kind.
    """
    from flowyml.config import ConfigError

    kind = entry.get("type", "local")
    if kind not in _KEYS:
        raise ConfigError(f"stack {name!r}: unknown type {kind!r} (use 'local' or 'dask')", file or "")
    unknown = sorted(set(entry) - _KEYS[kind])
    if unknown:
        raise ConfigError(f"stack {name!r}: unknown setting(s) {unknown} for type {kind!r}; "
                          f"known: {sorted(_KEYS[kind])}", file or "")
    try:
        artifact = _path(entry.get("artifact_path"), root) or store
        metadata = _path(entry.get("metadata_path"), root)
        if kind == "dask":
            return DaskStack(entry.get("address"), artifact, metadata, n_workers=int(entry.get("n_workers", 2)),
                             threads_per_worker=int(entry.get("threads_per_worker", 1)),
                             max_workers=_optional_int(entry.get("max_workers")), name=name)
        return LocalStack(artifact, metadata, executor=_local_executor(entry), name=name)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"stack {name!r}: {exc}", file or "") from exc


def _local_executor(entry: dict[str, Any]) -> Any:
    from flowyml.execution.executors import ProcessExecutor, SequentialExecutor, ThreadExecutor

    kind = entry.get("executor", "sequential")
    workers = _optional_int(entry.get("max_workers"))
    if kind in (None, "sequential", "local"):
        return SequentialExecutor()
    if kind == "threads":
        return ThreadExecutor(workers or 8)
    if kind == "processes":
        return ProcessExecutor(workers)
    raise ValueError(f"executor must be sequential, threads or processes, not {kind!r}")


def _optional_int(value: Any) -> int | None:
    return None if value is None else int(value)


def _path(value: Any, root: str | os.PathLike[str]) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError(f"a path must be a string, not {value!r}")
    if "://" in value:
        return value
    return os.path.normpath(Path(root) / os.path.expanduser(value))
