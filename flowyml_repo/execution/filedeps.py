"""File dependencies: the files a step reads, so its cache is checked against their content.

A step that reads ``data.csv`` (``open``, ``pd.read_csv``, ``np.load``...) must re-run
when that file's *content* changes, not when it is merely touched. ``FileReads``
records the paths opened for reading while it is active; ``digest_files`` hashes them
(blake3); ``changed_files`` tells which recorded digests no longer hold.

Recording uses a ``sys.addaudithook`` hook on the ``open`` event, installed once and
lazily. Hooks can never be removed, so the hook returns after one string comparison
and one context-variable lookup when no recorder is active. What is recorded:

* reads only: ``open`` modes with ``r`` (``r+`` too: what was read may shape the
  output), ``os.open`` without write-only access or truncation;
* regular files, and paths that do not exist yet (a step that falls back when a file
  is missing must re-run when it appears); not directories, devices, ``/proc``,
  ``/sys``, ``/dev``;
* not Python's own imports (opens made by the frozen import machinery), ``linecache``
  / ``tokenize`` reading source for tracebacks, nor anything under the interpreter's
  prefixes, the standard library or site-packages;
* not paths under a folder passed to ``ignore_dir`` (the engine's object store);
* not a file this recorder saw opened for writing first: that is the step's own output.

Files opened natively by C/C++/Rust code (pyarrow's and polars' readers) raise no
audit event. ``nativereads`` wraps the known reader entry points (``pd.read_parquet``,
``pq.read_table``, ``pl.scan_parquet``...) when a recorder becomes active; they declare
their source through ``record_source``, which applies the rules above and also takes:

* a directory (a partitioned dataset, a Delta table): recorded as one dependency whose
  digest covers the relative names and contents of every regular file under it, so
  an edited, added, removed or renamed partition is a change and a touched one is not;
* a glob pattern with ``*`` or ``?`` that names no file (polars expands them):
  recorded as the pattern, whose digest covers the names and contents of the files
  it matches, so a new matching file is a change;
* a list or tuple of these; not file objects or buffers (an ``open()`` was already
  recorded by the hook), nor URLs (``s3://``, ``file://``).

A file a native writer created (``df.to_parquet``) raises no audit event either, so
if the step reads it back natively it counts as an input; its digest is taken after
the step, so this costs nothing unless the step writes different bytes each time.
Other native code can call ``record_read`` (one path, no rules applied).

The recording is per thread (a context variable, so also per asyncio task): a thread
started inside the step is not recorded.
"""

from __future__ import annotations

import contextvars
import glob
import os
import stat
import sys
import threading
import time
from collections.abc import Callable, Iterable
from types import TracebackType

__all__ = ["MISSING", "FileReads", "changed_files", "digest_files", "ignore_dir", "record_read",
           "record_source"]

MISSING = "missing"
"""The digest of a path that does not exist (or is not a regular file)."""

_ACTIVE: contextvars.ContextVar[tuple[FileReads, ...]] = contextvars.ContextVar(
    "flowyml_file_reads", default=())
_INSTALL_LOCK = threading.Lock()
_installed = False
_wrap_readers: Callable[[], None] = lambda: None  # nativereads.wrap_readers, from the first recorder
_prepared = False
_ignored: tuple[str, ...] = ()        # folders (ending in os.sep) never recorded
_skipped_callers: frozenset[str] = frozenset()

_CHUNK = 1 << 20
# blake3's threads pay off on big inputs only (a 10 KB input hashes slower threaded).
_THREADED_HASH_BYTES = 16 << 20
# A file modified within this window of being hashed may change again without its
# mtime moving (coarse filesystem clocks; git calls this "racily clean"), so its
# digest is not memoised.
_RACY_NS = 2_000_000_000
_MEMO_LIMIT = 65536
_digests: dict[str, tuple[tuple[int, ...], str]] = {}
# Only these make a missing path a glob pattern: "[" is common in real file names.
_GLOB_MAGIC = frozenset("*?")


class FileReads:
    """Records the files the current thread opens for reading while active.

    Example::

        with FileReads() as reads:
            df = pd.read_csv("data.csv")
        deps = digest_files(reads.paths)

    Attributes:
        paths: absolute, normalised paths opened for reading (a path that did not
            exist when opened is included: its appearance counts as a change).
    """

    def __init__(self) -> None:
        self.paths: set[str] = set()
        self._written: set[str] = set()
        self._token: contextvars.Token | None = None

    def __enter__(self) -> FileReads:
        _install_hook()
        _wrap_readers()
        self._token = _ACTIVE.set(_ACTIVE.get() + (self,))
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        token, self._token = self._token, None
        try:
            _ACTIVE.reset(token)
        except (ValueError, TypeError, RuntimeError):  # exited in another context
            _ACTIVE.set(tuple(r for r in _ACTIVE.get() if r is not self))

    def _opened(self, path: str, reading: bool) -> None:
        if not reading:
            self._written.add(path)
        elif path not in self._written:
            self.paths.add(path)


