"""Run history as git commits on refs under ``refs/flowyml/`` (DESIGN invariant 4).

This layer knows nothing about pipelines: it stores plain files (a manifest, say)
as one commit per call on a ref, lists and finds those commits, and reads them back.
``git log refs/flowyml/runs/<name>`` in any git client shows the same history.

How writes stay safe:

* Only dulwich plumbing is used (``Blob``, ``Tree``, ``Commit``, ``add_object``,
  ``refs.set_if_equals``): the user's branches, index, work tree and HEAD are never
  read or written and no hook runs. Objects are written loose, one file each
  (``add_objects`` would make a pack per call, which made history walks 30x
  slower), and fsynced before the ref moves.
* Writing does not build a dulwich ``Repo`` (~20 ms of imports in a fresh process,
  where a whole 100-step run should take 50 ms): refs go through dulwich's
  ``DiskRefsContainer`` and objects through
  :class:`~flowyml.store.locate.LooseObjects`, which writes them as
  ``DiskObjectStore.add_object`` does. A repository whose config asks for
  more (another object format, reftable, shared permissions, a compression level;
  see :func:`~flowyml.store.locate.writes_plainly`) is written through ``Repo``.
  Reads find loose objects the same way; packed objects, walks and transports use
  :attr:`History.repo`, built on first use.
* A ref moves only by compare-and-swap, writers of one ref queue behind a per-ref
  OS lock, and a commit's objects are durable before the ref names them (see
  :mod:`flowyml.store.refwrite`).

Trees of plain files are written and read by :mod:`flowyml.store.trees`; the
repository is found or created by :mod:`flowyml.store.locate`.
"""

from __future__ import annotations

import os
import re
import threading
import time
from typing import TYPE_CHECKING, Any

from flowyml.errors import HistoryError, ObjectNotFound, RunNotFound
from flowyml.store.commitlog import CommitFacts, LoggedFacts, append_commit, truncate_log
from flowyml.store.locate import (
    LooseObjects,
    config_mentions,
    discover,
    ensure_bare,
    git_dirs,
    open_repo,
    plain_refs,
    writes_plainly,
)
from flowyml.store.refwrite import ANY, IDENTITY, RefWriter
from flowyml.store.refnames import ROOT, RUNS_PREFIX, check_ref
from flowyml.store.trees import read_file, read_files, write_tree

# flowyml.store.runindex (~2 ms of import) is needed by listings only, so it is
# imported where they need it; CommitInfo and RunEntry are served by __getattr__.
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Mapping

    from dulwich.objects import ShaFile
    from dulwich.refs import DiskRefsContainer

    from flowyml.store.refwrite import _Unset
    from dulwich.repo import Repo

    from flowyml.store.locate import GitDirs
    from flowyml.store.runindex import CommitInfo, RunEntry, RunIndex

__all__ = ["CommitInfo", "History", "RunEntry"]

_HEX_SHA = re.compile(r"^[0-9a-f]{40}$")
# flowyml.inflight imports the repository lookup under its name from before the split.
_discover = discover




