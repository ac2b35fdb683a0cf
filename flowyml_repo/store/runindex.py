"""A rebuildable msgpack index of the commits on flowyml refs.

Listing the newest 50 of 10,000 runs by walking commits means reading and inflating
10,000 loose objects (about a second). The index keeps, for each ref, the tip it was
built from and one row per commit on the ref's first-parent chain, newest first:
``[sha, tree, commit_time, run_id, summary, trailers]``.

It is a cache and never the only copy (DESIGN invariant 6): every row is read from
a commit, a ref whose tip differs from the recorded one is brought up to date by
walking from the new tip down to the old one (or rebuilt when the old tip is no
longer an ancestor), and an unreadable or missing file is simply rebuilt. Writers
never touch it: :meth:`History.record` stays a blob + tree + commit + ref update,
and the next reader catches up. Two processes saving at once is harmless; the
last ``os.replace`` wins and the other's rows are re-walked on the next read.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from flowyml.errors import AmbiguousRunId, RunNotFound

# The message format lives in commitlog, on the record path (this module is ~2 ms of
# import that recording does not need); re-exported for callers importing it from here.
from flowyml.store.commitlog import RUN_ID_TRAILER, CommitFacts, compose_message, parse_trailers

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Mapping

__all__ = ["RUN_ID_TRAILER", "CommitFacts", "CommitInfo", "RunEntry", "RunIndex", "compose_message",
           "entry_from_row", "match_commit", "match_run_id", "newest", "parse_trailers", "row_for",
           "summary_of", "with_trailer"]

INDEX_VERSION = 1

_HEX = re.compile(r"^[0-9a-f]+$")

Row = list  # [sha, tree, commit_time, run_id, summary, [[key, value], ...]]
Located = tuple  # (ref, position on the ref, Row); position 0 is the tip


@dataclass(frozen=True)
class CommitInfo:
    """One commit of a ref's history.

    Attributes:
        sha: the commit id (hex).
        message: the full commit message.
        time: commit time, seconds since the epoch.
        parents: parent commit ids, first parent first.
        tree: the commit's tree id.
        author_time: author time (``author_time`` given to :meth:`History.record`).
    """

    sha: str
    message: str
    time: int
    parents: tuple[str, ...]
    tree: str
    author_time: int

    @property
    def summary(self) -> str:
        """The first line of the message."""
        return self.message.split("\n", 1)[0]

    @classmethod
    def of(cls, commit: Any) -> CommitInfo:
        """The facts of a dulwich ``Commit``."""
        return cls(sha=commit.id.decode(), message=commit.message.decode("utf-8", "replace"),
                   time=commit.commit_time, parents=tuple(p.decode() for p in commit.parents),
                   tree=commit.tree.decode(), author_time=commit.author_time)

    @property
    def trailers(self) -> dict[str, str]:
        """The message's ``Key: value`` trailers."""
        return dict(parse_trailers(self.message))


@dataclass(frozen=True)
class RunEntry:
    """One recorded run (a commit on a flowyml ref), as the index lists it.

    Attributes:
        run_id: the commit's ``Flowyml-Run-Id`` trailer, ``""`` if it has none.
        ref: the ref whose first-parent chain holds the commit.
        sha: the commit id (hex).
        time: commit time, seconds since the epoch.
        summary: the first line of the commit message.
        tree: the commit's tree id, so manifests load without reading the commit.
        trailers: every ``Key: value`` trailer of the message, in order.
    """

    run_id: str
    ref: str
    sha: str
    time: int
    summary: str
    tree: str
    trailers: tuple[tuple[str, str], ...] = ()

    def trailer(self, name: str, default: str | None = None) -> str | None:
        """The value of trailer ``name`` (case-insensitive), or ``default``."""
        wanted = name.lower()
        for key, value in self.trailers:
            if key.lower() == wanted:
                return value
        return default


