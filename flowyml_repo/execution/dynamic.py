"""Steps that run a whole pipeline inside a run: ``@dynamic`` steps and sub-pipelines.

Such a *composite* step is one node of its parent's graph. When the runner
reaches it, the composite expands into an inner pipeline (``@dynamic``: by
calling its function, exactly once per run; a sub-pipeline: the pipeline given
to ``add_sub_pipeline``) whose steps then run like any other: each is keyed,
looked up in the cache, executed on the run's executor, journaled and recorded
in the run's manifest right after the composite, under a namespaced name::

    hyperparameter_search                      the composite itself
    hyperparameter_search/train[model_lr_0.1]  an inner step (same-named steps get
                                               their first output as a suffix)

An inner step's outputs are namespaced the same way
(``hyperparameter_search/model_lr_0.1``), except those that become the
composite's outputs: they keep the parent's name on the inner step that
produced them. A declared ``@dynamic`` output that no generated step produces
is computed by the step's ``select`` function from the generated outputs, and
recorded on the composite. Inner steps see the parent run's context (it wins
over the inner pipeline's own) and the composite's inputs.
"""

from __future__ import annotations

import copy
import dataclasses
import inspect
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future
from typing import Any

from flowyml.execution.task import StepOutcome, StepTask, deliver, load_input, store_output
from flowyml.manifest import CACHED, FAILED, StepRecord
from flowyml.step import Step

__all__ = ["DynamicStep", "Expansion", "Namespace", "dynamic", "run_composite", "start_composite", "unique_names"]


@dataclasses.dataclass
class Expansion:
    """The inner pipeline a composite step runs, and how it connects to the parent.

    Attributes:
        label: the inner pipeline's name (for messages).
        steps: its steps, in registration order.
        context: its own context (the parent run's context wins over it).
        imported: inner output name -> the parent output name feeding it.
        from_context: inner name -> a value the composite received from the
            parent's context, given to the inner steps as a context value.
        exported: inner output name -> the parent output name it becomes.
        select: computes declared outputs no inner step produces (``@dynamic``).
        ran_code: True when expanding executed user code (a ``@dynamic``
            function), so the composite is never reported as cached.
    """

    label: str
    steps: list
    context: Mapping[str, Any]
    imported: dict[str, str]
    exported: dict[str, str]
    from_context: dict[str, Any] = dataclasses.field(default_factory=dict)
    select: Callable[..., Any] | None = None
    ran_code: bool = False


class _Generator:
    """A ``@dynamic`` function as its step shows it: same parameters, no return type.

    The return annotation (a ``Pipeline``) is not the type of the step's
    outputs, so build-time type checks must not see it. Fingerprints and
    pickles see the function itself.
    """

    def __init__(self, fn: Callable[..., Any]) -> None:
        self._generate = fn
        self.__name__ = getattr(fn, "__name__", "dynamic")
        self.__qualname__ = getattr(fn, "__qualname__", self.__name__)
        self.__module__ = getattr(fn, "__module__", None)
        self.__doc__ = getattr(fn, "__doc__", None)

    @property
    def __signature__(self) -> inspect.Signature:
        return inspect.signature(self._generate).replace(return_annotation=inspect.Signature.empty)

    @property
    def __annotations__(self) -> dict[str, Any]:  # type: ignore[override]
        raw = getattr(self._generate, "__annotations__", None) or {}
        return {k: v for k, v in raw.items() if k != "return"}

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._generate(*args, **kwargs)

    def __getstate__(self) -> dict[str, Any]:
        return {"fn": self._generate}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["fn"])  # type: ignore[misc]


class DynamicStep(Step):
    """A step whose function returns a ``Pipeline``, built and run at run time.

    Attributes:
        select: ``select(outputs) -> value`` (a tuple for several) computing the
            declared outputs that no generated step produces, from a mapping of
            every generated output by name (values load on first access). May be
            assigned after decoration.
    """

    composite = True
    wants_values = True

    def __init__(self, fn: Callable[..., Any], *, outputs: Sequence[str], select: Callable[..., Any] | None = None,
                 name: str | None = None, inputs: Sequence[str] | None = None) -> None:
        # Never cached whole: the function runs once per run, its generated steps hit their own caches.
        super().__init__(_Generator(fn), name=name or fn.__name__, inputs=inputs, outputs=outputs, cache=False)
        self.select = select

    def expand(self, kwargs: dict[str, Any], task: StepTask) -> Expansion:
        """Call the function once and describe the pipeline it returned."""
        generated = self.func(**kwargs)
        steps = getattr(generated, "steps", None)
        if steps is None:
            raise TypeError(f"@dynamic step {self.name!r} must return a Pipeline; it returned "
                            f"{type(generated).__name__}")
        produced = {out for s in steps for out in s.outputs}
        return Expansion(
            label=getattr(generated, "name", self.name), steps=list(steps),
            context=getattr(generated, "context", {}) or {},
            imported={out: out for out, _ in task.inputs.values()},
            exported={out: out for out in self.outputs if out in produced},
            select=self.select, ran_code=True)


