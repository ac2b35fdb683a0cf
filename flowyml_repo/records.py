"""Writing runs into the history: where it lives, which refs, what a commit holds.

Layout under ``refs/flowyml/`` (names encoded by :mod:`flowyml.store.refnames`)::

    runs/<pipeline>                       one commit per run (manifest.json)
    projects/<project>/runs/<pipeline>    the same, for a pipeline with project_name
    versions/<pipeline>/<version>         recorded definitions of a VersionedPipeline
    snapshots/<pipeline>/<hash>           frozen pipeline snapshots
    models/<name>, datasets/<name>        registry and catalog (under projects/<p>/ too)

A run's commit tree holds ``manifest.json`` (canonical JSON, readable with
``git show <ref>:manifest.json``); its message is a readable summary with a
``Flowyml-Run-Id`` trailer, so plain ``git log`` is a usable run history.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flowyml.definition import canonical_json
from flowyml.errors import HistoryError
from flowyml.store.refnames import ROOT, encode_component

if TYPE_CHECKING:
    from flowyml.manifest import RunManifest
    from flowyml.store.history import History
    from flowyml.store.objects import PendingFlush

MANIFEST_FILE = "manifest.json"


def open_history(stack: Any = None, start: str | os.PathLike[str] = ".", *, create: bool = True) -> History:
    """The history repository for a stack (its ``metadata_path``) or the project at ``start``.

    Raises:
        HistoryError: with ``create=False``, when there is no history yet.
    """
    from flowyml.store.history import History

    metadata = getattr(stack, "metadata_path", None) if stack is not None else None
    return History.open(start, metadata_path=metadata, create=create)


def namespace(project: str | None) -> str:
    """The ref prefix of a project's refs (``refs/flowyml/`` without one)."""
    return ROOT if not project else f"{ROOT}projects/{encode_component(project)}/"


def ref_of(kind: str, *names: str, project: str | None = None) -> str:
    """The ref of ``kind`` ("runs", "models", …) for ``names`` in ``project``."""
    return namespace(project) + kind + "/" + "/".join(encode_component(n) for n in names)


def is_run_ref(ref: str) -> bool:
    """True for the refs whose commits are runs (with or without a project)."""
    rest = ref[len(ROOT):]
    if rest.startswith("runs/"):
        return True
    parts = rest.split("/")
    return len(parts) >= 4 and parts[0] == "projects" and parts[2] == "runs"


def manifest_bytes(manifest: RunManifest) -> bytes:
    """The canonical JSON of a manifest, as committed."""
    return canonical_json(manifest.to_dict())


def load_manifest(history: History, sha: str) -> RunManifest:
    """Read the manifest committed in ``sha``."""
    from flowyml.manifest import RunManifest

    return RunManifest.from_dict(json.loads(history.read(sha, MANIFEST_FILE)))


def commit_message(manifest: RunManifest) -> str:
    """The commit message: a one-line summary, then one line per step."""
    lines = [manifest.summary_line(), ""]
    for name, rec in manifest.steps.items():
        lines.append(f"{rec.status:8} {name} ({rec.duration:.3f}s)")
    if manifest.parent_run:
        lines += ["", f"rerun of {manifest.parent_run}" + (f" from {manifest.from_step}" if manifest.from_step else "")]
    return "\n".join(lines)


def record_run(pipeline: Any, manifest: RunManifest, stack: Any, root: Path,
               worktree: WorktreeProbe | None = None, flushing: PendingFlush | None = None) -> str:
    """Commit ``manifest`` to the pipeline's run ref; register its models and datasets.

    Args:
        worktree: the probe started with the run; without one the work tree is read now.
        flushing: the object store's flush, still running: the commit waits for it
            (the manifest names those objects) but its contents are prepared meanwhile.

    Returns:
        The commit id.
    """
    with open_history(stack) as history:
        manifest.git = worktree.result() if worktree is not None else worktree_state(history)
        manifest.environment["store"] = str(root)
        c = manifest.counts()
        trailers = {"Flowyml-Pipeline": manifest.pipeline, "Flowyml-Status": manifest.status,
                    # exact start (commit times are whole seconds) and counts, for listings without manifests
                    "Flowyml-Started": f"{manifest.started:.6f}", "Flowyml-Duration": f"{manifest.duration:.6f}",
                    "Flowyml-Steps": f"{len(manifest.steps)} total, {c.get('cached', 0)} cached, "
                                     f"{c.get('failed', 0)} failed"}
        if manifest.project:
            trailers["Flowyml-Project"] = manifest.project
        if manifest.parent_run:
            trailers["Flowyml-Parent-Run"] = manifest.parent_run
        files, message = {MANIFEST_FILE: manifest_bytes(manifest)}, commit_message(manifest)
        if flushing is not None:
            flushing.wait()
        sha = history.record(ref_of("runs", manifest.pipeline, project=manifest.project), files, message,
                             run_id=manifest.run_id, trailers=trailers)
        from flowyml.lineage import append_run

        append_run(history.git_dir, sha, manifest)
        if getattr(pipeline, "enable_experiment_tracking", True) and _has_assets(manifest):
            from flowyml.registry import register_assets

            register_assets(history, manifest)
    from flowyml.store.journal import Journal

    Journal(root, manifest.run_id).close(remove=True)  # the run is in the history now
    if manifest.parent_run and manifest.success:
        # a resumed run that finished holds everything its interrupted parent did
        Journal(root, manifest.parent_run).close(remove=True)
    return sha


def _has_assets(manifest: RunManifest) -> bool:
    return any(out.asset for rec in manifest.steps.values() for out in rec.outputs.values())


class WorktreeProbe:
    """Reads :func:`worktree_state` in a background thread while the run goes on.

    Inside a user's work tree the check imports ~25 ms of dulwich (Repo, index) and
    stats every tracked file; none of that needs to hold up the steps. It describes
    the work tree as the run started, which is the code the run executed.

    Args:
        stack: the run's stack (its ``metadata_path`` names the history, if any).
    """

    def __init__(self, stack: Any = None) -> None:
        self._state: dict = {}
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None
        try:
            history = open_history(stack, create=False)
        except HistoryError:
            return  # no repository yet: flowyml's own history.git has no work tree
        if history.bare:
            return
        self._thread = threading.Thread(target=self._probe, args=(history,), name="flowyml-worktree", daemon=True)
        self._thread.start()

    def _probe(self, history: History) -> None:
        try:
            with history:
                self._state = worktree_state(history)
        except BaseException as exc:  # handed to result(), as if read there
            self._error = exc

    def result(self) -> dict:
        """The state (``{}`` outside a work tree), once the probe has finished.

        Raises:
            HistoryError: the repository could not be read.
        """
        if self._thread is not None:
            self._thread.join()
        if self._error is not None:
            raise self._error
        return self._state


def worktree_state(history: History) -> dict:
    """The user's HEAD commit and whether the work tree differs from it (when inside one).

    Only tracked files count as dirty; checking costs one ``stat`` per tracked file.
    """
    if history.bare:
        return {}  # flowyml's own history.git: no dulwich Repo needed (~20 ms of imports)
    repo = history.repo
    try:
        head = repo.refs[b"HEAD"]
    except KeyError:
        return {"head": None, "dirty": None}
    try:
        from dulwich.index import get_unstaged_changes

        index = repo.open_index()
        dirty = any(True for _ in get_unstaged_changes(index, repo.path))
        if not dirty:
            dirty = any(True for _ in index.changes_from_tree(repo.object_store, repo[head].tree))
    except Exception:  # a damaged index is not worth failing a run over
        dirty = None
    return {"head": head.decode(), "dirty": dirty}