def summary_of(message: str) -> str:
    """The first line of a commit message."""
    return message.lstrip("\n").split("\n", 1)[0]


def row_for(sha: str, facts: CommitFacts) -> Row:
    """The index row for one commit."""
    trailers = parse_trailers(facts.message)
    run_id = next((v for k, v in trailers if k.lower() == RUN_ID_TRAILER.lower()), "")
    return [sha, facts.tree, facts.time, run_id, summary_of(facts.message), [list(t) for t in trailers]]


def entry_from_row(ref: str, row: Row) -> RunEntry:
    """Turn an index row back into a :class:`RunEntry`."""
    sha, tree, when, run_id, summary, trailers = row
    return RunEntry(run_id, ref, sha, when, summary, tree, tuple((k, v) for k, v in trailers))


# -- queries over located rows -------------------------------------------------------


def newest_first_key(item: tuple[str, int, list]) -> tuple[int, int, str]:
    """Sort key: commit time, then position on the ref (0 is the newest).

    Git times have one-second resolution, so two refs' runs recorded within the
    same second are ordered by ref name: arbitrary, but the same on every call.
    """
    ref, pos, row = item
    return (row[2], -pos, ref)


def newest(rows: Iterable[Located], limit: int | None) -> list[RunEntry]:
    """The ``limit`` newest rows (all when None) as entries, newest first."""
    import heapq  # only for listings

    key = newest_first_key
    best = heapq.nlargest(limit, rows, key=key) if limit is not None else sorted(rows, key=key, reverse=True)
    return [entry_from_row(ref, row) for ref, _pos, row in best]


def with_trailer(rows: Iterable[Located], trailer: str, value_prefix: str) -> list[RunEntry]:
    """Rows having trailer ``trailer`` (any case) starting with ``value_prefix``."""
    wanted = trailer.lower()
    hits = [item for item in rows if any(k.lower() == wanted and v.startswith(value_prefix) for k, v in item[2][5])]
    return newest(hits, None)


def match_run_id(rows: Iterable[Located], run_id_prefix: str, where: str) -> RunEntry:
    """The one run whose id starts with ``run_id_prefix`` (newest commit of it).

    Raises:
        RunNotFound: no run id starts with the prefix (or it is not hex).
        AmbiguousRunId: several different run ids start with it.
    """
    prefix = run_id_prefix.strip().lower()
    if not _HEX.match(prefix):
        raise RunNotFound(f"{run_id_prefix!r} is not a run id (run ids are hex)")
    best: dict[str, Located] = {}
    for item in rows:
        run_id = item[2][3]
        if run_id.startswith(prefix):
            seen = best.get(run_id)
            if seen is None or newest_first_key(item) > newest_first_key(seen):
                best[run_id] = item
    if prefix in best:  # an exact id wins over longer ids it prefixes
        ref, _pos, row = best[prefix]
    elif len(best) == 1:
        ((ref, _pos, row),) = best.values()
    elif not best:
        raise RunNotFound(f"no run id starts with {prefix!r} under {where}")
    else:
        raise AmbiguousRunId(prefix, list(best))
    return entry_from_row(ref, row)


def match_commit(rows: Iterable[Located], sha_prefix: str) -> str | None:
    """The one indexed commit whose id starts with ``sha_prefix`` (>= 4 hex digits).

    Raises:
        AmbiguousRunId: several commits start with it.
    """
    prefix = sha_prefix.strip().lower()
    if len(prefix) < 4 or not _HEX.match(prefix):
        return None
    shas = {row[0] for _ref, _pos, row in rows if row[0].startswith(prefix)}
    if len(shas) > 1:
        raise AmbiguousRunId(prefix, sorted(shas))
    return shas.pop() if shas else None


