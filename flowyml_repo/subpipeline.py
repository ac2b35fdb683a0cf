"""Sub-pipelines: a whole pipeline used as one step of another.

::

    preprocess = Pipeline("preprocessing")
    preprocess.add_step(clean_data).add_step(normalize)

    parent = Pipeline("training")
    parent.add_sub_pipeline(
        preprocess,
        inputs=["raw_data"],                      # parent outputs it consumes
        outputs=["clean_data"],                   # parent outputs it produces
        input_mapping={"raw_data": "input"},      # parent name -> child name
        output_mapping={"output": "clean_data"},  # child name -> parent name
    )

In the parent's graph the sub-pipeline is one step (named after the child
pipeline) consuming ``inputs`` and producing ``outputs``. At run time its
steps run as the parent's own: each cached on its own (with the same keys as
when the child pipeline runs alone), recorded as ``preprocessing/clean_data``
and so on; see :mod:`flowyml.execution.dynamic`. A parent input may also come
from the parent's context. The parent run's context reaches the child's steps
and wins over the child pipeline's own context.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from typing import Any

from flowyml.errors import PipelineDefinitionError
from flowyml.execution.dynamic import Expansion, unique_names
from flowyml.execution.task import StepTask
from flowyml.step import Step

__all__ = ["SubPipelineStep", "sub_pipeline_step"]


class _SubPipelineCall:
    """The function-like face of a sub-pipeline step: one parameter per parent input.

    Its fingerprint (and so the step's recorded key) covers the child steps'
    functions and the mappings.
    """

    def __init__(self, step_state: dict[str, Any]) -> None:
        self._state = step_state
        self.__name__ = step_state["name"]
        self.__qualname__ = step_state["name"]
        # Not the user's module: auto_discover collects @step functions, not wiring made with them.
        self.__module__ = __name__
        self.__doc__ = f"the sub-pipeline {step_state['name']!r}"

    @property
    def __signature__(self) -> inspect.Signature:
        kind = inspect.Parameter.POSITIONAL_OR_KEYWORD
        return inspect.Signature([inspect.Parameter(p, kind) for p in self._state["params"]])

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise TypeError(f"sub-pipeline {self.__name__!r} runs inside its parent's run, not by a call")

    def __getstate__(self) -> dict[str, Any]:
        return self._state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state)  # type: ignore[misc]


class SubPipelineStep(Step):
    """A child pipeline as one step of a parent pipeline (see the module docstring).

    Attributes:
        pipeline: the child pipeline.
        input_mapping: parent output name -> the child name it feeds.
        output_mapping: child output name -> the parent output name it becomes.
    """

    composite = True
    wants_values = False

    def __init__(self, pipeline: Any, *, inputs: Sequence[str], outputs: Sequence[str],
                 input_mapping: Mapping[str, str], output_mapping: Mapping[str, str], name: str | None = None) -> None:
        name = name or pipeline.name
        params = _parameter_names(inputs)
        call = _SubPipelineCall({
            "name": name, "params": params,
            "steps": [(s.name, s.func, s.inputs, s.outputs, s.cache_version) for s in pipeline.steps],
            "input_mapping": dict(input_mapping), "output_mapping": dict(output_mapping),
        })
        super().__init__(call, name=name, inputs=list(inputs), outputs=list(outputs), cache=False)
        self.pipeline = pipeline
        self.input_mapping = dict(input_mapping)
        self.output_mapping = dict(output_mapping)
        self._param_of = dict(zip(inputs, params))

    def expand(self, kwargs: dict[str, Any], task: StepTask) -> Expansion:
        """The child pipeline, wired to the parent's outputs and context."""
        bound = {output: param for param, (output, _) in task.inputs.items()}
        imported, from_context = {}, {}
        for parent_name in self.inputs or ():
            child = self.input_mapping.get(parent_name, parent_name)
            if parent_name in bound:
                imported[child] = parent_name
            else:  # bound from the parent's context
                from_context[child] = task.params[self._param_of[parent_name]]
        by_parent = {p: c for c, p in self.output_mapping.items()}
        exported = {by_parent.get(o, o): o for o in self.outputs}
        return Expansion(label=self.pipeline.name, steps=list(self.pipeline.steps),
                         context=self.pipeline.context, imported=imported, exported=exported,
                         from_context=from_context)


def sub_pipeline_step(pipeline: Any, *, inputs: Sequence[str] | None = None, outputs: Sequence[str] | None = None,
                      input_mapping: Mapping[str, str] | None = None, output_mapping: Mapping[str, str] | None = None,
                      name: str | None = None) -> SubPipelineStep:
    """Check the wiring of ``pipeline`` as a step of another and make that step.

    Args:
        pipeline: the child pipeline.
        inputs: parent output (or context) names it consumes; default: the keys of
            ``input_mapping``.
        outputs: parent output names it produces; default: the values of ``output_mapping``.
        input_mapping: parent name -> child name (names not listed are the same in both).
        output_mapping: child output name -> parent name (likewise).
        name: the step's name (default: the child pipeline's name).

    Raises:
        PipelineDefinitionError: a mapping names something not in ``inputs``/``outputs``,
            no child step produces a mapped output, or the child pipeline cannot be
            built with the inputs it is given.
    """
    input_mapping = dict(input_mapping or {})
    output_mapping = dict(output_mapping or {})
    inputs = list(inputs) if inputs is not None else list(input_mapping)
    outputs = list(outputs) if outputs is not None else list(output_mapping.values())
    label = name or pipeline.name
    if isinstance(inputs, str) or isinstance(outputs, str):
        raise TypeError("inputs= and outputs= take lists of names, e.g. outputs=['clean_data']")
    stray = [p for p in input_mapping if p not in inputs]
    stray += [p for p in output_mapping.values() if p not in outputs]
    if stray:
        raise PipelineDefinitionError(
            f"sub-pipeline {label!r}: mapping names {stray} are not in its inputs {inputs} or outputs {outputs}",
            (label,))
    _check_child(pipeline, label, [input_mapping.get(p, p) for p in inputs],
                 {p: c for c, p in output_mapping.items()}, outputs)
    return SubPipelineStep(pipeline, inputs=inputs, outputs=outputs, input_mapping=input_mapping,
                           output_mapping=output_mapping, name=name)


def _check_child(pipeline: Any, label: str, child_inputs: list[str], child_of: dict[str, str],
                 outputs: list[str]) -> None:
    """Fail at definition time on what the child pipeline can never satisfy."""
    from flowyml.dag.graph import build_graph

    produced = {o for s in pipeline.steps for o in s.outputs}
    missing = [f"{child_of.get(o, o)!r} (for {o!r})" for o in outputs if child_of.get(o, o) not in produced]
    if missing:
        raise PipelineDefinitionError(
            f"sub-pipeline {label!r}: no step of pipeline {pipeline.name!r} produces {', '.join(missing)}",
            (label,))
    # Plain parameters may yet come from the run's context; declared inputs must be wired
    # (or be in the child's own context).
    declared = {i for s in pipeline.steps for i in s.inputs or ()}
    params = {p for s in pipeline.steps for p in s.parameters} - declared - produced - set(child_inputs)
    try:
        build_graph(unique_names(pipeline.steps), params | set(pipeline.context.keys()), external=child_inputs)
    except PipelineDefinitionError as exc:
        raise PipelineDefinitionError(f"sub-pipeline {label!r}: {exc}", (label, *exc.steps)) from exc


def _parameter_names(inputs: Sequence[str]) -> list[str]:
    """A parameter per input: its own name when it can be one (so the context can feed it)."""
    names = []
    for i, name in enumerate(inputs):
        ok = name.isidentifier() and not name.startswith("_") and name not in names
        names.append(name if ok else f"_input_{i}")
    return names
