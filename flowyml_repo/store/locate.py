"""Finding, creating and opening the git repository that holds a project's history.

Opening comes in two weights. :func:`open_repo` builds dulwich's ``Repo``, which
imports ~20 ms of modules (hooks and subprocess, worktree and shutil, the pack
machinery) that recording one run never uses; reads and transports use it. The
record path instead takes the repository's folders from :func:`git_dirs` and
writes through :func:`plain_refs` (dulwich's own refs container) and
:class:`LooseObjects`, when :func:`writes_plainly` says the repository's config
asks for nothing they do not do.
"""

from __future__ import annotations

import os
import re
import sys
import threading
import time
from typing import TYPE_CHECKING, NamedTuple

from flowyml.errors import HistoryError
from flowyml.store.durable import fsync_path, syncfs

if TYPE_CHECKING:
    from dulwich.objects import ShaFile
    from dulwich.refs import DiskRefsContainer
    from dulwich.repo import Repo

__all__ = ["GitDirs", "LooseObjects", "config_mentions", "discover", "ensure_bare", "git_dirs", "open_repo",
           "plain_refs", "writes_plainly"]


class GitDirs(NamedTuple):
    """Where one repository's pieces are (a NamedTuple: this is on every run's record
    path, and making a frozen dataclass costs ~0.6 ms at import).

    Attributes:
        control: its own git folder (``.git``, a bare repository, or a linked
            worktree's ``<common>/worktrees/<name>``): HEAD and per-worktree refs.
        common: the folder every worktree shares: objects, ``refs/``, config, logs.
        worktree: the work tree, or None when opened at a git folder (bare).
    """

    control: str
    common: str
    worktree: str | None


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


def git_dirs(path: str) -> GitDirs | None:
    """The folders of the repository at ``path``, found as dulwich's ``Repo(path)`` does.

    Args:
        path: a work tree (holding a ``.git`` folder, or a linked worktree's ``.git``
            file), or a git folder (bare repository or ``.git``).

    Returns:
        Its :class:`GitDirs`, or None when ``path`` is not a repository.
    """
    hidden = os.path.join(path, ".git")
    if os.path.isfile(hidden):
        with open(hidden, "rb") as f:
            pointer = f.read()
        if not pointer.startswith(b"gitdir: "):
            return None
        control, worktree = os.path.join(path, os.fsdecode(pointer[8:].rstrip(b"\r\n"))), path
    elif os.path.isdir(os.path.join(hidden, "objects")):
        control, worktree = hidden, path
    elif os.path.isdir(os.path.join(path, "objects")) and os.path.isdir(os.path.join(path, "refs")):
        control, worktree = path, None
    else:
        return None
    try:
        with open(os.path.join(control, "commondir"), "rb") as f:
            common = os.path.join(control, os.fsdecode(f.read().rstrip(b"\r\n")))
    except FileNotFoundError:
        common = control
    if not os.path.isdir(os.path.join(common, "objects")):
        return None  # a .git file or commondir pointing at nothing usable
    return GitDirs(control, common, worktree)


# Config that changes how objects, refs or logs must be written or read, or which
# could hide such a setting: extensions.* (objectFormat = sha256, refStorage =
# reftable, worktreeConfig, ...), core.sharedRepository (group permissions on every
# file), core.(loose)Compression (zlib level of loose objects), core.bigFileThreshold
# (largest loose object dulwich inflates), include/includeIf. A repository whose
# config mentions none of these is handled exactly as dulwich's Repo would; any
# mention, even in a value, sends it through Repo instead.
_NOT_PLAIN = (b"extensions", b"sharedrepository", b"compression", b"bigfilethreshold", b"include")
_FORMAT_VERSION = re.compile(rb"repositoryformatversion\s*=\s*(\S*)")


def writes_plainly(dirs: GitDirs) -> bool:
    """True when :func:`plain_refs` and :class:`LooseObjects` may handle this repository.

    That is: a format-0 or format-1 repository with SHA-1 objects, files refs, no
    shared permissions and default compression (see ``_NOT_PLAIN``).
    """
    config = _config(dirs)
    if config is None or any(word in config for word in _NOT_PLAIN):
        return False
    return all(version in (b"0", b"1") for version in _FORMAT_VERSION.findall(config))


