"""An append-only log of the commits this machine recorded, to speed index catch-up.

``History.record`` appends each new commit's facts (tree, time, parents,
message) with one ``O_APPEND`` write. When a reader brings the run index up to
date it takes facts from here instead of inflating thousands of loose commit
objects (10,000 runs: ~2.8 s of git reads). The log is a cache in front of git
(DESIGN.md invariant 6): a record lost to a crash or a truncation race is read
from the commit itself.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flowyml.store.recordlog import append_record, read_records
from flowyml.store.runindex import CommitFacts


def append_commit(path: str, commit: Any) -> None:
    """Append one dulwich commit's facts (best effort: never fails a record)."""
    record = [commit.id.decode(), commit.tree.decode(), commit.commit_time,
              [p.decode() for p in commit.parents], commit.message.decode("utf-8", "replace")]
    try:
        append_record(path, record)
    except OSError:
        pass  # a read-only folder: readers fall back to git


def read_commits(path: str) -> dict[str, CommitFacts]:
    """Every logged commit by sha (a torn or foreign record is ignored)."""
    facts: dict[str, CommitFacts] = {}
    for record in read_records(path):
        if isinstance(record, list) and len(record) == 5:
            sha, tree, when, parents, message = record
            facts[sha] = CommitFacts(tree, when, tuple(parents), message)
    return facts


def truncate_log(path: str) -> None:
    """Empty the log once the index holds everything in it."""
    try:
        with open(path, "r+b") as f:
            f.truncate(0)
    except OSError:
        pass


class LoggedFacts:
    """``read_commit`` for :meth:`RunIndex.sync`: the log first, then ``fallback`` (git).

    The log is read on the first lookup only, so an index that is up to date costs nothing.
    """

    def __init__(self, path: str, fallback: Callable[[str], CommitFacts | None]) -> None:
        self._path = path
        self._fallback = fallback
        self._logged: dict[str, CommitFacts] | None = None

    @property
    def used(self) -> bool:
        """True when the log was read and held commits."""
        return bool(self._logged)

    def __call__(self, sha: str) -> CommitFacts | None:
        if self._logged is None:
            self._logged = read_commits(self._path)
        return self._logged.get(sha) or self._fallback(sha)
