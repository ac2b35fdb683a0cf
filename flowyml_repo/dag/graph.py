"""The pipeline graph: which step feeds which, checked and ordered. Never executes.

``build_graph`` binds every step parameter to exactly one source — another
step's output (an *input*), a context value (a *parameter*) or the function's
default — and fails with a :class:`PipelineDefinitionError` naming the steps
when that is impossible: a missing input, two steps producing one output, a
step added twice, a cycle.
"""

from __future__ import annotations

import heapq
import inspect
from collections.abc import Iterable, Mapping, Sequence, Set
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from flowyml.errors import PipelineDefinitionError

if TYPE_CHECKING:
    from flowyml.step import Step


@dataclass(frozen=True)
class Binding:
    """Where one step's arguments come from.

    Attributes:
        inputs: parameter name -> the output name feeding it.
        params: parameter names filled from the context.
        wants_asset: parameters annotated with an asset type (they get the asset, not its data).
    """

    inputs: Mapping[str, str]
    params: tuple[str, ...]
    wants_asset: frozenset[str] = frozenset()


@dataclass
class Graph:
    """A validated, ordered pipeline graph.

    Attributes:
        steps: the steps by name, in registration order.
        bindings: each step's argument sources.
        producers: output name -> the step producing it.
        upstream: step name -> the steps it depends on (registration order).
        order: the deterministic execution order (registration order among ready steps).
        warnings: possible type issues found by validation.
    """

    steps: dict[str, Step]
    bindings: dict[str, Binding]
    producers: dict[str, str]
    upstream: dict[str, list[str]]
    order: list[str]
    warnings: list[str] = field(default_factory=list)

    def downstream_of(self, names: Iterable[str]) -> set[str]:
        """The given steps and every step depending on them, transitively."""
        found = set(names)
        for name in self.order:  # topological: parents are settled before children
            if any(u in found for u in self.upstream[name]):
                found.add(name)
        return found

    def visualize(self) -> str:
        """The execution order as text, one line per step with what it depends on."""
        lines = ["Step Execution Order:"]
        for i, name in enumerate(self.order, 1):
            deps = self.upstream[name]
            lines.append(f"{i}. {name}" + (f" (depends on: {', '.join(deps)})" if deps else ""))
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.visualize()


def build_graph(steps: Sequence[Step], context_keys: Iterable[str] = (),
                external: Iterable[str] = ()) -> Graph:
    """Bind, check and order ``steps``.

    Args:
        steps: the steps in registration order.
        context_keys: names the context provides.
        external: output names provided from outside the pipeline (a parent's inputs).

    Raises:
        PipelineDefinitionError: a step added twice, a duplicate output, a
            missing input or a cycle.
    """
    by_name = _index_steps(steps)
    producers = _producers(steps)
    context_keys = set(context_keys)
    available = set(producers).union(external)  # once: per step it made building quadratic
    bindings = {s.name: bind_step(s, available, context_keys) for s in steps}
    upstream = {
        s.name: _unique(producers[o] for o in bindings[s.name].inputs.values() if o in producers)
        for s in steps
    }
    order = _order(list(by_name), upstream)
    return Graph(by_name, bindings, producers, upstream, order)


def bind_step(s: Step, available: Set[str], context_keys: Set[str]) -> Binding:
    """Work out where each argument of ``s`` comes from (see the module docstring).

    Args:
        s: the step.
        available: every output name a step can consume (produced in the pipeline or external).
        context_keys: names the context provides.
    """
    params = s.arguments  # name -> (kind, has a default)
    inputs: dict[str, str] = {}
    from_context: list[str] = []
    positional = [n for n, (kind, _) in params.items() if kind in _POSITIONAL]
    for wanted in s.inputs or ():
        if wanted not in available:
            if wanted in context_keys and wanted in params:
                from_context.append(wanted)
                continue
            raise PipelineDefinitionError(
                f"step {s.name!r} needs input {wanted!r}, but no step in the pipeline produces it; "
                f"add a step with outputs=[{wanted!r}] before it, or put {wanted!r} in the context",
                (s.name,),
            )
        target = wanted if wanted in params else next(
            (n for n in positional if n not in inputs and n not in context_keys), None)
        if target is None:
            raise PipelineDefinitionError(
                f"step {s.name!r} declares input {wanted!r} but its function has no parameter left "
                f"to receive it; add a parameter named {wanted!r}", (s.name,))
        inputs[target] = wanted
    for name in s.parameters:
        if name in inputs or name in from_context:
            continue
        if name in context_keys:
            from_context.append(name)
        elif s.inputs is None and name in available:
            inputs[name] = name
        elif not params[name][1]:
            raise PipelineDefinitionError(
                f"step {s.name!r} has no value for its argument {name!r}: it is not an output of "
                f"another step, not in the context and has no default; declare it in "
                f"@step(inputs=[...]) of a producing step's outputs, or add {name}=... to the context",
                (s.name,),
            )
    return Binding(inputs, tuple(from_context), _asset_params(s))


_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)


def _asset_params(s: Step) -> frozenset[str]:
    cached = getattr(s, "_asset_params", None)  # annotations are fixed once a step is defined
    if cached is None:
        cached = s._asset_params = _find_asset_params(s)
    return cached


def _find_asset_params(s: Step) -> frozenset[str]:
    if not getattr(s.func, "__annotations__", None):
        return frozenset()  # the common case, and free: no annotation can name an asset
    from flowyml.assets import Asset
    from flowyml.dag.typecheck import input_types

    wanted = set()
    for name, ann in input_types(s.func).items():
        for t in _union_members(ann):
            if isinstance(t, type) and issubclass(t, Asset):
                wanted.add(name)
    return frozenset(wanted)


def _union_members(ann: Any) -> tuple[Any, ...]:
    import typing

    if typing.get_origin(ann) is typing.Union or type(ann).__name__ == "UnionType":
        return typing.get_args(ann)
    return (ann,)


def _index_steps(steps: Sequence[Step]) -> dict[str, Step]:
    by_name: dict[str, Step] = {}
    for s in steps:
        if s.name in by_name:
            raise PipelineDefinitionError(
                f"step {s.name!r} is added twice; give one of them another name with @step(name=...)",
                (s.name,))
        by_name[s.name] = s
    return by_name


def _producers(steps: Sequence[Step]) -> dict[str, str]:
    producers: dict[str, str] = {}
    for s in steps:
        for out in s.outputs:
            if out in producers:
                raise PipelineDefinitionError(
                    f"output {out!r} is produced by both {producers[out]!r} and {s.name!r}; "
                    "rename one of the outputs", (producers[out], s.name))
            producers[out] = s.name
    return producers


def _order(names: list[str], upstream: dict[str, list[str]]) -> list[str]:
    """Topological order; among ready steps the earliest registered goes first."""
    import graphlib

    sorter = graphlib.TopologicalSorter({n: upstream[n] for n in names})
    try:
        sorter.prepare()
    except graphlib.CycleError as exc:
        cycle = list(dict.fromkeys(exc.args[1]))
        raise PipelineDefinitionError(
            "the pipeline has a cycle: " + " -> ".join(exc.args[1])
            + "; a step cannot depend on its own outputs", tuple(cycle)) from exc
    rank = {n: i for i, n in enumerate(names)}
    heap: list[tuple[int, str]] = []
    order: list[str] = []
    while sorter.is_active():
        for n in sorter.get_ready():
            heapq.heappush(heap, (rank[n], n))
        _, n = heapq.heappop(heap)
        order.append(n)
        sorter.done(n)
    return order


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))
