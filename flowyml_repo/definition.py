"""A pipeline's definition as plain values: steps, edges, code hashes, context.

Versions record it, snapshots seal it, diffs compare two of them. It is made
from the built graph, so it names exactly what a run would execute.
"""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Any

from flowyml.manifest import plain

if TYPE_CHECKING:
    from flowyml.pipeline import Pipeline


def describe_pipeline(pipeline: Pipeline) -> dict[str, Any]:
    """The canonical definition of ``pipeline`` (built first if needed).

    Returns:
        ``{"name", "version", "context", "steps": {name: {...}}, "edges": [...]}``;
        each step holds its code fingerprint, inputs, outputs, parameters and
        cache options.
    """
    from flowyml.execution.fingerprint import code_fingerprint

    graph = pipeline.build()
    steps = {}
    for name, step in graph.steps.items():
        binding = graph.bindings[name]
        steps[name] = {
            "code": code_fingerprint(step.func),
            "function": f"{step.func.__module__}.{step.func.__qualname__}",
            "inputs": dict(binding.inputs),
            "outputs": list(step.outputs),
            "params": sorted(binding.params),
            "cache": step.cache,
            "cache_version": step.cache_version,
        }
    edges = sorted([graph.producers[out], name, out]
                   for name, b in graph.bindings.items() for out in b.inputs.values() if out in graph.producers)
    return {
        "name": pipeline.name,
        "version": pipeline.version,
        "project": pipeline.project_name,
        "context": {k: plain(v) for k, v in pipeline.context.items()},
        "order": list(graph.order),
        "steps": steps,
        "edges": edges,
    }


def canonical_json(value: Any) -> bytes:
    """Deterministic JSON bytes (sorted keys, no spaces) for hashing and storing."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def definition_hash(definition: dict[str, Any]) -> str:
    """SHA-256 hex of the canonical definition."""
    return hashlib.sha256(canonical_json(definition)).hexdigest()