def dynamic(outputs: Sequence[str], *, select: Callable[..., Any] | None = None, name: str | None = None,
            inputs: Sequence[str] | None = None) -> Callable[[Callable[..., Any]], DynamicStep]:
    """Declare a step that generates a pipeline at run time.

    The function receives its arguments like any step (context values,
    upstream outputs) and returns a ``Pipeline``. It runs once per run; the
    generated steps are then executed, cached and recorded like the parent's
    own, as ``<step>/<generated step>``. Generated steps may consume the dynamic
    step's inputs by name.

    Args:
        outputs: the outputs of the step: each is the generated output of that
            name, else computed by ``select``.
        select: ``select(outputs) -> value`` (a tuple when several are
            missing) given every generated output by name; e.g. pick the best
            of several trained models.
        name: the step's name (default: the function's).
        inputs: upstream outputs the function consumes (as for ``@step``).

    Returns:
        A decorator producing a :class:`DynamicStep`.
    """
    if isinstance(outputs, str):
        raise TypeError("dynamic(outputs=...) takes a list of names, e.g. outputs=['best_model']")

    def decorate(fn: Callable[..., Any]) -> DynamicStep:
        return DynamicStep(fn, outputs=outputs, select=select, name=name, inputs=inputs)

    return decorate


# -- running a composite inside a run ---------------------------------------------------------


def start_composite(runner: Any, name: str, task: StepTask) -> Future[StepOutcome]:
    """Run composite step ``name`` of ``runner``'s graph; the future resolves to its outcome.

    With a sequential executor it runs inline. Otherwise it runs in a thread of
    its own (not a worker: its inner steps need the workers), so its inner
    steps overlap with the parent's other steps.
    """
    fut: Future[StepOutcome] = Future()
    if runner.executor.max_workers <= 1:
        fut.set_result(run_composite(runner, name, task))
        return fut

    def target() -> None:
        try:
            fut.set_result(run_composite(runner, name, task))
        except BaseException as exc:  # noqa: BLE001 - the runner waits on this future: always resolve it
            fut.set_result(StepOutcome(error="".join(traceback.format_exception(exc)),
                                       error_type=f"{type(exc).__module__}.{type(exc).__qualname__}"))

    threading.Thread(target=target, name=f"flowyml-{name}", daemon=True).start()
    return fut


def run_composite(parent: Any, name: str, task: StepTask) -> StepOutcome:
    """Expand a composite step of ``parent`` (a Runner) and run its inner pipeline.

    Never raises for a step's error: a failing inner step fails the composite,
    with the inner records kept.
    """
    out = StepOutcome(started=time.time())
    t0 = time.perf_counter()
    inner = None
    try:
        step = task.step
        kwargs = _arguments(parent, task) if getattr(step, "wants_values", False) else {}
        expansion = step.expand(kwargs, task)
        inner = _inner_runner(parent, name, task, expansion)
        inner.walk()
        out.children = _exported_records(inner)
        if inner.failed:
            failed = next(r for r in out.children if r.status == FAILED)
            out.error = f"inner step {failed.name!r} of {name!r} failed:\n{failed.error or ''}"
            out.error_type, out.exception = failed.error_type, inner.exception
        else:
            _collect_outputs(out, inner, step, expansion)
            out.cached = not expansion.ran_code and all(r.status == CACHED for r in out.children)
    except Exception as exc:
        out.error = "".join(traceback.format_exception(exc))
        out.error_type = f"{type(exc).__module__}.{type(exc).__qualname__}"
        out.exception = exc
        if inner is not None and not out.children:
            out.children = _exported_records(inner)
    out.duration = time.perf_counter() - t0
    return out


def _arguments(parent: Any, task: StepTask) -> dict[str, Any]:
    kwargs = dict(task.params)
    for param, (output, rec) in task.inputs.items():
        value = parent.values[output] if output in parent.values else load_input(parent.store, output, rec)
        kwargs[param] = deliver(value, output, param in task.wants_asset)
    return kwargs


def _inner_runner(parent: Any, name: str, task: StepTask, expansion: Expansion) -> Any:
    """A Runner for the inner pipeline, sharing the parent's store, journal and workers."""
    from flowyml.context import Context
    from flowyml.dag.graph import build_graph
    from flowyml.execution.runner import Runner

    steps = unique_names(expansion.steps)
    context = Context(dict(expansion.context)).updated(dict(parent.plan.context)).updated(expansion.from_context)
    graph = build_graph(steps, context.keys(), external=expansion.imported.keys())
    namespace = Namespace(parent.prefix + name + "/", parent.namespace, expansion.imported, expansion.exported,
                          parent.plan.reuse if parent.namespace is None else parent.namespace.top_reuse)
    plan = dataclasses.replace(parent.plan, graph=graph, context=context, executor=parent.executor,
                               reuse=namespace.localized(namespace.top_reuse, graph),
                               force=set(graph.steps) if name in parent.plan.force else set())
    inner = Runner(plan, parent=parent, namespace=namespace)
    refs = {o: rec for o, rec in task.inputs.values()}
    for child, source in expansion.imported.items():
        inner.out_refs[child] = refs[source]
        if source in parent.values:
            inner.values[child] = parent.values[source]
    return inner


