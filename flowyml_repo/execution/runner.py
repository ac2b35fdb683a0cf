"""The runner: walks a built graph, consults the cache, executes, checkpoints.

For each step, in order: skip it if its ``@when`` is false or an input was
skipped; reuse recorded outputs on a rerun; build its cache key from its code
fingerprint, input oids and context values; reuse a cache entry whose files are
unchanged and whose objects exist; otherwise hand a task to the executor. Each
finished step is appended to the run's journal before anything depending on it
starts. A failing step stops the run (fail fast); what finished stays cached.
The runner never touches git: it returns a :class:`RunManifest`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from flowyml.dag.graph import ReadyQueue
from flowyml.errors import ConditionError
from flowyml.execution.executors import Executor, SequentialExecutor
from flowyml.execution.fingerprint import code_fingerprint
from flowyml.execution.keys import cache_key
from flowyml.manifest import (CACHED, FAILED, NOT_RUN, SKIPPED, SUCCESS, OutputRecord, RunManifest,
                              StepRecord)
from flowyml.store.cache import shared_index
from flowyml.store.journal import Journal
from flowyml.store.objects import ObjectStore, PendingFlush

# The task machinery is imported when a step first executes: an all-cached run
# never needs it, nor the ``concurrent.futures`` (~3 ms with ``logging``) that
# only a pool executor's pending futures need (see ``_finished``).
if TYPE_CHECKING:
    from flowyml.dag.graph import Graph
    from flowyml.execution.task import StepOutcome, StepTask


@dataclass
class RunPlan:
    """What to run and how.

    Attributes:
        reuse: step name -> a recorded StepRecord whose outputs this run reuses
            (a rerun's checkpoint), unless the step is in ``force``.
        force: steps executed whatever the cache says (``from_step`` and its descendants).
    """

    graph: Graph
    context: Mapping[str, Any]
    store_root: str
    run_id: str
    pipeline: str
    enable_cache: bool = True
    checkpoint: bool = True
    executor: Executor | None = None
    reuse: dict[str, StepRecord] = field(default_factory=dict)
    force: set[str] = field(default_factory=set)
    reuse_run: str | None = None
    debug: bool = False
    on_event: Any = None  # callable(step_name, status) for progress displays


class Runner:
    """Executes one :class:`RunPlan`; create one per run."""

    def __init__(self, plan: RunPlan, parent: Runner | None = None, namespace: Any = None) -> None:
        self.plan = plan
        self.graph = plan.graph
        if parent is None:
            self.store = ObjectStore(plan.store_root)
            self.cache = shared_index(plan.store_root)  # read once per process, then kept up to date
            self.journal = Journal(plan.store_root, plan.run_id) if plan.checkpoint else None
            self.executor = plan.executor or SequentialExecutor()
        else:  # an inner pipeline (sub-pipeline, dynamic step) shares the run's store, journal, workers
            self.store, self.cache, self.journal = parent.store, parent.cache, parent.journal
            self.executor = parent.executor
        # An inner pipeline's names in the run (execution.dynamic.Namespace); None at the top.
        self.namespace = namespace
        self.prefix = namespace.prefix if namespace is not None else ""
        self.children: dict[str, list[StepRecord]] = {}  # composite step -> its inner steps' records
        self.exception: BaseException | None = None
        self.records: dict[str, StepRecord] = {}
        self.out_refs: dict[str, OutputRecord] = {}
        self.values: dict[str, Any] = {}
        self.skipped_outputs: set[str] = set()
        self.failed = False
        self.flushing: PendingFlush | None = None  # see run()

    def run(self, manifest: RunManifest) -> RunManifest:
        """Execute the plan, filling ``manifest``; returns it with every step recorded.

        The store's flush is left running in the background (``self.flushing``) so the
        caller can prepare the run's record meanwhile; it must wait on it before the
        record names any object. A walk that raises flushes before it propagates.
        """
        t0 = time.perf_counter()
        if self.journal is not None:
            # pid and host let a viewer tell a killed run from a slow one; upstream lists the plan
            self.journal.append({"type": "start", "run_id": manifest.run_id, "pipeline": manifest.pipeline,
                                 "project": manifest.project, "started": manifest.started,
                                 "context": manifest.context, "pid": os.getpid(), "host": os.uname().nodename,
                                 "upstream": {n: list(u) for n, u in self.graph.upstream.items()}})
        try:
            self.walk()
        except BaseException:
            self.store.flush()  # what the journal names is on disk before an interrupted run stops
            raise
        finally:
            self.cache.close()  # the shared index keeps no descriptor open between runs
            if self.journal is not None:
                self.journal.close()
        self.flushing = self.store.start_flush()
        manifest.steps = self.manifest_steps()
        manifest.status = FAILED if self.failed else SUCCESS
        manifest.duration = time.perf_counter() - t0
        return manifest

    def walk(self) -> None:
        """Run the graph's steps as they become ready, fail-fast; record the unreached as not run.

        Among ready steps the earliest registered starts first (see ``ReadyQueue``).
        """
        graph = self.graph
        ready = ReadyQueue(graph.steps, graph.upstream, graph.downstream)
        rank = {name: i for i, name in enumerate(graph.steps)}
        inflight: dict[Any, tuple[str, StepTask, str, dict]] = {}  # future -> what it runs
        try:
            while ready or inflight:
                while ready and not self.failed and len(inflight) < self.executor.max_workers:
                    name = ready.pop()
                    if not self._start(name, inflight):
                        ready.done(name)
                if not inflight:
                    break  # failed, or nothing left to run
                for fut in sorted(_finished(inflight), key=lambda f: rank[inflight[f][0]]):
                    name, task, key, parts = inflight.pop(fut)
                    self._finish(name, task, key, parts, fut.result())
                    ready.done(name)
        finally:
            for name in graph.order:
                if name not in self.records:
                    self._record(StepRecord(name=name, status=NOT_RUN, upstream=list(graph.upstream[name])))

    def manifest_steps(self) -> dict[str, StepRecord]:
        """Every record in execution order, a composite step's inner steps right after it."""
        steps = {}
        for name in self.graph.order:
            steps[name] = self.records[name]
            for child in self.children.get(name, ()):
                steps[child.name] = child
        return steps

    # -- one step -------------------------------------------------------------------------

    def _start(self, name: str, inflight: dict) -> bool:
        """Decide what to do with a ready step; True when a task was submitted."""
        step = self.graph.steps[name]
        binding = self.graph.bindings[name]
        base = StepRecord(name=name, status=SKIPPED, inputs=dict(binding.inputs),
                          upstream=list(self.graph.upstream[name]), started=time.time())
        if self.skipped_outputs and not self.skipped_outputs.isdisjoint(binding.inputs.values()):
            return self._skip(base, "an input was skipped")
        params = {p: self.plan.context[p] for p in binding.params}
        composite = getattr(step, "composite", False)  # its inner steps are reused one by one
        recorded = None if composite else self.plan.reuse.get(name)
        if recorded is not None and name not in self.plan.force and recorded.status in (SUCCESS, CACHED):
            if all(self.store.has(r.oid) for r in recorded.outputs.values()):
                base.key, base.key_parts = recorded.key, recorded.key_parts
                return self._reuse(base, recorded.outputs, recorded.source_run or self.plan.reuse_run)
        oids = {p: self.out_refs[o].oid for p, o in binding.inputs.items()}
        key, parts = cache_key(code_fingerprint(step.func), oids, params, step.outputs, step.cache_version)
        base.key, base.key_parts = key, parts
        if step.controls.condition is not None and not self._condition(step, params):
            return self._skip(base, "its @when condition was false")
        use_cache = self.plan.enable_cache and step.cache and name not in self.plan.force
        if use_cache:
            hit = self._lookup(key)
            if hit is not None:
                return self._reuse(base, hit[0], hit[1], files=hit[2])
        from flowyml.execution.task import StepTask

        inputs = {p: (o, self.out_refs[o]) for p, o in binding.inputs.items()}
        task = StepTask(step, inputs, params, binding.wants_asset, self.plan.store_root,
                        record_files=use_cache or (self.plan.enable_cache and step.cache), use_cache=use_cache)
        if self.plan.on_event:
            self.plan.on_event(self.prefix + name, "running")
        if composite:
            from flowyml.execution.dynamic import start_composite

            fut = start_composite(self, name, task)
        else:
            loaded = self.values if self.executor.in_process else None
            fut = self.executor.submit(task, self.store, loaded)
        inflight[fut] = (name, task, key, parts)
        return True

    def _condition(self, step: Any, params: dict) -> bool:
        from flowyml.control import select_arguments
        from flowyml.execution.task import deliver, load_input

        binding = self.graph.bindings[step.name]
        available = dict(params)
        for param, output in binding.inputs.items():
            value = self.values.get(output)
            if value is None and output not in self.values:
                value = load_input(self.store, output, self.out_refs[output])
            available[param] = deliver(value, output, param in binding.wants_asset)
        try:
            return bool(step.controls.condition(**select_arguments(step.controls.condition, available)))
        except Exception as exc:
            raise ConditionError(f"the @when condition of step {step.name!r} raised {exc!r}") from exc

    def _lookup(self, key: str) -> tuple[dict[str, OutputRecord], str | None, dict] | None:
        entry = self.cache.get(key)
        if entry is None:
            return None
        outputs = {o["name"]: OutputRecord(o["oid"], o["codec"], o["size"], o.get("asset"))
                   for o in entry.get("outputs", ())}
        if not all(self.store.has(r.oid) for r in outputs.values()):
            return None
        files = entry.get("files") or {}
        if files:
            from flowyml.execution.filedeps import changed_files

            if changed_files(files):
                return None
        return outputs, entry.get("run_id"), files

    def _skip(self, rec: StepRecord, why: str) -> bool:
        rec.status = SKIPPED
        rec.error = f"skipped: {why}"
        self.skipped_outputs.update(self.graph.steps[rec.name].outputs)
        self._record(rec)
        return False

    def _reuse(self, rec: StepRecord, outputs: dict[str, OutputRecord], source: str | None,
               files: dict | None = None) -> bool:
        rec.status = CACHED
        rec.outputs = outputs
        rec.source_run = source
        rec.files = files or {}
        self.out_refs.update(outputs)
        self._record(rec)
        return False

    def _finish(self, name: str, task: StepTask, key: str, parts: dict, out: StepOutcome) -> None:
        step = task.step
        rec = StepRecord(name=name, status=SUCCESS, key=key, key_parts=parts, inputs=dict(self.graph.bindings[name].inputs),
                         upstream=list(self.graph.upstream[name]), started=out.started, duration=out.duration,
                         attempts=out.attempts, fallback_used=out.fallback_used, files=out.files,
                         outputs=out.outputs, source_run=self.plan.run_id, stdout=out.stdout, stderr=out.stderr)
        if out.children:
            self.children[name] = out.children
        if out.error is not None:
            rec.status, rec.error, rec.error_type = FAILED, out.error, out.error_type
            self.failed = True
            self.exception = out.exception
        else:
            self.out_refs.update(out.outputs)
            self.values.update(out.values)
            if out.exported:  # recorded on the inner step that produced them
                rec.outputs = {n: r for n, r in out.outputs.items() if n not in out.exported}
            if out.cached:
                rec.status = CACHED
            if self.plan.enable_cache and step.cache and not out.fallback_used and out.cacheable:
                self.cache.put(key, {
                    "outputs": [dict(o.to_dict(), name=n) for n, o in out.outputs.items()],
                    "files": out.files, "run_id": self.plan.run_id, "step": name,
                })
        self._record(rec)

    def _record(self, rec: StepRecord) -> None:
        self.records[rec.name] = rec
        if self.journal is not None and rec.status in (SUCCESS, CACHED, FAILED, SKIPPED):
            self.journal.append({"type": "step", "record": self.manifest_record(rec).to_dict()})
        if self.plan.debug:
            import logging

            logging.getLogger("flowyml").debug("step %s: %s (%.4fs) key=%s", self.prefix + rec.name,
                                               rec.status, rec.duration, (rec.key or "")[:12])
        if self.plan.on_event:
            self.plan.on_event(self.prefix + rec.name, rec.status)

    def manifest_record(self, rec: StepRecord) -> StepRecord:
        """``rec`` as the run's manifest names it (an inner pipeline's steps are namespaced)."""
        return rec if self.namespace is None else self.namespace.record(rec)


def _finished(inflight: Mapping[Any, Any]) -> list[Any]:
    """The finished futures among ``inflight``, waiting for one when none is.

    An inline executor's futures are finished when submitted, so only a pool's
    pending ones need ``concurrent.futures.wait``.
    """
    done = [fut for fut in inflight if fut.done()]
    if done:
        return done
    from concurrent.futures import FIRST_COMPLETED, wait

    return list(wait(list(inflight), return_when=FIRST_COMPLETED).done)
