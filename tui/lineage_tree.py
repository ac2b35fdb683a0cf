"""An artifact's lineage as two trees: what produced it, and what used it in any run.

Upstream comes from the run's own records (each step names the outputs that
fed it). Downstream needs every run: it comes from the lineage index of
:mod:`flowyml.lineage` (input and output oids of every step of every run),
grouped so that a dataset consumed by 2,000 cached reruns shows as one node
"in 2,000 runs" rather than 2,000 nodes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flowyml.runs import RunHistory
    from flowyml_tui.source import RunView

MAX_NODES = 400  # a tree beyond this is cut (and says so): no one reads further


@dataclass
class LineageNode:
    """One artifact in a lineage tree.

    Attributes:
        output: the output name.
        step: the step that produced it.
        oid: the stored object.
        run_ids: the runs it appears in, newest first (one for upstream nodes).
        status: the producing step's status in that run (upstream only).
        note: a remark instead of an artifact ("already shown above", "cut").
        children: inputs (upstream tree) or consumers' outputs (downstream tree).
    """

    output: str
    step: str = ""
    oid: str = ""
    codec: str = ""
    size: int = 0
    run_ids: list[str] = field(default_factory=list)
    status: str = ""
    note: str = ""
    children: list[LineageNode] = field(default_factory=list)

    @property
    def run_id(self) -> str | None:
        """The newest run holding this artifact."""
        return self.run_ids[0] if self.run_ids else None

    def count(self) -> int:
        """Nodes in this tree."""
        return 1 + sum(c.count() for c in self.children)


def upstream_tree(view: RunView, output: str) -> LineageNode:
    """``output`` of a run and, recursively, the outputs its producing step consumed."""
    producers = {name: step for step, rec in view.steps.items() for name in rec.outputs}

    def node(name: str, path: frozenset[str]) -> LineageNode:
        step = producers.get(name)
        if step is None:
            return LineageNode(name, note="not produced in this run")
        rec = view.steps[step]
        out = rec.outputs[name]
        here = LineageNode(name, step, out.oid, out.codec, out.size, [view.run_id], rec.status)
        for source in rec.inputs.values():
            if source in path:
                here.children.append(LineageNode(source, note="cycle"))
            else:
                here.children.append(node(source, path | {name}))
        return here

    return node(output, frozenset())


def downstream_tree(repo: RunHistory, root: LineageNode) -> LineageNode:
    """Fill ``root`` (an artifact) with every artifact computed from it, across all runs.

    Children of an artifact are the outputs of the steps that consumed its oid,
    grouped by (step, output, oid) over the runs where that happened.
    """
    from flowyml.lineage import lineage_rows

    index = lineage_rows(repo)
    runs = {run.sha: run for run in repo.runs(limit=None)}
    consumers: dict[str, dict[tuple[str, str, str], list[tuple[int, str]]]] = {}
    stored: dict[str, tuple[str, int]] = {}  # oid -> (codec, size), when the index has them
    for sha, steps in index.items():
        run = runs.get(sha)
        if run is None:
            continue
        for step, inputs, outputs in steps:
            for out in outputs:  # [name, oid] or [name, oid, codec, size]
                if len(out) >= 4:
                    stored[out[1]] = (out[2], out[3])
            for oid in set(inputs):
                for out in outputs:
                    consumers.setdefault(oid, {}).setdefault((step, out[0], out[1]), []).append(
                        (run.time, run.run_id))
    budget = [MAX_NODES]
    shown: set[str] = {root.oid}

    def grow(node: LineageNode) -> None:
        for (step, out, out_oid), hits in sorted(consumers.get(node.oid, {}).items()):
            if budget[0] <= 0:
                node.children.append(LineageNode("…", note=f"cut at {MAX_NODES} artifacts"))
                return
            budget[0] -= 1
            run_ids = [rid for _t, rid in sorted(set(hits), reverse=True)]
            codec, size = stored.get(out_oid, ("", 0))
            child = LineageNode(out, step, out_oid, codec, size, run_ids=run_ids)
            node.children.append(child)
            if out_oid in shown:
                if consumers.get(out_oid):
                    child.note = "what used it is shown above"
                continue
            shown.add(out_oid)
            grow(child)

    grow(root)
    return root