def _exported_records(inner: Any) -> list[StepRecord]:
    """Every inner record as the run's manifest names it, in execution order."""
    records = []
    for n in inner.graph.order:
        if n in inner.records:
            records.append(inner.manifest_record(inner.records[n]))
            records.extend(inner.children.get(n, ()))
    return records


def _collect_outputs(out: StepOutcome, inner: Any, step: Any, expansion: Expansion) -> None:
    """The composite's declared outputs: exported inner outputs, then ``select`` for the rest."""
    by_parent = {p: c for c, p in expansion.exported.items()}
    missing = [o for o in step.outputs if o not in by_parent]
    for o in step.outputs:
        if o in by_parent:
            out.outputs[o] = inner.out_refs[by_parent[o]]
            if by_parent[o] in inner.values:
                out.values[o] = inner.values[by_parent[o]]
    out.exported = frozenset(out.outputs)
    if not missing:
        return
    if expansion.select is None:
        produced = ", ".join(sorted(inner.graph.producers)) or "nothing"
        raise ValueError(
            f"step {step.name!r} declares output(s) {missing}, but the pipeline it generated "
            f"({expansion.label!r}) produces {produced}; add a step producing them to that pipeline, "
            f"or give a select function: dynamic(outputs=[...], select=pick) or {step.name}.select = pick")
    chosen = expansion.select(_Outputs(inner))
    values = [chosen] if len(missing) == 1 else list(chosen)
    if len(values) != len(missing):
        raise ValueError(f"select of step {step.name!r} must return {len(missing)} values for {missing}")
    for o, value in zip(missing, values):
        out.outputs[o] = store_output(inner.store, value)
        out.values[o] = value


class _Outputs(Mapping[str, Any]):
    """Every output of an inner pipeline by its inner name; values load on first access."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def __getitem__(self, name: str) -> Any:
        inner = self._inner
        if name in inner.values:
            return inner.values[name]
        return load_input(inner.store, name, inner.out_refs[name])

    def __iter__(self) -> Iterator[str]:
        return iter(self._inner.out_refs)

    def __len__(self) -> int:
        return len(self._inner.out_refs)


@dataclasses.dataclass
class Namespace:
    """How an inner pipeline's local names appear in the run's manifest.

    Step and output names stay local inside the inner runner (so cache keys equal
    those of the same steps run on their own); the manifest gets ``prefix`` +
    name, except for outputs connected to the parent, which take the parent's name.

    Attributes:
        prefix: ``"<composite>/"``, nested composites included (``"a/b/"``).
        parent: the enclosing namespace, None directly under the run.
        imported: inner output name -> the parent's name feeding it.
        exported: inner output name -> the parent's name it becomes.
        top_reuse: the run's recorded steps to reuse (a rerun), by manifest name.
    """

    prefix: str
    parent: Namespace | None
    imported: dict[str, str]
    exported: dict[str, str]
    top_reuse: Mapping[str, StepRecord]

    def output(self, name: str) -> str:
        """The manifest name of inner output ``name``."""
        outer = self.exported.get(name, self.imported.get(name))
        if outer is None:
            return self.prefix + name
        return outer if self.parent is None else self.parent.output(outer)

    def record(self, rec: StepRecord) -> StepRecord:
        """An inner step's record with manifest names."""
        return dataclasses.replace(
            rec, name=self.prefix + rec.name,
            outputs={self.output(o): r for o, r in rec.outputs.items()},
            inputs={p: self.output(o) for p, o in rec.inputs.items()},
            upstream=[self.prefix + u for u in rec.upstream])

    def localized(self, reuse: Mapping[str, StepRecord], graph: Any) -> dict[str, StepRecord]:
        """A rerun's recorded inner steps of ``graph``, under local names."""
        local_of = {self.output(o): o for o in graph.producers}
        found = {}
        for n in graph.steps:
            rec = reuse.get(self.prefix + n)
            if rec is not None:
                outputs = {local_of.get(g, g): r for g, r in rec.outputs.items()}
                found[n] = dataclasses.replace(rec, name=n, outputs=outputs)
        return found


def unique_names(steps: Sequence[Any]) -> list[Any]:
    """The steps, with same-named ones renamed ``name[first output]`` (or ``name#k``)."""
    counts = Counter(s.name for s in steps)
    seen: Counter[str] = Counter()
    renamed = []
    for s in steps:
        if counts[s.name] > 1:
            seen[s.name] += 1
            label = s.outputs[0] if s.outputs else f"#{seen[s.name]}"
            s = copy.copy(s)
            s.name = f"{s.name}[{label}]" if s.outputs else f"{s.name}{label}"
        renamed.append(s)
    return renamed
