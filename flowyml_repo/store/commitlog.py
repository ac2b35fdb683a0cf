"""What a recorded commit says: its message with trailers, and a log of the commits recorded here.

:func:`compose_message` writes the message every flowyml commit carries (the
caller's text, then one ``Key: value`` trailer paragraph, so plain ``git log``
shows the run id); :func:`parse_trailers` reads it back. Both live here, on the
record path, rather than in :mod:`flowyml.store.runindex`, which only listings need
(its import costs ~2 ms that recording a run does not have to pay).

``History.record`` also appends each new commit's facts (tree, time, parents,
message) with one ``O_APPEND`` write. When a reader brings the run index up to
date it takes facts from here instead of inflating thousands of loose commit
objects (10,000 runs: ~2.8 s of git reads). The log is a cache in front of git
(DESIGN.md invariant 6): a record lost to a crash or a truncation race is read
from the commit itself.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from flowyml.store.recordlog import append_record, read_records

__all__ = ["RUN_ID_TRAILER", "CommitFacts", "LoggedFacts", "append_commit", "compose_message",
           "parse_trailers", "read_commits", "truncate_log"]

RUN_ID_TRAILER = "Flowyml-Run-Id"

_TRAILER_LINE = re.compile(r"^([A-Za-z0-9][A-Za-z0-9-]*): ?(.*)$")
_TRAILER_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]*$")
_RUN_ID = re.compile(r"^[0-9a-f]{4,64}$")


class CommitFacts(NamedTuple):
    """What the run index needs from one commit (logged here, or read from git)."""

    tree: str
    time: int
    parents: tuple[str, ...]
    message: str


# -- the message -----------------------------------------------------------------


def compose_message(message: str, run_id: str | None, trailers: Mapping[str, str]) -> bytes:
    """The commit message: the caller's text, then one trailer paragraph.

    Raises:
        ValueError: a run id that is not 4-64 lower-case hex digits, or a trailer
            whose key is not ``[A-Za-z0-9-]`` or whose value spans lines.
    """
    lines = []
    if run_id is not None:
        if not _RUN_ID.match(run_id):
            raise ValueError(f"run id must be 4-64 lower-case hex digits, not {run_id!r}")
        if dict(parse_trailers(message)).get(RUN_ID_TRAILER) != run_id:
            lines.append(f"{RUN_ID_TRAILER}: {run_id}")
    for key, value in trailers.items():
        if not _TRAILER_KEY.match(key) or "\n" in str(value) or "\r" in str(value):
            raise ValueError(f"bad trailer {key!r}: {value!r}")
        lines.append(f"{key}: {value}")
    text = message.strip("\n") or "flowyml run"
    if lines:
        # Extend an existing trailer paragraph: git reads only the last one.
        text += ("\n" if parse_trailers(text) else "\n\n") + "\n".join(lines)
    return (text + "\n").encode("utf-8")


def parse_trailers(message: str) -> tuple[tuple[str, str], ...]:
    """The ``Key: value`` lines of a message's last paragraph, git-trailer style.

    Args:
        message: a full commit message.

    Returns:
        The trailers in order; empty unless every line of the last paragraph is one.
    """
    paragraphs = message.strip("\n").split("\n\n")
    if len(paragraphs) < 2:
        return ()
    pairs = []
    for line in paragraphs[-1].splitlines():
        match = _TRAILER_LINE.match(line)
        if not match:
            return ()
        pairs.append((match.group(1), match.group(2).strip()))
    return tuple(pairs)


# -- the log ---------------------------------------------------------------------


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