def config_mentions(dirs: GitDirs, word: bytes) -> bool:
    """Whether the repository's config mentions ``word`` (lower case) anywhere (True if unreadable)."""
    config = _config(dirs)
    return config is None or word in config


def _config(dirs: GitDirs) -> bytes | None:
    """The shared config file, lower-cased; ``b""`` when there is none, None when unreadable."""
    try:
        with open(os.path.join(dirs.common, "config"), "rb") as f:
            return f.read().lower()
    except FileNotFoundError:
        return b""  # git's defaults, as Repo reads them
    except OSError:
        return None  # let Repo say what is wrong


def open_repo(path: str) -> Repo:
    """dulwich's ``Repo`` for ``path``.

    Raises:
        HistoryError: ``path`` is not a repository, or one dulwich cannot use.
    """
    from dulwich.errors import NotGitRepository
    from dulwich.repo import Repo, UnsupportedExtension, UnsupportedVersion

    try:
        return Repo(path)
    except NotGitRepository as exc:
        raise HistoryError(f"{path!r} is not a git repository") from exc
    except (UnsupportedExtension, UnsupportedVersion) as exc:
        raise HistoryError(f"{path!r} is a git repository flowyml cannot use: {exc}") from exc


def plain_refs(dirs: GitDirs, committer: bytes) -> DiskRefsContainer:
    """The refs container dulwich's ``Repo`` builds, with a reflog writer like ``Repo``'s.

    Mirrors ``Repo.__init__`` (``DiskRefsContainer(commondir, controldir, logger=...)``)
    and ``Repo._write_reflog``, less what :func:`writes_plainly` rules out (shared
    permissions). Updates that name no committer are logged as ``committer`` rather
    than looking up the user's identity in their git config.
    """
    from dulwich.reflog import format_reflog_line
    from dulwich.refs import DiskRefsContainer, is_per_worktree_ref

    def write_reflog(ref: bytes, old: bytes, new: bytes, who: bytes | None, when: int | None,
                     zone: int | None, message: bytes) -> None:
        base = dirs.control if is_per_worktree_ref(ref) else dirs.common
        path = os.path.join(base, "logs", os.fsdecode(ref))
        os.makedirs(os.path.dirname(path), exist_ok=True)  # two writers may make it at once
        stamp = int(time.time()) if when is None else when
        with open(path, "ab") as f:
            f.write(format_reflog_line(old, new, who or committer, stamp, zone or 0, message) + b"\n")

    return DiskRefsContainer(dirs.common, dirs.control, logger=write_reflog)


class LooseObjects:
    """Writes and reads loose objects as dulwich's ``DiskObjectStore`` does.

    Importing ``dulwich.object_store`` costs ~8 ms (pack, midx, protocol, difflib)
    and recording a run only ever adds a blob, a tree and a commit, so this mirrors
    dulwich 1.2's ``add_object``: the ``objects/xx/yyyy`` path; an object already
    there counts as written once its mtime is refreshed (so a concurrent ``git gc``
    does not prune it before our ref names it); otherwise ``GitFile`` (write
    ``<path>.lock``, rename) with read-only mode. Two differences, both ours to
    choose: zlib level 1 (git reads any level; a 500-step manifest compresses in
    1.3 ms instead of 3.5 ms, 10% larger), and no fsync per object: :meth:`sync`
    makes a record's three objects durable with one ``syncfs`` (1.2 ms here against
    3.1 ms for three fsyncs). :meth:`get` reads a loose object as
    ``DiskObjectStore.__getitem__`` does (inflated, size-capped, checked against its
    id); packed objects are left to dulwich. :func:`writes_plainly` sends
    repositories that need more through dulwich.

    Args:
        path: the repository's ``objects`` folder.
        durable: remember what is written, for :meth:`sync`.
    """

    def __init__(self, path: str, durable: bool) -> None:
        self.path = path
        self._durable = durable
        self._unsynced: list[str] = []
        self._sync_lock = threading.Lock()

    def add_object(self, obj: ShaFile) -> None:
        """Write ``obj`` unless it is there already (then only refresh its mtime)."""
        from dulwich.file import GitFile
        from dulwich.objects import hex_to_filename

        path = hex_to_filename(self.path, obj.id)
        try:
            os.mkdir(os.path.dirname(path))
        except FileExistsError:
            pass
        try:
            os.utime(path, None)
            return
        except (FileNotFoundError, PermissionError):
            pass  # missing, or another user's: write it (a fresh mtime either way)
        with GitFile(path, "wb", mask=_LOOSE_MODE, fsync=False) as f:
            f.write(obj.as_legacy_object(compression_level=_ZLIB_LEVEL))
        if self._durable:
            self._unsynced.append(path)

    def sync(self) -> None:
        """Make every object written so far durable: one ``syncfs``, else an fsync each.

        Under a lock, so a thread whose objects another thread's sync took along waits
        until that sync has finished.
        """
        with self._sync_lock:
            written, self._unsynced = self._unsynced, []
            if written and not syncfs(self.path):
                for path in written:
                    fsync_path(path)

    def get(self, sha: str) -> ShaFile | None:
        """The loose object ``sha`` (40 hex digits), or None when it is not loose here.

        Raises:
            ChecksumMismatch: its bytes do not hash to ``sha``.
            ObjectFormatException: it is not a readable object.
        """
        from dulwich.errors import ChecksumMismatch
        from dulwich.objects import ShaFile, hex_to_filename

        try:
            obj = ShaFile.from_path(hex_to_filename(self.path, sha))
        except FileNotFoundError:
            return None
        if obj.id != sha.encode():
            raise ChecksumMismatch(sha.encode(), obj.id)
        return obj

    def contains_loose(self, sha: bytes) -> bool:
        """Whether the loose object ``sha`` (hex) exists."""
        from dulwich.objects import hex_to_filename

        return os.path.exists(hex_to_filename(self.path, sha))


