"""Type checks that never import the library a type comes from.

A value can only be a pandas DataFrame if pandas is already in ``sys.modules``, so the
checks look there instead of importing pandas, numpy, pyarrow or polars (each costs
tens to hundreds of milliseconds that ``import flowyml`` must not pay).
"""

from __future__ import annotations

import sys
from typing import Any

__all__ = ["is_exact", "loaded_class"]


def loaded_class(module: str, attr: str) -> Any:
    """The class ``module.attr`` if ``module`` is already imported, else None."""
    mod = sys.modules.get(module)
    return getattr(mod, attr, None) if mod is not None else None


def is_exact(value: Any, module: str, attr: str) -> bool:
    """True if ``type(value)`` is exactly ``module.attr`` (not a subclass), without importing it."""
    cls = loaded_class(module, attr)
    return cls is not None and type(value) is cls