class History:
    """Commits on ``refs/flowyml/*`` refs of one git repository.

    Use :meth:`open` to find or create the repository; close it with :meth:`close`
    or a ``with`` block.

    Args:
        git_dir: a bare repository, a ``.git`` folder, or a work tree holding ``.git``.
        durable: fsync every object before the ref that names it moves.
        serialize_writers: queue writers of a ref behind a per-ref OS lock. Turn off
            only on file systems without working ``flock``; compare-and-swap keeps
            every commit either way.
        stale_lock_seconds: age after which a ``.lock`` file with no live owner
            evidence is taken as left by a dead process and removed.
        retry_deadline: seconds to keep retrying a busy ref before RefConflict.

    Attributes:
        git_dir: the repository's (common) git folder, where ``refs/flowyml/`` live.

    Raises:
        HistoryError: ``git_dir`` is not a git repository, or one dulwich cannot use.
    """

    def __init__(
        self,
        git_dir: str | os.PathLike[str],
        *,
        durable: bool = True,
        serialize_writers: bool = True,
        stale_lock_seconds: float = 10.0,
        retry_deadline: float = 30.0,
    ) -> None:
        self._path = os.fspath(git_dir)
        dirs = git_dirs(self._path)
        if dirs is None:
            raise HistoryError(f"{self._path!r} is not a git repository")
        self._dirs = dirs
        self._durable = durable
        self._repo: Repo | None = None
        self._repo_lock = threading.Lock()
        self.git_dir = os.path.abspath(dirs.common)
        self._own_dir = os.path.join(self.git_dir, "flowyml")
        self._run_index: RunIndex | None = None
        self._commit_log = os.path.join(self._own_dir, "commits.log")
        self._index_lock = threading.RLock()
        self._refs, self._objects = self._writers(dirs)
        self._writer = RefWriter(self._refs, self._objects, self.git_dir, self._own_dir,
                                 serialize=serialize_writers, stale_seconds=stale_lock_seconds,
                                 deadline=retry_deadline)

    def _writers(self, dirs: GitDirs) -> tuple[DiskRefsContainer, Any]:
        """The refs container and object writer for records (see the module docstring).

        Raises:
            HistoryError: a repository whose objects are not named by SHA-1.
        """
        if writes_plainly(dirs):
            return plain_refs(dirs, IDENTITY), LooseObjects(os.path.join(dirs.common, "objects"), self._durable)
        repo = self.repo  # config the plain writers do not honour: dulwich's Repo writes
        if repo.object_format.name != "sha1":
            # Commits name their tree and parents by SHA-1 ids here: git would read
            # every object written into such a repository as corrupt.
            repo.close()
            raise HistoryError(f"{self._path!r} uses {repo.object_format.name} object ids; flowyml "
                               "records only into SHA-1 repositories (give the stack a metadata_path)")
        return repo.refs, repo.object_store

    # -- opening -------------------------------------------------------------

    @classmethod
    def open(
        cls,
        start_dir: str | os.PathLike[str],
        metadata_path: str | os.PathLike[str] | None = None,
        *,
        create: bool = True,
        **options: Any,
    ) -> History:
        """Open the history repository for a project.

        Args:
            start_dir: the project folder (or any folder inside it).
            metadata_path: a bare repository to use (created if missing) instead of
                looking for one.
            create: False to raise :class:`HistoryError` instead of creating a
                repository (for read-only callers).
            **options: passed to :class:`History`.

        Returns:
            The history of, in order of preference: the bare repository at
            ``metadata_path``; the nearest enclosing git repository (a ``.git``
            folder or a worktree's ``.git`` file) or ``.flowyml/history.git``
            folder, looking upward from ``start_dir``; or a new bare repository at
            ``<start_dir>/.flowyml/history.git``.

        Raises:
            HistoryError: the folder found is not a usable git repository.
        """
        if metadata_path is not None:
            path = os.path.abspath(metadata_path)
            if not create and not os.path.isdir(path):
                raise HistoryError(f"no run history at {path}: nothing has been recorded there yet")
            return cls(ensure_bare(path), **options)
        found = discover(os.path.abspath(start_dir))
        if found is None:
            if not create:
                raise HistoryError(f"no run history in {os.path.abspath(start_dir)} or above: run a "
                                   "pipeline there first (or `flowyml init`)")
            found = ensure_bare(os.path.join(os.path.abspath(start_dir), ".flowyml", "history.git"))
        return cls(found, **options)

    @property
    def repo(self) -> Repo:
        """The underlying dulwich repository (for reads and transports), built on first use.

        Raises:
            HistoryError: dulwich cannot open the repository.
        """
        with self._repo_lock:
            if self._repo is None:
                self._repo = open_repo(self._path)
                # Object files are fsynced; their folder entries are not: ext4 and xfs
                # journal renames in order, so once the ref's rename is durable the
                # objects' are too.
                self._repo.object_store.fsync_object_files = self._durable
            return self._repo

    @property
    def bare(self) -> bool:
        """True when there is no work tree (flowyml's own ``history.git``, say)."""
        if self._dirs.worktree is not None:
            return False
        # core.worktree gives a git folder a work tree (a submodule's, say); only Repo reads it.
        return self.repo.bare if config_mentions(self._dirs, b"worktree") else True

    def close(self) -> None:
        """Release the repository's open files (pack maps)."""
        if self._repo is not None:
            self._repo.close()

    def __enter__(self) -> History:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- writing -------------------------------------------------------------

    def record(
        self,
        ref: str,
        tree_files: Mapping[str, bytes],
        message: str,
        *,
        parents_extra: Iterable[str] = (),
        author_time: float | None = None,
        run_id: str | None = None,
        trailers: Mapping[str, str] | None = None,
    ) -> str:
        """Commit ``tree_files`` on top of ``ref`` and move the ref there.

        Args:
            ref: a ref under ``refs/flowyml/`` (see :mod:`flowyml.store.refnames`).
            tree_files: path -> bytes; ``a/b.json`` makes a subfolder ``a``.
            message: the readable summary (first line) and body.
            parents_extra: more parent commits after the ref's tip (must exist).
            author_time: seconds since the epoch for the author date (default now).
            run_id: hex run id, added as a ``Flowyml-Run-Id`` trailer.
            trailers: more ``Key: value`` trailers, listed by :meth:`list_runs`.

        Returns:
            The new commit's id (hex).

        Raises:
            ValueError: a bad ref, path, run id, trailer or parent.
            RefConflict: the ref stayed busy for ``retry_deadline`` seconds.
        """
        tree_id = write_tree(tree_files, self._writer.add)
        sha = self._commit(ref, lambda _tip: (tree_id, message), parents_extra, author_time, run_id, trailers)
        assert sha is not None  # a new commit always moves the ref
        return sha

    def record_from_tip(
        self,
        ref: str,
        make: Callable[[str | None], tuple[Mapping[str, bytes], str] | None],
        *,
        run_id: str | None = None,
        trailers: Mapping[str, str] | None = None,
    ) -> str | None:
        """Like :meth:`record`, with the commit's content made from the ref's tip.

        For content that depends on what came before, such as a version number:
        ``make`` is called while this writer holds the ref, and called again if
        another writer moved the ref meanwhile, so two writers never both build on
        the same tip.

        Args:
            ref: a ref under ``refs/flowyml/``.
            make: the ref's tip (None when it has none) -> ``(tree_files, message)``,
                or None to record nothing.
            run_id: as for :meth:`record`.
            trailers: as for :meth:`record`.

        Returns:
            The new commit's id, or None when ``make`` returned None.

        Raises:
            ValueError: a bad ref, path, run id or trailer.
            RefConflict: the ref stayed busy for ``retry_deadline`` seconds.
        """
        def content(tip: str | None) -> tuple[str, str] | None:
            made = make(tip)
            return None if made is None else (write_tree(made[0], self._writer.add), made[1])

        return self._commit(ref, content, (), None, run_id, trailers)

    def _commit(self, ref: str, content: Callable[[str | None], tuple[bytes, str] | None],
                parents_extra: Iterable[str], author_time: float | None, run_id: str | None,
                trailers: Mapping[str, str] | None) -> str | None:
        """Commit ``content(tip)`` (a tree id and a message) on ``ref``; log it for listings."""
        ref_b = check_ref(ref).encode()
        extra = [self._existing_commit(p) for p in parents_extra]
        when = time.time() if author_time is None else author_time
        made = self._writer.commit(ref_b, content, extra, when, run_id, trailers)
        if made is None:
            return None
        append_commit(self._commit_log, made)
        return made.id.decode()

    def set_ref(self, ref: str, sha: str, *, expected: str | None | _Unset = ANY) -> None:
        """Point ``ref`` at an existing commit, by compare-and-swap.

        Args:
            ref: a ref under ``refs/flowyml/``.
            sha: the commit to point at.
            expected: the tip the ref must have now (None: must not exist). When not
                given, whatever tip it has is replaced.

        Raises:
            RefConflict: the ref's tip is not ``expected``, or it stayed busy.
            ValueError: a bad ref, or ``sha`` is not a commit in the repository.
        """
        ref_b = check_ref(ref).encode()
        new = self._existing_commit(sha)
        self._writer.move(ref_b, lambda _old: new, _expected_bytes(ref, expected))

    def delete_ref(self, ref: str, *, expected: str | None | _Unset = ANY) -> bool:
        """Delete ``ref``, by compare-and-swap; its commits stay until ``git gc``.

        Args:
            ref: a ref under ``refs/flowyml/``.
            expected: the tip the ref must have now; when not given, any tip.

        Returns:
            True if the ref existed and was deleted, False if it did not exist.

        Raises:
            RefConflict: the ref's tip is not ``expected``, or it stayed busy.
        """
        ref_b = check_ref(ref).encode()
        if self.tip(ref) is None and expected is ANY:
            return False
        old, _new = self._writer.move(ref_b, lambda _old: None, _expected_bytes(ref, expected))
        return old is not None

    # -- reading -------------------------------------------------------------

    def tip(self, ref: str) -> str | None:
        """The commit ``ref`` points at, or None if it does not exist."""
        found = self._writer.tip(check_ref(ref).encode())
        return found.decode() if found is not None else None

    def refs(self, prefix: str = ROOT) -> dict[str, str]:
        """Every ref whose name starts with ``prefix``, mapped to its commit.

        Args:
            prefix: a ref prefix such as ``"refs/flowyml/runs/"``.

        Returns:
            ``{ref: sha}`` with full ref names.
        """
        base = prefix[: prefix.rfind("/") + 1]
        found = self._refs.as_dict(base.encode())
        full = {base + name.decode(): sha.decode() for name, sha in found.items()}
        return {ref: sha for ref, sha in full.items() if ref.startswith(prefix)}

    def commit(self, sha: str) -> CommitInfo:
        """Read one commit.

        Raises:
            ObjectNotFound: no commit with this id.
        """
        from flowyml.store.runindex import CommitInfo

        return CommitInfo.of(self._commit_object(sha))

    def _commit_object(self, sha: str) -> Any:
        from dulwich.objects import Commit

        obj = self._object(sha)
        if not isinstance(obj, Commit):
            raise ObjectNotFound(sha, where="history (not a commit)")
        return obj

    def log(
        self, ref: str, limit: int | None = None, skip: int = 0, *, first_parent: bool = True
    ) -> Iterator[CommitInfo]:
        """The commits of ``ref``, newest first.

        Args:
            ref: a ref under ``refs/flowyml/``.
            limit: stop after this many commits.
            skip: leave out this many newest commits first.
            first_parent: follow only first parents (the runs recorded on this ref);
                False walks every reachable commit by date, like ``git log``.

        Yields:
            One :class:`CommitInfo` per commit; nothing if the ref does not exist.
        """
        from flowyml.store.runindex import CommitInfo

        tip = self.tip(ref)
        if tip is None or limit == 0:
            return
        commits = self._first_parents(tip) if first_parent else self._all_reachable(tip)
        for count, obj in enumerate(commits):
            if count < skip:
                continue
            if limit is not None and count >= skip + limit:
                return
            yield CommitInfo.of(obj)

    def _first_parents(self, sha: str) -> Iterator[Any]:
        current: str | None = sha
        while current is not None:
            obj = self._commit_object(current)
            yield obj
            current = obj.parents[0].decode() if obj.parents else None

    def _all_reachable(self, sha: str) -> Iterator[Any]:
        for entry in self.repo.get_walker(include=[sha.encode()]):
            yield entry.commit

    def read(self, commit_sha: str, path: str) -> bytes:
        """The bytes of file ``path`` in a commit's tree.

        Raises:
            ObjectNotFound: no such commit, or no such file in it.
        """
        return read_file(self._object, self._tree_id(commit_sha), path, commit_sha)

    def read_tree_files(self, commit_sha: str) -> dict[str, bytes]:
        """Every file of a commit's tree, ``{path: bytes}`` with ``/`` separators.

        Raises:
            ObjectNotFound: no such commit.
        """
        return read_files(self._object, self._tree_id(commit_sha))

    def _tree_id(self, commit_sha: str) -> str:
        index = self._run_index  # a plain read has no index to ask, and does not load one
        known = index.tree_of(commit_sha) if index is not None else None
        if known is not None:
            return known
        return self.commit(commit_sha).tree

    def _object(self, sha: str) -> ShaFile:
        if isinstance(self._objects, LooseObjects) and _HEX_SHA.match(sha):
            found = self._objects.get(sha)  # recent runs are loose: no Repo needed
            if found is not None:
                return found
        try:
            return self.repo.object_store[sha.encode()]
        except (KeyError, ValueError) as exc:
            raise ObjectNotFound(sha, where="history") from exc

    def _existing_commit(self, sha: str) -> bytes:
        from dulwich.objects import Commit

        if not isinstance(sha, str) or not _HEX_SHA.match(sha):
            raise ValueError(f"not a full commit id: {sha!r}")
        try:
            obj = self._object(sha)
        except ObjectNotFound:
            obj = None
        if not isinstance(obj, Commit):
            raise ValueError(f"{sha} is not a commit in {self.git_dir}")
        return sha.encode()

    # -- finding runs (through the index) --------------------------------------

    def list_runs(self, ref_prefix: str = RUNS_PREFIX, limit: int | None = 50) -> list[RunEntry]:
        """The newest runs across every ref under ``ref_prefix``.

        Args:
            ref_prefix: which refs to list.
            limit: how many to return (None: all).

        Returns:
            Newest first by commit time; within one second, each ref keeps its own
            order and refs are taken by name.
        """
        from flowyml.store.runindex import newest

        return newest(self._rows(ref_prefix), limit)

    def find(self, trailer: str, value_prefix: str, ref_prefix: str = RUNS_PREFIX) -> list[RunEntry]:
        """Commits whose trailer ``trailer`` starts with ``value_prefix``, newest first.

        Args:
            trailer: a trailer name, for example ``"Flowyml-Run-Id"``.
            value_prefix: the start of the value (the whole value matches too).
            ref_prefix: which refs to search.
        """
        from flowyml.store.runindex import with_trailer

        return with_trailer(self._rows(ref_prefix), trailer, value_prefix)

    def find_run(self, run_id_prefix: str, ref_prefix: str = RUNS_PREFIX) -> tuple[str, str]:
        """The ref and commit of the run whose id starts with ``run_id_prefix``.

        When one run id was recorded more than once (a resumed run), the newest
        commit wins.

        Raises:
            RunNotFound: no run id starts with the prefix.
            AmbiguousRunId: several different run ids start with it.
        """
        from flowyml.store.runindex import match_run_id

        entry = match_run_id(self._rows(ref_prefix), run_id_prefix, ref_prefix)
        return entry.ref, entry.sha

    def resolve(self, rev: str) -> str:
        """The commit named by a ref, a run id prefix or a commit id prefix.

        Args:
            rev: a full ref (``refs/flowyml/...``), a ref relative to
                ``refs/flowyml/`` (``runs/train``), a run id prefix, or a commit id
                prefix of at least 4 hex digits; searched in that order.

        Raises:
            RunNotFound: nothing matches.
            AmbiguousRunId: the prefix matches several commits.
        """
        for ref in (rev, ROOT + rev):
            if ref.startswith(ROOT):
                try:
                    tip = self.tip(ref)
                except ValueError:
                    tip = None
                if tip is not None:
                    return tip
        try:
            return self.find_run(rev, ref_prefix=ROOT)[1]
        except RunNotFound:
            pass
        from flowyml.store.runindex import match_commit

        found = match_commit(self._rows(ROOT), rev)
        if found is None:
            raise RunNotFound(f"{rev!r} names no flowyml ref, run or commit")
        return found

    def rebuild_index(self) -> int:
        """Forget the run index and rebuild it from every ref under ``refs/flowyml/``.

        Returns:
            The number of commits indexed.
        """
        with self._index_lock:
            self._index().forget()
            return sum(1 for _ in self._rows(ROOT))

    def _rows(self, ref_prefix: str) -> list[tuple[str, int, list]]:
        """Index rows under ``ref_prefix``, after catching up with the refs."""
        with self._index_lock:
            index = self._index()
            facts = LoggedFacts(self._commit_log, self._facts)
            index.sync(self.refs(ref_prefix), lambda r: r.startswith(ref_prefix), facts)
            if facts.used and ref_prefix == ROOT:
                truncate_log(self._commit_log)  # all of it is in the index now
            return list(index.rows(lambda r: r.startswith(ref_prefix)))

    def _index(self) -> RunIndex:
        """The run index, loaded on first use (listings only: recording never reads it)."""
        with self._index_lock:
            if self._run_index is None:
                from flowyml.store.runindex import RunIndex

                self._run_index = RunIndex(os.path.join(self._own_dir, "runindex.msgpack"))
            return self._run_index

    def _facts(self, sha: str) -> CommitFacts | None:
        try:
            info = self.commit(sha)
        except ObjectNotFound:
            return None
        return CommitFacts(info.tree, info.time, info.parents, info.message)


# -- helpers ---------------------------------------------------------------------


def __getattr__(name: str) -> Any:
    """``CommitInfo`` and ``RunEntry``, re-exported from :mod:`flowyml.store.runindex` on use."""
    if name in ("CommitInfo", "RunEntry"):
        from flowyml.store import runindex

        return getattr(runindex, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _expected_bytes(ref: str, expected: str | None | _Unset) -> bytes | None | _Unset:
    if expected is ANY or expected is None:
        return expected
    if not _HEX_SHA.match(expected):
        raise ValueError(f"expected tip for {ref} is not a full commit id: {expected!r}")
    return expected.encode()