def record_read(path: str | os.PathLike[str]) -> None:
    """Declare a file read by code that raises no audit event (native readers).

    Args:
        path: the file read; recorded by every ``FileReads`` active in this thread.
    """
    recorders = _ACTIVE.get()
    if recorders:
        absolute = os.path.abspath(os.fspath(path))
        for recorder in recorders:
            recorder._opened(absolute, True)


def record_source(source: object) -> None:
    """Declare the source a native reader was given (what ``nativereads`` wrappers call).

    Args:
        source: a path (``str`` or ``os.PathLike``: a file, a directory or a glob
            pattern) or a list/tuple of paths. Anything else (a file object, a buffer)
            and URLs are ignored. The rules of the audit hook apply: reads only,
            nothing under ignored folders, no devices.
    """
    recorders = _ACTIVE.get()
    if not recorders:
        return
    if isinstance(source, (list, tuple)):
        for item in source:
            record_source(item)
        return
    if not isinstance(source, (str, os.PathLike)):
        return  # bytes are contents to polars and pyarrow, not a file name
    path = os.fsdecode(os.fspath(source))
    if "://" in path:
        return  # a URL: not a local file
    if not _prepared:
        _prepare()
    _record_path(os.path.abspath(path), True, recorders, native=True)


def ignore_dir(path: str | os.PathLike[str]) -> None:
    """Never record reads under a folder (the engine registers its object store root).

    Args:
        path: the folder; both its absolute and its symlink-resolved form are ignored.
    """
    global _ignored
    folder = os.path.abspath(os.fspath(path))
    with _INSTALL_LOCK:
        _ignored = tuple(sorted(set(_ignored) | {_with_sep(folder), _with_sep(os.path.realpath(folder))}))


def digest_files(paths: Iterable[str]) -> dict[str, str]:
    """Hash the contents of files.

    Args:
        paths: file paths (absolute, as ``FileReads`` records them).

    Returns:
        path -> blake3 hex digest of its bytes, or ``MISSING`` for a path that does
        not exist or is not a regular file. An unchanged file (same size, mtime,
        ctime, inode) is not re-read; a touched one is re-hashed to the same digest.
    """
    return {path: _digest(path) for path in paths}


def changed_files(deps: dict[str, str]) -> list[str]:
    """The recorded files whose content changed, vanished or appeared.

    Args:
        deps: path -> digest, as returned by ``digest_files``.

    Returns:
        The sorted paths whose digest now differs from the recorded one.
    """
    now = digest_files(deps)
    return sorted(path for path, digest in deps.items() if now[path] != digest)


# --- the audit hook ----------------------------------------------------------------------


def _install_hook() -> None:
    global _installed, _wrap_readers
    if _installed:
        return
    with _INSTALL_LOCK:
        if not _installed:
            from flowyml.execution.nativereads import wrap_readers

            _wrap_readers = wrap_readers
            sys.addaudithook(_audit)
            _installed = True


def _prepare() -> None:
    """Work out which opens are never recorded: library and system folders, and source
    read for tracebacks. Done at the first open a recorder sees, not at install: most
    steps open no file, and this costs ~1.5 ms (``sysconfig`` and the library folders)."""
    global _prepared, _ignored, _skipped_callers
    token = _ACTIVE.set(())  # files opened while preparing (sysconfig's data) are not the step's
    try:
        with _INSTALL_LOCK:
            if _prepared:
                return
            import sysconfig

            from flowyml.execution.locality import library_roots

            system = tuple(_with_sep(p) for p in ("/proc", "/sys", "/dev")) if os.name == "posix" else ()
            _ignored = tuple(sorted(set(_ignored) | set(library_roots()) | set(system)))
            stdlib = sysconfig.get_path("stdlib") or ""
            _skipped_callers = frozenset(
                {os.path.join(stdlib, "linecache.py"), os.path.join(stdlib, "tokenize.py"), __file__})
            _prepared = True
    finally:
        _ACTIVE.reset(token)


