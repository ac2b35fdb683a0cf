"""Where the command line finds things: the project, its store and history, its pipelines.

The project is found from the current folder (see :func:`flowyml.config.load_config`).
A pipeline is named on the command line as ``FILE.py[:PIPELINE]``: the file is
imported as a module named after it (its folder first on ``sys.path``, as
``python FILE.py`` would have it), not run as ``__main__``, so a
``pipeline.run()`` under ``if __name__ == "__main__":`` does not fire.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flowyml.cli.output import USAGE, CliError

if TYPE_CHECKING:
    from flowyml.pipeline import Pipeline
    from flowyml.runs import RunHistory
    from flowyml.store.history import History
    from flowyml.store.objects import ObjectStore

SOURCES_FILE = "cli-sources.json"  # in <git dir>/flowyml/: pipeline name -> the file it came from


@dataclass(frozen=True)
class Project:
    """The project around the current folder.

    Attributes:
        root: the folder holding ``flowyml.yaml`` (else the git work tree, else cwd).
        store_root: the object store folder.
        config: everything :func:`flowyml.config.load_config` read.
    """

    root: Path
    store_root: Path
    config: dict

    @classmethod
    def find(cls, start: str | os.PathLike[str] = ".") -> Project:
        from flowyml.config import load_config

        config = load_config(start)
        return cls(Path(config["root"]), Path(config["store"]), config)

    def runs(self) -> RunHistory:
        """The run history (close it, or use it in a ``with`` block)."""
        from flowyml.runs import RunHistory

        return RunHistory(self.root)

    def history(self) -> History:
        """The git history repository (close it, or use it in a ``with`` block)."""
        from flowyml.records import open_history

        return open_history(None, self.root)

    def store(self) -> ObjectStore:
        from flowyml.store.objects import ObjectStore

        return ObjectStore(self.store_root)

    def store_for(self, run: Any, oid: str) -> ObjectStore:
        """The project's store if it holds ``oid``, else the one the run recorded.

        A run records the absolute path of the store it wrote; in a clone that
        pulled the objects, the project's own store is the one to read.
        """
        store = self.store()
        return store if store.has(oid) else run.store


# -- pipelines named on the command line ------------------------------------------------


def parse_target(target: str) -> tuple[Path, str | None]:
    """``"dir/file.py:name"`` -> (path, "name"); a bare path -> (path, None)."""
    path, sep, name = target.rpartition(":")
    if sep and path.endswith(".py") and name and not any(c in name for c in "/\\"):
        return Path(path), name
    return Path(target), None


def load_pipeline(target: str) -> tuple[Pipeline, Path]:
    """Import ``FILE.py[:PIPELINE]`` and return the pipeline it names and the file.

    Raises:
        CliError: (exit 2) no such file, the file fails to import, or it defines
            no pipeline, or several and none was named.
    """
    path, name = parse_target(target)
    if path.suffix != ".py":
        raise CliError(f"{target}: expected a Python file, FILE.py[:PIPELINE]", USAGE)
    if not path.is_file():
        raise CliError(f"{path}: no such file", USAGE)
    module = import_file(path.resolve())
    return pick_pipeline(vars(module), path, name), path.resolve()


def import_file(path: Path) -> Any:
    """Import a Python file as a module named after it (re-executed on every call)."""
    folder = str(path.parent)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    name = path.stem if path.stem.isidentifier() else "_flowyml_" + "".join(c if c.isalnum() else "_" for c in path.stem)
    existing = sys.modules.get(name)
    if existing is not None and Path(getattr(existing, "__file__", "") or "").resolve() != path:
        # Another module owns the name (a file called json.py, say): do not shadow it.
        import hashlib

        name = f"_flowyml_{name}_{hashlib.sha1(str(path).encode()).hexdigest()[:8]}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise CliError(f"{path}: cannot be imported as a Python module", USAGE)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # step functions pickle by reference to it
    try:
        # Compiled from the source every time, never from __pycache__: a .pyc is trusted
        # on mtime (whole seconds) and size, so an edit within the same second could
        # run the old code under the new file, and its cache key with it.
        exec(compile(path.read_bytes(), str(path), "exec"), module.__dict__)
    except SystemExit as exc:
        del sys.modules[name]
        raise CliError(f"{path.name} called sys.exit({exc.code!r}) while being imported; "
                       "put script code under `if __name__ == \"__main__\":`", USAGE) from exc
    except Exception as exc:
        del sys.modules[name]
        raise CliError(f"cannot import {path.name}: {_located(exc, path)}", USAGE) from exc
    return module


def _located(exc: BaseException, path: Path) -> str:
    """``file.py:12: ValueError: message`` for the innermost frame in ``path``."""
    line = None
    if isinstance(exc, SyntaxError) and exc.lineno:
        line = exc.lineno
    else:
        for frame in traceback.extract_tb(exc.__traceback__):
            if Path(frame.filename).resolve() == path:
                line = frame.lineno
    text = " ".join(str(exc).split()) if not isinstance(exc, SyntaxError) else (exc.msg or "invalid syntax")
    where = f"{path.name}:{line}: " if line else ""
    return f"{where}{type(exc).__name__}: {text}"


def pick_pipeline(namespace: dict[str, Any], path: Path, name: str | None) -> Pipeline:
    """The pipeline called ``name`` (variable or pipeline name), or the only one."""
    from flowyml.pipeline import Pipeline

    found: dict[str, Pipeline] = {}
    for var, value in namespace.items():
        if isinstance(value, Pipeline) and not any(value is p for p in found.values()):
            found[var] = value
    if name is not None:
        if isinstance(namespace.get(name), Pipeline):
            return namespace[name]
        matches = [p for p in found.values() if p.name == name]
        if len(matches) == 1:
            return matches[0]
        raise CliError(f"{path.name} has no pipeline {name!r}; it has: {_listing(found)}", USAGE)
    if len(found) == 1:
        return next(iter(found.values()))
    if not found:
        raise CliError(f"{path.name} defines no Pipeline at module level", USAGE)
    raise CliError(f"{path.name} defines {len(found)} pipelines ({_listing(found)}); "
                   f"name one: {path.name}:NAME", USAGE)


def _listing(found: dict[str, Any]) -> str:
    return ", ".join(f"{var} ({p.name!r})" if var != p.name else var for var, p in found.items()) or "none"


# -- which file a pipeline came from (for `flowyml rerun RUN`) ------------------------


def remember_source(project: Project, pipeline: str, path: Path, attr: str | None) -> None:
    """Note that ``pipeline`` was last run from ``path`` (best effort, derived data)."""
    try:
        with project.history() as history:
            file = Path(history.git_dir) / "flowyml" / SOURCES_FILE
        sources = _read_sources(file)
        try:
            where = str(path.relative_to(project.root))
        except ValueError:
            where = str(path)
        sources[pipeline] = where + (f":{attr}" if attr else "")
        file.parent.mkdir(parents=True, exist_ok=True)
        tmp = file.with_name(f"{file.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(sources, indent=1, sort_keys=True))
        os.replace(tmp, file)
    except OSError:
        pass  # rerun then needs --file; not worth failing a finished run over


def recall_source(project: Project, pipeline: str) -> str | None:
    """The ``FILE.py[:NAME]`` that ``pipeline`` was last run from, if known."""
    with project.history() as history:
        file = Path(history.git_dir) / "flowyml" / SOURCES_FILE
    where = _read_sources(file).get(pipeline)
    if where is None:
        return None
    path, name = parse_target(where)
    path = path if path.is_absolute() else project.root / path
    return str(path) + (f":{name}" if name else "")


def _read_sources(file: Path) -> dict[str, str]:
    try:
        data = json.loads(file.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


# -- shell completion -----------------------------------------------------------------


def complete_run_id(ctx: Any, param: Any, incomplete: str) -> list[Any]:
    """Recent run ids starting with what was typed (for shell completion)."""
    from click.shell_completion import CompletionItem

    try:
        with Project.find().runs() as history:
            found = history.runs(limit=200)
    except Exception:  # completion must never print a traceback into the shell
        return []
    return [CompletionItem(r.run_id, help=r.summary) for r in found if r.run_id.startswith(incomplete)]
