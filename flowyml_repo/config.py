"""The project's configuration file, ``flowyml.yaml``.

The file sits at the project's root (``flowyml init`` writes a commented one) and
is found by looking upward from the current folder, stopping at the root of the
enclosing git work tree. Every key is optional::

    store: .flowyml          # the object store root, relative to this file

    remotes:                 # for `flowyml push NAME` / `flowyml pull NAME`
      origin:
        git: ../shared.git   # where refs go: any path or URL dulwich reaches
                             # (default: the git remote of that name, else NAME itself)
        objects: /mnt/shared/flowyml-objects   # where objects go: any fsspec URL

    stacks: {}               # named stacks, for `flowyml run --stack NAME`

A project without the file may declare the same keys under ``[tool.flowyml]`` in
its ``pyproject.toml``. :func:`load_config` returns plain values; it validates the
shapes of ``store`` and ``remotes`` and hands ``stacks`` over untouched (what a
stack entry holds is defined by :mod:`flowyml.stacks`, not here).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from flowyml.errors import FlowymlError

CONFIG_FILE = "flowyml.yaml"
DEFAULT_STORE = ".flowyml"


class ConfigError(FlowymlError):
    """The project's configuration file cannot be read or has a wrong shape.

    Attributes:
        path: the file at fault.
    """

    def __init__(self, message: str, path: str | os.PathLike[str] = "") -> None:
        super().__init__(f"{os.fspath(path)}: {message}" if path else message)
        self.path = os.fspath(path)


def load_config(start_dir: str | os.PathLike[str] = ".") -> dict[str, Any]:
    """Find and read the project's configuration.

    Args:
        start_dir: a folder inside the project.

    Returns:
        ``{"root": str, "file": str | None, "store": str, "remotes": {name: {"git":
        str | None, "objects": str | None}}, "stacks": dict}``. ``root`` is the folder
        holding the file (else the git work tree, else ``start_dir``); ``store`` is an
        absolute path; relative remote paths are made absolute against ``root``.

    Raises:
        ConfigError: the file is not valid YAML/TOML or a key has the wrong shape.
    """
    start = Path(start_dir).absolute()
    found, worktree = _find(start)
    root = found.parent if found is not None else (worktree or start)
    raw = _read(found) if found is not None else _read_pyproject(root)
    where = found or root / "pyproject.toml"
    store = raw.get("store", DEFAULT_STORE)
    if not isinstance(store, str) or not store:
        raise ConfigError("'store' must be a folder path", where)
    stacks = raw.get("stacks") or {}
    if not isinstance(stacks, dict):
        raise ConfigError("'stacks' must be a mapping of stack names to settings", where)
    return {
        "root": str(root),
        "file": str(found) if found is not None else None,
        "store": os.path.normpath(root / os.path.expanduser(store)),
        "remotes": _remotes(raw.get("remotes") or {}, root, where),
        "stacks": stacks,
    }


def _find(start: Path) -> tuple[Path | None, Path | None]:
    """The config file looking upward (not past the git work tree), and that work tree."""
    folder = start
    while True:
        candidate = folder / CONFIG_FILE
        if candidate.is_file():
            return candidate, None
        if (folder / ".git").exists():
            return None, folder
        if folder.parent == folder:
            return None, None
        folder = folder.parent


def _read(path: Path) -> dict[str, Any]:
    import yaml  # ~15 ms: only commands that need the config pay for it

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"not valid YAML: {_one_line(exc)}", path) from exc
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror}", path) from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError("must be a mapping of settings (store, remotes, stacks)", path)
    return data


def _read_pyproject(root: Path) -> dict[str, Any]:
    path = root / "pyproject.toml"
    if not path.is_file():
        return {}
    try:
        import tomllib
    except ImportError:  # Python 3.10: no TOML reader in the standard library
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, OSError) as exc:
        raise ConfigError(f"cannot read [tool.flowyml]: {exc}", path) from exc
    section = data.get("tool", {}).get("flowyml", {})
    if not isinstance(section, dict):
        raise ConfigError("[tool.flowyml] must be a table", path)
    return section


def _remotes(raw: Any, root: Path, where: Path) -> dict[str, dict[str, str | None]]:
    if not isinstance(raw, dict):
        raise ConfigError("'remotes' must map remote names to {git: ..., objects: ...}", where)
    remotes = {}
    for name, entry in raw.items():
        entry = entry or {}
        if not isinstance(entry, dict) or not set(entry) <= {"git", "objects"}:
            raise ConfigError(f"remote {name!r} must be a mapping with 'git' and/or 'objects'", where)
        for key in ("git", "objects"):
            if entry.get(key) is not None and not isinstance(entry[key], str):
                raise ConfigError(f"remote {name!r}: '{key}' must be a path or URL", where)
        remotes[str(name)] = {"git": _local(entry.get("git"), root, scp_ok=True),
                              "objects": _local(entry.get("objects"), root, scp_ok=False)}
    return remotes


def _local(location: str | None, root: Path, scp_ok: bool) -> str | None:
    """A relative path made absolute against the project root; URLs as they are."""
    if not location or "://" in location or (scp_ok and ":" in location):
        return location  # a URL, or git's scp-like ``host:path``
    return os.path.normpath(root / os.path.expanduser(location))


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split())