def _audit(event: str, args: tuple) -> None:
    # Runs for every audited event of every thread, forever: keep the idle path tiny.
    if event != "open":
        return
    recorders = _ACTIVE.get()
    if recorders:
        try:
            _record_open(args, recorders, sys._getframe(1))
        except Exception:  # noqa: BLE001 - recording must never break the step's open()
            pass


def _record_open(args: tuple, recorders: tuple[FileReads, ...], caller: object) -> None:
    path, mode, flags = args
    if isinstance(path, int):
        return  # an already-open descriptor
    filename = caller.f_code.co_filename  # type: ignore[attr-defined]
    if filename.startswith("<frozen "):
        return  # the import system
    if not _prepared:
        _prepare()
    if filename in _skipped_callers:
        return  # source lines fetched for a traceback
    _record_path(os.path.abspath(os.fsdecode(os.fspath(path))), _is_read(mode, flags), recorders)


def _record_path(path: str, reading: bool, recorders: tuple[FileReads, ...], native: bool = False) -> None:
    """Record an absolute path unless ignored; directories only from native readers."""
    if path.startswith(_ignored):
        return
    kind = _kind(path)
    if kind == "directory" and native and not _with_sep(path).startswith(_ignored):
        kind = "file"  # a partitioned dataset: its digest covers the files under it
    if kind == "file":
        for recorder in recorders:
            recorder._opened(path, reading)


def _is_read(mode: str | None, flags: int) -> bool:
    if mode is not None:  # builtin open / io.FileIO: "r", "w", "a", "x", "r+", ...
        return "r" in mode
    access = flags & os.O_ACCMODE  # os.open
    return access != os.O_WRONLY and not flags & os.O_TRUNC


def _kind(path: str) -> str:
    """``"file"`` for a regular file or a missing path, ``"directory"``, or ``"other"``."""
    try:
        mode = os.stat(path).st_mode
    except (FileNotFoundError, NotADirectoryError):
        return "file"
    except OSError:
        return "other"
    return "file" if stat.S_ISREG(mode) else "directory" if stat.S_ISDIR(mode) else "other"


def _with_sep(path: str) -> str:
    return path if path.endswith(os.sep) else path + os.sep


# --- hashing -----------------------------------------------------------------------------


def _digest(path: str) -> str:
    try:
        before = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return _digest_glob(path) if _GLOB_MAGIC.intersection(path) else MISSING
    if stat.S_ISDIR(before.st_mode):
        return _digest_tree(path)
    if not stat.S_ISREG(before.st_mode):
        return MISSING
    key = _stat_key(before)
    known = _digests.get(path)
    if known is not None and known[0] == key:
        return known[1]
    try:
        digest = _hash_file(path, before.st_size)
        after = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return MISSING
    # Memoise only a file that did not change while being hashed and is not racily new.
    if _stat_key(after) == key and time.time_ns() - after.st_mtime_ns > _RACY_NS:
        if len(_digests) >= _MEMO_LIMIT:
            _digests.clear()
        _digests[path] = (key, digest)
    return digest


def _digest_tree(folder: str) -> str:
    """A directory's digest: relative names and digests of the regular files under it."""
    entries = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not _with_sep(os.path.join(root, d)).startswith(_ignored))
        for name in files:
            path = os.path.join(root, name)
            if os.path.isfile(path):
                entries.append((os.path.relpath(path, folder), _digest(path)))
    return _digest_entries(sorted(entries))


def _digest_glob(pattern: str) -> str:
    """A glob pattern's digest: the files it matches and their digests (``MISSING`` if none)."""
    matches = sorted(p for p in glob.glob(pattern, recursive=True) if os.path.isfile(p))
    return _digest_entries([(p, _digest(p)) for p in matches]) if matches else MISSING


def _digest_entries(entries: list[tuple[str, str]]) -> str:
    import blake3

    return blake3.blake3("".join(f"{name}\0{digest}\n" for name, digest in entries).encode()).hexdigest()


def _stat_key(st: os.stat_result) -> tuple[int, ...]:
    # ctime too: tools that restore mtime after writing (rsync -t, cp -p) cannot set it.
    return (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev)


def _hash_file(path: str, size: int) -> str:
    import blake3

    hasher = blake3.blake3(max_threads=blake3.blake3.AUTO) if size >= _THREADED_HASH_BYTES else blake3.blake3()
    buffer = bytearray(_CHUNK)
    view = memoryview(buffer)
    with open(path, "rb", buffering=0) as stream:
        while True:
            n = stream.readinto(buffer)
            if not n:
                break
            hasher.update(view[:n])
    return hasher.hexdigest()
