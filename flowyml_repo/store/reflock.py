"""Queueing writers of one ref, and recovering git lock files left by dead processes.

Writers of one ref first take a per-ref OS lock (``flock`` on POSIX, ``filelock``'s
descriptor lock where there is no ``fcntl``; in ``<git dir>/flowyml/locks/``) so they
queue instead of spinning on git's ``<ref>.lock``, which fails at once when held. The kernel drops that OS lock when its
holder dies, and the holder writes its pid into the lock file and truncates it on the
way out, so a non-empty lock file found on entry means the previous holder died
inside: any ``<ref>.lock`` older than our entry is its leftover and is removed at
once. A ``<ref>.lock`` with no such evidence (a killed ``git`` or an old flowyml) is
removed once it is ``stale_seconds`` old: git holds a ref lock for milliseconds, so an
old one has no live owner.
"""

from __future__ import annotations

import errno
import os
import time

from flowyml.errors import RefConflict

try:
    import fcntl
except ImportError:  # Windows: filelock's descriptor lock (LockFileEx) below
    fcntl = None  # type: ignore[assignment]

__all__ = ["Backoff", "RefLock", "clear_if_stale", "ref_lock_path"]


class Backoff:
    """Jittered exponential sleeps until a deadline, then RefConflict.

    Args:
        deadline: seconds from now after which ``wait`` raises instead of sleeping.
        what: the ref or object id that stays busy, for the error message.
    """

    def __init__(self, deadline: float, what: bytes) -> None:
        self._until = time.monotonic() + deadline
        self._what = what
        self._tries = 0

    def wait(self) -> None:
        """Sleep a little longer than last time.

        Raises:
            RefConflict: the deadline has passed.
        """
        import random  # only under contention: ~1.2 ms of import on every run's record path

        self._tries += 1
        if time.monotonic() > self._until:
            raise RefConflict(
                f"{self._what.decode()} stayed busy through {self._tries} attempts; "
                "another process keeps it locked or keeps moving it"
            )
        time.sleep(random.uniform(0.5, 1.0) * min(0.05, 0.0005 * 2 ** min(self._tries, 10)))


class RefLock:
    """The per-ref OS lock that queues flowyml writers (see module docstring).

    Args:
        path: the lock file (see :func:`ref_lock_path`).
        enabled: False makes the lock a no-op (file systems without ``flock``).
        backoff: paces the retries while another writer holds the lock.

    Attributes:
        inherited: the previous holder died while holding it.
        acquired_at: when we took it (``time.time()``), 0.0 if not held.
    """

    def __init__(self, path: str, enabled: bool, backoff: Backoff) -> None:
        self._path = path
        self._enabled = enabled
        self._backoff = backoff
        self._fd: int | None = None
        self.inherited = False
        self.acquired_at = 0.0

    def __enter__(self) -> RefLock:
        if not self._enabled:
            return self
        try:
            fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o644)
        except FileNotFoundError:
            os.makedirs(os.path.dirname(self._path), exist_ok=True)
            fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            while not _try_lock(fd):
                self._backoff.wait()
        except OSError:
            os.close(fd)  # no flock on this file system: rely on compare-and-swap alone
            return self
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        self.acquired_at = time.time()
        self.inherited = bool(os.pread(fd, 64, 0).strip())
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._fd is None:
            return
        try:
            os.ftruncate(self._fd, 0)  # an empty file tells the next holder we left cleanly
            _unlock(self._fd)
        finally:
            os.close(self._fd)
            self._fd = None


# Some file systems (NFS, CIFS) report a held flock as EACCES rather than EWOULDBLOCK.
_HELD = frozenset({errno.EACCES, errno.EAGAIN, errno.EWOULDBLOCK})


def _try_lock(fd: int) -> bool:
    """Take the exclusive lock on ``fd`` without waiting; False when another holds it.

    ``fcntl.flock`` directly (a stdlib call): ``filelock``'s ``lock_descriptor`` does
    the same but importing filelock 4 costs ~12 ms (decimal, platform, secrets) on
    every run's record path. filelock stays the fallback where there is no fcntl.

    Raises:
        OSError: no flock on this file system (ENOLCK, EOPNOTSUPP, ...).
    """
    if fcntl is None:
        from filelock import lock_descriptor

        return lock_descriptor(fd, blocking=False)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno in _HELD:
            return False
        raise
    return True


def _unlock(fd: int) -> None:
    """Release the lock :func:`_try_lock` took (closing ``fd`` would release it too)."""
    if fcntl is None:
        from filelock import unlock_descriptor

        unlock_descriptor(fd)
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)


def ref_lock_path(own_dir: str, ref: bytes) -> str:
    """The OS lock file that queues writers of ``ref``, under ``<own_dir>/locks/``."""
    import hashlib

    return os.path.join(own_dir, "locks", hashlib.sha1(ref).hexdigest() + ".lock")


def clear_if_stale(lock_file: str | bytes, held: RefLock | None, stale_seconds: float) -> None:
    """Remove a git ``.lock`` file that no live process owns (see module docstring).

    Args:
        lock_file: the ``<ref>.lock`` (or object ``.lock``) that blocked a write.
        held: our lock on the ref, if any; it tells whether its last holder died inside.
        stale_seconds: age after which a lock with no other evidence counts as abandoned.
    """
    try:
        mtime = os.stat(lock_file).st_mtime
    except FileNotFoundError:
        return  # released meanwhile: just retry
    orphan = held is not None and held.inherited and mtime <= held.acquired_at
    if orphan or time.time() - mtime > stale_seconds:
        try:
            os.remove(lock_file)
        except FileNotFoundError:
            pass
