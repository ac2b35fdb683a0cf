"""``Pipeline``: a named set of steps with a context, built into a graph and run."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flowyml.context import Context
from flowyml.errors import PipelineDefinitionError
from flowyml.step import Step

if TYPE_CHECKING:
    from flowyml.dag.graph import Graph
    from flowyml.result import PipelineResult
    from flowyml.stack import Stack



class Pipeline:
    """A named, ordered set of steps with a context.

    Args:
        name: the pipeline's name (its history lives under this name).
        context: parameters injected into steps by argument name.
        executor: what runs the steps (default: sequential, in this process).
        enable_cache: reuse outputs of step executions whose cache key is unchanged.
        cache_dir: the object store root (default ``.flowyml``).
        stack: where objects and history live and what executes (overrides ``cache_dir``).
        project_name: namespace for runs, models and datasets.
        version: a version string; makes this a :class:`VersionedPipeline`.
        enable_checkpointing: journal each finished step so ``rerun`` can resume.
        enable_experiment_tracking: record metrics and parameters for comparison.
        auto_discover: at build time, add the ``@step`` functions defined in the
            module that created this pipeline.
    """

    def __new__(cls, *args: Any, **kwargs: Any) -> Pipeline:
        if cls is Pipeline and kwargs.get("version") is not None:
            from flowyml.versioning import VersionedPipeline

            cls = VersionedPipeline
        return super().__new__(cls)

    def __init__(self, name: str, context: Context | Mapping[str, Any] | None = None, *,
                 executor: Any = None, enable_cache: bool = True, cache_dir: str | os.PathLike[str] | None = None,
                 stack: Stack | str | None = None, project_name: str | None = None, version: str | None = None,
                 enable_checkpointing: bool = True, enable_experiment_tracking: bool = True,
                 auto_discover: bool = False) -> None:
        if not isinstance(name, str) or not name:
            raise PipelineDefinitionError("a pipeline needs a non-empty name: Pipeline('training')")
        self.name = name
        self.context = context if isinstance(context, Context) else Context(context or {})
        self.executor = executor
        self.enable_cache = enable_cache
        self.cache_dir = cache_dir
        self.stack = stack
        self.project_name = project_name
        self.version = version
        self.enable_checkpointing = enable_checkpointing
        self.enable_experiment_tracking = enable_experiment_tracking
        self.auto_discover = auto_discover
        self.steps: list[Step] = []
        self.dag: Graph | None = None
        self.module = _caller_module()

    # -- definition -----------------------------------------------------------------------

    def add_step(self, step: Step) -> Pipeline:
        """Add a step; returns the pipeline so calls can be chained."""
        if not isinstance(step, Step) and hasattr(step, "as_step"):
            step = step.as_step()  # a @map_task given as it is
        if not isinstance(step, Step):
            name = getattr(step, "__name__", repr(step))
            raise TypeError(f"{name} is not a step: decorate it with @step before adding it")
        self.steps.append(step)
        self.dag = None
        return self

    def add_sub_pipeline(self, pipeline: Pipeline, *, inputs: list[str] | None = None,
                         outputs: list[str] | None = None, input_mapping: Mapping[str, str] | None = None,
                         output_mapping: Mapping[str, str] | None = None, name: str | None = None) -> Pipeline:
        """Add a whole pipeline as one step; its steps run, cache and record as this run's own.

        Args:
            pipeline: the child pipeline.
            inputs: names of this pipeline's outputs (or context values) it consumes.
            outputs: names of the outputs it produces here.
            input_mapping: parent name -> child name, for inputs named differently in the child.
            output_mapping: child output name -> parent name.
            name: the step's name (default: the child pipeline's name); its steps
                are recorded as ``<name>/<step>``.

        Raises:
            PipelineDefinitionError: the mappings or the child pipeline do not fit.
        """
        from flowyml.subpipeline import sub_pipeline_step

        return self.add_step(sub_pipeline_step(pipeline, inputs=inputs, outputs=outputs, input_mapping=input_mapping,
                                               output_mapping=output_mapping, name=name))

    @classmethod
    def from_steps(cls, *steps: Step, name: str, **options: Any) -> Pipeline:
        """A pipeline of ``steps`` in the given order; options as for ``Pipeline``."""
        pipeline = cls(name, **options)
        pipeline.module = _caller_module()
        for s in steps:
            pipeline.add_step(s)
        return pipeline

    def build(self, context: Context | None = None) -> Graph:
        """Bind, check and order the steps; ``pipeline.dag`` holds the result.

        Raises:
            PipelineDefinitionError: a cycle, a missing input, a duplicate output.
            TypeMismatchError: connected steps whose types cannot match.
        """
        from flowyml.dag.graph import build_graph
        from flowyml.dag.validate import validate_types

        steps = list(self.steps)
        if self.auto_discover:
            from flowyml.step import defined_steps

            added = {s.name for s in steps}
            steps += [s for s in defined_steps(self.module) if s.name not in added]
        keys = frozenset((context or self.context).keys())
        memo = (tuple(map(id, steps)), tuple(s.name for s in steps), keys)
        if self.dag is not None and getattr(self, "_built_for", None) == memo:
            return self.dag  # same steps, same context names: the checked graph still holds
        graph = build_graph(steps, keys)
        warnings = validate_types(graph)
        if warnings:
            import logging  # only now: logging costs ~4 ms of import time

            for warning in warnings:
                logging.getLogger("flowyml").warning("pipeline %s: %s", self.name, warning)
        self.dag = graph
        self._built_for = memo
        return graph

    # -- execution ------------------------------------------------------------------------

    def run(self, context: Mapping[str, Any] | None = None, *, stack: Stack | str | None = None,
            debug: bool = False, executor: Any = None, enable_cache: bool | None = None,
            on_event: Any = None) -> PipelineResult:
        """Run the pipeline once.

        Args:
            context: parameter overrides for this run only.
            stack: a stack for this run only.
            debug: log every step's cache decision and timing to stderr.
            executor: an executor for this run only.
            enable_cache: override the pipeline's ``enable_cache`` for this run.
            on_event: ``callable(step_name, status)`` told of every step's progress.

        Returns:
            The :class:`PipelineResult`; a failed step makes ``success`` False
            (its traceback is in ``step_results``) rather than raising.
        """
        return self._execute(context=context, stack=stack, debug=debug, executor=executor,
                             enable_cache=enable_cache, on_event=on_event)

    def rerun(self, run_id: str, from_step: str | None = None, *, context: Mapping[str, Any] | None = None,
              stack: Stack | str | None = None, debug: bool = False, executor: Any = None,
              on_event: Any = None) -> PipelineResult:
        """Run again, reusing what an earlier run recorded.

        Without ``from_step`` this resumes ``run_id``: every step it finished
        (even one killed half-way through the run) is reused, the rest execute.
        With ``from_step`` that step and everything downstream of it execute
        again, whatever the cache says; the rest is reused. The new run records
        ``run_id`` as its parent.

        Args:
            run_id: the earlier run (any unambiguous prefix).
            from_step: the first step to execute again.
            context: parameter overrides for this run.

        Raises:
            RunNotFound: no run (recorded or journaled) with that id.
            PipelineDefinitionError: ``from_step`` is not a step of this pipeline,
                or checkpointing is off.
        """
        from flowyml.checkpoints import recorded_steps
        from flowyml.manifest import CACHED, SUCCESS

        if not self.enable_checkpointing:
            raise PipelineDefinitionError(
                f"rerun() needs checkpointing: create Pipeline({self.name!r}, enable_checkpointing=True)")
        stack_obj = self.resolve_stack(stack)
        full_id, records = recorded_steps(run_id, stack_obj, self.store_root(stack_obj), self.project_name)
        graph = self.build(self.context.updated(context))
        force: set[str] = set()
        if from_step is not None:
            if from_step not in graph.steps:
                raise PipelineDefinitionError(
                    f"rerun(from_step={from_step!r}): no such step in pipeline {self.name!r}; "
                    f"steps are {', '.join(graph.order)}", (from_step,))
            force = graph.downstream_of([from_step])
        reuse = {name: rec for name, rec in records.items() if rec.status in (SUCCESS, CACHED)}
        return self._execute(context=context, stack=stack, debug=debug, executor=executor, enable_cache=None,
                             on_event=on_event, reuse=reuse, force=force, parent_run=full_id, from_step=from_step)

    def _execute(self, *, context: Mapping[str, Any] | None, stack: Stack | str | None, debug: bool,
                 executor: Any, enable_cache: bool | None, on_event: Any, reuse: dict | None = None,
                 force: set[str] | None = None, parent_run: str | None = None,
                 from_step: str | None = None) -> PipelineResult:
        from flowyml.execution.executors import make_executor
        from flowyml.execution.runner import RunPlan, Runner
        from flowyml.manifest import RunManifest, plain
        from flowyml.result import PipelineResult

        ctx = self.context.updated(context)
        graph = self.build(ctx)
        stack_obj = self.resolve_stack(stack)
        root = self.store_root(stack_obj)
        run_id = os.urandom(6).hex()  # `secrets` would add ~4.5 ms to import time for the same bytes
        manifest = RunManifest(run_id=run_id, pipeline=self.name, project=self.project_name, version=self.version,
                               started=time.time(), context={k: plain(v) for k, v in ctx.items()},
                               parent_run=parent_run, from_step=from_step, environment=environment())
        # An executor named by a string ("threads") lives for this run only.
        chosen, owned = make_executor(executor or self.executor or getattr(stack_obj, "executor", None))
        plan = RunPlan(graph=graph, context=ctx, store_root=str(root), run_id=run_id, pipeline=self.name,
                       enable_cache=self.enable_cache if enable_cache is None else enable_cache,
                       checkpoint=self.enable_checkpointing, executor=chosen,
                       reuse=reuse or {}, force=force or set(), reuse_run=parent_run,
                       debug=debug, on_event=on_event)
        from flowyml.records import WorktreeProbe

        worktree = WorktreeProbe(stack_obj)  # reads the user's work tree while the steps run
        try:
            with _debug_logging(debug):
                runner = Runner(plan)
                manifest = runner.run(manifest)
                self._record(manifest, stack_obj, root, worktree, runner.flushing)
        finally:
            if owned:
                chosen.close()
        return PipelineResult(manifest, runner.values, runner.store)

    def _record(self, manifest: Any, stack: Stack | None, root: Path, worktree: Any = None,
                flushing: Any = None) -> None:
        """Commit the manifest to the run history (see flowyml.records)."""
        from flowyml.records import record_run

        record_run(self, manifest, stack, root, worktree, flushing)

    # -- locations ------------------------------------------------------------------------

    def resolve_stack(self, stack: Stack | str | None = None) -> Stack | None:
        """The stack for a run: the one given, the pipeline's, ``$FLOWYML_STACK``, the config's default."""
        chosen = stack if stack is not None else self.stack
        if chosen is None:
            from flowyml.stacks import default_stack

            return default_stack()
        if isinstance(chosen, str):
            from flowyml.stacks import named_stack

            return named_stack(chosen)
        return chosen

    def store_root(self, stack: Stack | None = None) -> Path:
        """The object store root: the stack's ``artifact_path``, else ``cache_dir``, else ``.flowyml``."""
        if stack is not None and getattr(stack, "artifact_path", None):
            return Path(stack.artifact_path).absolute()
        return Path(self.cache_dir or ".flowyml").absolute()

    def __repr__(self) -> str:
        return f"<Pipeline {self.name} steps={[s.name for s in self.steps]}>"