_LOOSE_MODE = 0o444 if sys.platform != "win32" else 0o644  # dulwich.object_store.PACK_MODE
_ZLIB_LEVEL = 1


def ensure_bare(path: str) -> str:
    """Create a bare repository at ``path`` unless one is there (safe to race).

    Returns:
        ``path``.
    """
    if os.path.isdir(path):
        return path
    parent = os.path.dirname(path)
    os.makedirs(parent, exist_ok=True)
    # Build it aside and rename it into place, so a peer never sees half a repository.
    # A random name made by mkdir, as tempfile.mkdtemp does (tempfile itself would
    # import shutil, bz2, lzma and random: ~3 ms of a project's first run).
    staging = os.path.join(parent, f".history-{os.getpid()}-{os.urandom(8).hex()}")
    os.mkdir(staging, 0o700)
    _init_bare(staging)
    try:
        os.rename(staging, path)
    except OSError:
        import shutil  # only on a lost race: shutil pulls in bz2 and lzma (~3 ms)

        shutil.rmtree(staging, ignore_errors=True)
        if not os.path.isdir(path):
            raise
    return path


# What dulwich's Repo.init_bare writes (dulwich 1.2: BASE_DIRECTORIES, DiskObjectStore.init,
# Repo._init_files), laid out here so that a project's first run does not import
# dulwich.repo (~20 ms) just to make a few folders and three small files.
_BARE_FOLDERS = ("branches", "hooks", "info", "objects", os.path.join("objects", "info"),
                 os.path.join("objects", "pack"), "refs", os.path.join("refs", "heads"),
                 os.path.join("refs", "tags"))
_BARE_CONFIG = (b"[core]\n\trepositoryformatversion = 0\n\tfilemode = %s\n\tbare = true\n"
                b"\tlogallrefupdates = true\n" % (b"false" if sys.platform == "win32" else b"true"))
_BARE_FILES = (("HEAD", b"ref: refs/heads/master\n"), ("description", b"Unnamed repository"),
               ("config", _BARE_CONFIG), (os.path.join("info", "exclude"), b""))


def _init_bare(path: str) -> None:
    """Lay out an empty bare repository in the existing empty folder ``path``.

    HEAD names ``master`` whatever the user's ``init.defaultBranch``: this repository
    only ever holds ``refs/flowyml/*``, so no branch is ever checked out of it.
    """
    for folder in _BARE_FOLDERS:
        os.mkdir(os.path.join(path, folder))
    for name, data in _BARE_FILES:
        with open(os.path.join(path, name), "wb") as f:
            f.write(data)
