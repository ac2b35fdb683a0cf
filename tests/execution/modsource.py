"""Fixture helper: write Python source into real module files and import them."""

from __future__ import annotations

import importlib
import itertools
import sys
import textwrap
from pathlib import Path

_counter = itertools.count()


class ModuleWriter:
    """Writes each source to ``<folder>/<unique name>.py`` and imports it.

    Every module gets a fresh name, so an edited source is never served from a
    stale ``sys.modules`` entry or ``.pyc`` written in the same second.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.names: list[str] = []
        sys.path.insert(0, str(folder))

    def name(self, stem: str = "fpmod") -> str:
        return f"{stem}_{next(_counter)}_{id(self) % 10_000}"

    def load(self, source: str, name: str | None = None):
        name = name or self.name()
        (self.folder / f"{name}.py").write_text(textwrap.dedent(source))
        importlib.invalidate_caches()
        self.names.append(name)
        return importlib.import_module(name)

    def close(self) -> None:
        for name in self.names:
            sys.modules.pop(name, None)
        if str(self.folder) in sys.path:
            sys.path.remove(str(self.folder))
