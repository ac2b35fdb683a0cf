"""Pipeline parameters, injected into steps by argument name."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any


class Context(Mapping[str, Any]):
    """An immutable set of named parameters (hyper-parameters, paths, sizes).

    A step argument whose name is a context key receives that value, unless the
    argument is one of the step's inputs. Only the values a step receives are
    part of its cache key, so changing an unrelated parameter re-runs nothing.

    Args:
        params: the parameters by name.
    """

    __slots__ = ("_params",)

    def __init__(self, params: Mapping[str, Any] | None = None, /, **kwargs: Any) -> None:
        merged = dict(params or {})
        merged.update(kwargs)
        self._params = merged

    def __getitem__(self, key: str) -> Any:
        return self._params[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._params)

    def __len__(self) -> int:
        return len(self._params)

    def __getattr__(self, name: str) -> Any:
        try:
            return self._params[name]
        except KeyError:
            raise AttributeError(f"context has no parameter {name!r}") from None

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}={v!r}" for k, v in self._params.items())
        return f"context({inner})"

    def updated(self, overrides: Mapping[str, Any] | None) -> Context:
        """A new context with ``overrides`` replacing or adding values."""
        if not overrides:
            return self
        return Context(self._params, **dict(overrides))

    def to_dict(self) -> dict[str, Any]:
        """The parameters as a plain dict (a copy)."""
        return dict(self._params)


def context(**params: Any) -> Context:
    """Create a :class:`Context` from keyword parameters.

    Example:
        ``ctx = context(learning_rate=0.001, epochs=10)``
    """
    return Context(params)
