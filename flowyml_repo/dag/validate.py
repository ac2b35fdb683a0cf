"""Build-time type validation over the edges of a graph."""

from __future__ import annotations

from typing import Any

from flowyml.dag.graph import Graph
from flowyml.errors import TypeMismatchError


def validate_types(graph: Graph) -> list[str]:
    """Check every producer → consumer edge of ``graph``.

    Returns:
        The warnings (possible issues), one line each; also stored on ``graph.warnings``.

    Raises:
        TypeMismatchError: one or more hard mismatches, each line naming both steps.
    """
    # Only consumers with annotations: an unannotated parameter accepts anything, and a
    # pipeline without any never pays typecheck's ~1.8 ms of import time.
    consumers = [name for name, binding in graph.bindings.items()
                 if binding.inputs and getattr(graph.steps[name].func, "__annotations__", None)]
    errors, warnings, involved = _check_edges(graph, consumers) if consumers else ([], [], [])
    graph.warnings = warnings
    if errors:
        raise TypeMismatchError(errors, warnings, tuple(dict.fromkeys(involved)))
    return warnings


def _check_edges(graph: Graph, consumers: list[str]) -> tuple[list[str], list[str], list[str]]:
    """The error lines, warning lines and steps in error for the edges into ``consumers``."""
    from flowyml.dag.typecheck import check_compatible, input_types, output_types

    errors: list[str] = []
    warnings: list[str] = []
    involved: list[str] = []
    for consumer in consumers:
        expected = input_types(graph.steps[consumer].func)
        for param, output in graph.bindings[consumer].inputs.items():
            producer = graph.producers.get(output)
            if producer is None:
                continue
            prod_step = graph.steps[producer]
            produced = output_types(prod_step.func, max(len(prod_step.outputs), 1))
            verdict = check_compatible(produced[prod_step.outputs.index(output)], expected.get(param, Any), param=param)
            if verdict.level == "ok":
                continue
            line = f"{producer!r} -> {consumer!r} (output {output!r} into parameter {param!r}): {verdict.reason}"
            (errors if verdict.level == "error" else warnings).append(line)
            if verdict.level == "error":
                involved += [producer, consumer]
    return errors, warnings, involved
