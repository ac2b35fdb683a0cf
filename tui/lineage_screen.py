"""An artifact's lineage: the tree of what produced it and the tree of what used it, across runs."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Footer, Header, Static, Tree

from flowyml_tui import display
from flowyml_tui.messages import LineageLoaded, LoadFailed

if TYPE_CHECKING:
    from textual.widgets.tree import TreeNode

    from flowyml_tui.lineage_tree import LineageNode
    from flowyml_tui.source import HistorySource, RunView


class LineageScreen(Screen):
    """Upstream (within the run) and downstream (in every run) of one artifact; Enter opens a node."""

    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("tab", "app.focus_next", "Switch tree", show=False),
        Binding("e", "expand_all", "Expand all"),
    ]

    def __init__(self, source: HistorySource, view: RunView, output: str) -> None:
        super().__init__()
        self.source = source
        self.view = view
        self.output = output

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(f"Tracing {self.output} of run {self.view.run_id} through every run…", id="lineage-info")
        with Horizontal(id="lineage-body"):
            with Vertical():
                yield Static("Upstream — what it was made from", classes="section")
                yield Tree(self.output, id="upstream")
            with Vertical():
                yield Static("Downstream — what was made from it, in any run", classes="section")
                yield Tree(self.output, id="downstream")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = f"lineage of {self.output}"
        self.query_one("#upstream", Tree).focus()
        self.read()

    @work(thread=True, exclusive=True, group="lineage-read")
    def read(self) -> None:
        """Build both trees (the downstream one reads the lineage index of every run)."""
        from flowyml.errors import FlowymlError

        try:
            up, down, producers = self.source.lineage(self.view, self.output)
        except (FlowymlError, OSError, KeyError) as exc:
            self.post_message(LoadFailed(f"the lineage of {self.output}", str(exc)))
            return
        self.post_message(LineageLoaded(up, down, producers))

    def on_lineage_loaded(self, message: LineageLoaded) -> None:
        up, down = message.upstream, message.downstream
        info = Text()
        info.append(f"{self.output}", style="bold")
        info.append(f"  oid {up.oid}", style="magenta")
        info.append(f"\nproduced by step {up.step} in run {self.view.run_id}")
        runs = sorted({run_id for run_id, _step, _out in message.producers})
        if len(runs) > 1:
            info.append(f"; the same bytes were produced in {len(runs)} runs", style="cyan")
        consumers = down.count() - 1
        info.append(f"\n{consumers} downstream artifact{'s' * (consumers != 1)}"
                    f" (grouped by step, output and content)", style="dim")
        self.query_one("#lineage-info", Static).update(info)
        _fill(self.query_one("#upstream", Tree), up, upstream=True)
        _fill(self.query_one("#downstream", Tree), down, upstream=False)

    def on_load_failed(self, message: LoadFailed) -> None:
        self.query_one("#lineage-info", Static).update(Text(f"Cannot read {message.what}: {message.error}",
                                                            style="red"))

    @on(Tree.NodeSelected)
    def _open(self, event: Tree.NodeSelected) -> None:
        from flowyml_tui.artifact_screen import ArtifactScreen

        node: LineageNode | None = event.node.data
        if node is None or not node.run_id or not node.oid or event.node.is_root:
            return
        view = self.view if node.run_id == self.view.run_id else None
        self.app.push_screen(ArtifactScreen(self.source, node.run_id, node.output, view=view))

    def action_expand_all(self) -> None:
        for tree in self.query(Tree):
            tree.root.expand_all()


def _fill(tree: Tree, root: LineageNode, upstream: bool) -> None:
    tree.clear()
    tree.root.set_label(_label(root, upstream, root=True))
    tree.root.data = root
    _add(tree.root, root, upstream)
    tree.root.expand_all()
    if not root.children:
        tree.root.add_leaf(Text("nothing: it is a source" if upstream else "nothing used it yet", style="dim italic"))


def _add(parent: TreeNode, node: LineageNode, upstream: bool) -> None:
    for child in node.children:
        if child.children:
            branch = parent.add(_label(child, upstream), data=child)
            _add(branch, child, upstream)
        else:
            parent.add_leaf(_label(child, upstream), data=child)


def _label(node: LineageNode, upstream: bool, root: bool = False) -> Text:
    text = Text()
    if node.note and not node.oid:
        return Text(f"{node.output}  ({node.note})", style="dim italic")
    if upstream and node.status:
        text.append(display.glyph(node.status) + " ", style=display.style(node.status))
    text.append(node.output, style="bold")
    text.append(f" ← {node.step}", style="")
    text.append(f"  {display.short_id(node.oid, 10)}", style="magenta")
    if node.codec:
        text.append(f"  {display.size(node.size)}", style="dim")
    if not upstream and node.run_ids and not root:
        count = len(node.run_ids)
        text.append(f"  in {count} run{'s' * (count != 1)}", style="cyan")
    if node.note:
        text.append(f"  ({node.note})", style="dim italic")
    return text
