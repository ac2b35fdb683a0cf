"""Finding, or creating, the git repository that holds a project's history."""

from __future__ import annotations

import os

__all__ = ["discover", "ensure_bare"]


def discover(start: str) -> str | None:
    """The nearest enclosing repository flowyml may use, looking upward.

    Args:
        start: an absolute folder to start from.

    Returns:
        A folder holding ``.git`` (a folder, or a worktree's file), or a
        ``.flowyml/history.git`` repository, whichever comes first going up; None
        if there is neither up to the root.
    """
    folder = start
    while True:
        if os.path.exists(os.path.join(folder, ".git")):
            return folder
        own = os.path.join(folder, ".flowyml", "history.git")
        if os.path.isdir(own):
            return own
        parent = os.path.dirname(folder)
        if parent == folder:
            return None
        folder = parent


def ensure_bare(path: str) -> str:
    """Create a bare repository at ``path`` unless one is there (safe to race).

    Returns:
        ``path``.
    """
    if os.path.isdir(path):
        return path
    from dulwich.repo import Repo

    parent = os.path.dirname(path)
    os.makedirs(parent, exist_ok=True)
    # Build it aside and rename it into place, so a peer never sees half a repository.
    import tempfile  # only when creating a repository: tempfile imports shutil, bz2, lzma

    staging = tempfile.mkdtemp(prefix=".history-", dir=parent)
    Repo.init_bare(staging).close()
    try:
        os.rename(staging, path)
    except OSError:
        import shutil  # only on a lost race: shutil pulls in bz2 and lzma (~3 ms)

        shutil.rmtree(staging, ignore_errors=True)
        if not os.path.isdir(path):
            raise
    return path