def environment() -> dict:
    """Python and the versions of the libraries a run has loaded (cheap: no metadata scan)."""
    from flowyml import __version__

    packages = {}
    for mod in ("numpy", "pandas", "pyarrow", "polars", "sklearn", "torch", "dask"):
        m = sys.modules.get(mod)
        if m is not None:
            packages[mod] = str(getattr(m, "__version__", "?"))
    return {"python": sys.version.split()[0], "flowyml": __version__, "platform": sys.platform,
            "packages": packages}


def _caller_module() -> str:
    frame = sys._getframe(1)
    while frame is not None and frame.f_globals.get("__name__", "").startswith("flowyml"):
        frame = frame.f_back  # type: ignore[assignment]
    return frame.f_globals.get("__name__", "__main__") if frame is not None else "__main__"


class _debug_logging:
    """Send the flowyml logger's DEBUG records to stderr for one run."""

    def __init__(self, on: bool) -> None:
        self.on = on

    def __enter__(self) -> None:
        if self.on:
            import logging  # only in debug mode: logging costs ~4 ms of import time

            self.log = logging.getLogger("flowyml")
            self.handler = logging.StreamHandler()
            self.handler.setFormatter(logging.Formatter("flowyml: %(message)s"))
            self.level = self.log.level
            self.log.addHandler(self.handler)
            self.log.setLevel(logging.DEBUG)

    def __exit__(self, *exc: object) -> None:
        if self.on:
            self.log.removeHandler(self.handler)
            self.log.setLevel(self.level)