class RunIndex:
    """The per-ref commit rows, loaded from and saved to one msgpack file.

    Args:
        path: where the index file lives (its folder is created on save).
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self._refs: dict[str, list] | None = None  # ref -> [tip, rows newest first]
        self._trees: dict[str, str] | None = None  # commit -> tree, built on demand

    def _loaded(self) -> dict[str, list]:
        if self._refs is None:
            self._refs = self._read_file()
        return self._refs

    def _read_file(self) -> dict[str, list]:
        import msgpack

        try:
            with open(self.path, "rb") as f:
                data = msgpack.unpackb(f.read(), raw=False, use_list=True)
            if isinstance(data, dict) and data.get("v") == INDEX_VERSION:
                refs = data["refs"]
                if isinstance(refs, dict):
                    return refs
        except (OSError, ValueError, KeyError, TypeError, msgpack.UnpackException):
            pass  # missing, torn or foreign: rebuilt from the refs below
        return {}

    def forget(self) -> None:
        """Drop the in-memory copy and delete the file; the next sync rebuilds."""
        self._refs = {}
        self._trees = None
        try:
            os.remove(self.path)
        except FileNotFoundError:
            pass

    def sync(
        self,
        tips: Mapping[str, str],
        covers: Callable[[str], bool],
        read_commit: Callable[[str], CommitFacts | None],
    ) -> None:
        """Bring the rows of every ref ``covers`` accepts in line with ``tips``.

        Args:
            tips: the current tip of each ref in scope.
            covers: whether a ref is in scope (refs in scope but not in ``tips``
                were deleted and are dropped).
            read_commit: reads one commit, or returns None when it is missing.
        """
        refs = self._loaded()
        changed = False
        for ref in [r for r in refs if covers(r) and r not in tips]:
            del refs[ref]
            changed = True
        for ref, tip in tips.items():
            known = refs.get(ref)
            if known is not None and known[0] == tip:
                continue
            refs[ref] = [tip, _walk_rows(tip, known, read_commit)]
            changed = True
        if changed:
            self._save()

    def rows(self, covers: Callable[[str], bool]) -> Iterator[tuple[str, int, list]]:
        """Yield ``(ref, position, row)`` for every row of every ref in scope."""
        for ref, (_tip, rows) in self._loaded().items():
            if covers(ref):
                for position, row in enumerate(rows):
                    yield ref, position, row

    def tree_of(self, sha: str) -> str | None:
        """The tree of an indexed commit, without reading the commit."""
        if self._refs is None:
            return None
        if self._trees is None:
            self._trees = {row[0]: row[1] for _tip, rows in self._refs.values() for row in rows}
        return self._trees.get(sha)

    def _save(self) -> None:
        import msgpack

        self._trees = None  # rows changed: the tree map is rebuilt on demand
        folder = os.path.dirname(self.path)
        try:
            os.makedirs(folder, exist_ok=True)
            import tempfile  # only when saving: ~4 ms of import time with shutil

            fd, tmp = tempfile.mkstemp(prefix=".runindex-", dir=folder)
            with os.fdopen(fd, "wb") as f:
                f.write(msgpack.packb({"v": INDEX_VERSION, "refs": self._refs}, use_bin_type=True))
            # No fsync: a torn index after a crash fails to load and is rebuilt.
            os.replace(tmp, self.path)
        except OSError:
            pass  # a read-only repository still lists runs, just without the cache


def _walk_rows(tip: str, known: list | None, read_commit: Callable[[str], CommitFacts | None]) -> list:
    """Rows from ``tip`` down the first-parent chain, reusing ``known`` rows."""
    old_tip, old_rows = (known[0], known[1]) if known else (None, [])
    new_rows: list = []
    sha: str | None = tip
    while sha is not None:
        if sha == old_tip:
            return new_rows + old_rows
        facts = read_commit(sha)
        if facts is None:
            break  # a missing parent (shallow clone, broken repo): list what we can
        new_rows.append(row_for(sha, facts))
        sha = facts.parents[0] if facts.parents else None
    return new_rows
