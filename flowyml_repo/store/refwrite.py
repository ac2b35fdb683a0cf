"""Moving one ref by compare-and-swap, and writing the commits it points at.

:class:`~flowyml.store.history.History` decides *what* to write; this module makes
the writes safe:

* A ref moves only by compare-and-swap (``refs.set_if_equals``). Losing the race
  rebuilds the new commit on the new tip and tries again with backoff;
  :class:`~flowyml.errors.RefConflict` is raised only when the ref stays busy for
  ``retry_deadline`` seconds.
* Writers of one ref first take a per-ref OS lock so they queue instead of spinning
  on git's ``<ref>.lock``, and ``.lock`` files left by dead processes are removed
  (see :mod:`flowyml.store.reflock`).
* A commit's objects are durable before the ref names them.
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, Any

from flowyml.errors import HistoryError, RefConflict
from flowyml.store.commitlog import compose_message
from flowyml.store.reflock import Backoff, RefLock, clear_if_stale, ref_lock_path

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from dulwich.objects import Commit, ShaFile

__all__ = ["ANY", "IDENTITY", "RefWriter"]

IDENTITY = b"flowyml <flowyml@localhost>"
_ZERO = b"0" * 40


class _Unset:
    """Marker for "no expected tip given"."""


ANY = _Unset()


class RefWriter:
    """Compare-and-swap updates of refs, and the objects their commits need.

    Args:
        refs: dulwich's refs container of the repository.
        objects: its object writer (``add_object``, ``contains_loose``; ``sync`` if
            it leaves the fsync to us).
        git_dir: the repository's common git folder (reflogs live under ``logs/``).
        own_dir: flowyml's folder in the repository (the per-ref OS locks are in ``locks/``).
        serialize: queue writers of a ref behind a per-ref OS lock.
        stale_seconds: age after which a ``.lock`` with no live owner is removed.
        deadline: seconds to keep retrying a busy ref before RefConflict.
    """

    def __init__(self, refs: Any, objects: Any, git_dir: str, own_dir: str, *, serialize: bool,
                 stale_seconds: float, deadline: float) -> None:
        self.refs = refs
        self.objects = objects
        self._git_dir = git_dir
        self._own_dir = own_dir
        self._serialize = serialize
        self._stale = stale_seconds
        self._deadline = deadline

    def tip(self, ref: bytes) -> bytes | None:
        """The commit ``ref`` points at, or None."""
        try:
            return self.refs[ref]
        except KeyError:
            return None

    def commit(self, ref: bytes, content: Callable[[str | None], tuple[bytes, str] | None],
               parents: list[bytes], when: float, run_id: str | None,
               trailers: Mapping[str, str] | None) -> Commit | None:
        """Commit ``content(tip)`` on top of ``ref`` and move the ref there.

        Args:
            ref: the full ref name (checked by the caller).
            content: the tip (hex, None when the ref has none) -> a tree id and a
                message, or None to record nothing; called again after a lost race.
            parents: more parent commits after the tip.
            when: the author time.
            run_id: the ``Flowyml-Run-Id`` trailer, if any.
            trailers: more trailers.

        Returns:
            The new commit, or None when ``content`` returned None.
        """
        from dulwich.objects import Commit

        made: dict[bytes, Commit] = {}

        def attempt(old: bytes | None) -> bytes | None:
            found = content(old.decode() if old is not None else None)
            if found is None:
                return old  # nothing to record: the ref stays where it is
            tree_id, message = found
            commit = Commit()
            commit.tree = tree_id
            first = [old] if old is not None else []
            commit.parents = first + [p for p in dict.fromkeys(parents) if p not in first]
            commit.author = commit.committer = IDENTITY
            now = time.time()
            commit.commit_time, commit.commit_timezone = int(now), utc_offset(now)
            commit.author_time, commit.author_timezone = int(when), utc_offset(when)
            commit.message = compose_message(message, run_id, trailers or {})
            self.add(commit)
            self._sync_objects()  # the blob, tree and commit are on disk before the ref names them
            made[commit.id] = commit
            return commit.id

        old, new = self.move(ref, attempt)
        return None if new is None or new == old else made[new]

    def move(self, ref: bytes, make_new: Callable[[bytes | None], bytes | None],
             expected: bytes | None | _Unset = ANY) -> tuple[bytes | None, bytes | None]:
        """The compare-and-swap loop behind every ref update.

        Args:
            ref: the full ref name.
            make_new: the current tip -> the new one (None deletes the ref; the same
                tip changes nothing).
            expected: the tip the ref must have (None: must not exist); ANY: any.

        Returns:
            ``(old, new)``.

        Raises:
            RefConflict: the tip is not ``expected``, or the ref stayed busy.
            HistoryError: the ref clashes with another (``refs/x`` and ``refs/x/y``).
        """
        from dulwich.file import FileLocked

        backoff = Backoff(self._deadline, ref)
        with RefLock(ref_lock_path(self._own_dir, ref), self._serialize, backoff) as held:
            while True:
                old = self.tip(ref)
                if not isinstance(expected, _Unset) and old != expected:
                    raise RefConflict(f"{ref.decode()} is at {show(old)}, not the expected {show(expected)}")
                new = make_new(old)
                if new == old:
                    return old, new  # nothing to change (say, deleting what is already gone)
                try:
                    if self._swap(ref, old, new):
                        return old, new
                except FileLocked as exc:
                    clear_if_stale(exc.lockfilename, held, self._stale)
                except (FileExistsError, NotADirectoryError, IsADirectoryError) as exc:
                    # git cannot hold both refs/x and refs/x/y (a file and a folder).
                    raise HistoryError(f"{ref.decode()} clashes with an existing ref above or below it") from exc
                backoff.wait()

    def _swap(self, ref: bytes, old: bytes | None, new: bytes | None) -> bool:
        """One compare-and-swap (or compare-and-delete) of a ref."""
        now = time.time()
        log = {"committer": IDENTITY, "timestamp": int(now), "timezone": utc_offset(now)}
        if new is None:
            return bool(self.refs.remove_if_equals(ref, old or _ZERO, message=b"flowyml: delete", **log))
        # dulwich appends to logs/<ref> and makes its folder with a bare mkdir, which
        # fails when two writers create it at once; exist_ok here cannot.
        os.makedirs(os.path.join(self._git_dir, "logs", *ref.decode().split("/")[:-1]), exist_ok=True)
        return bool(self.refs.set_if_equals(ref, old or _ZERO, new, message=b"flowyml: record", **log))

    def _sync_objects(self) -> None:
        """Make the objects written so far durable (dulwich's own store fsyncs each as it goes)."""
        sync = getattr(self.objects, "sync", None)
        if sync is not None:
            sync()

    def add(self, obj: ShaFile) -> None:
        """Write one loose object; an existing copy counts as success."""
        from dulwich.file import FileLocked

        backoff = Backoff(self._deadline, obj.id)
        while True:
            try:
                self.objects.add_object(obj)
                return
            except FileLocked as exc:
                # A peer writing the same object, or a write killed midway.
                if self.objects.contains_loose(obj.id):
                    return
                clear_if_stale(exc.lockfilename, None, self._stale)
            backoff.wait()


def show(sha: bytes | None | _Unset) -> str:
    """A tip for an error message."""
    return "nothing" if sha is None else sha.decode() if isinstance(sha, bytes) else "?"


def utc_offset(when: float) -> int:
    """The local time zone's offset east of UTC, in seconds, at ``when``."""
    return time.localtime(when).tm_gmtoff or 0
