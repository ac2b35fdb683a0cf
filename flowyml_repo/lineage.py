"""Lineage across runs: which executions consumed an object, transitively.

Upstream lineage is in each manifest (a step's inputs name the outputs that fed
it). Downstream lineage needs every run, so a small index maps each run commit
to its steps' input and output oids. It lives at
``<git dir>/flowyml/lineage.msgpack``, is extended with the runs it has not
seen yet on each query, and is rebuilt from the refs when missing (DESIGN.md
invariant 6: never the only copy).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from flowyml.manifest import OutputRecord
from flowyml.store.recordlog import append_record, read_records

if TYPE_CHECKING:
    from flowyml.runs import Artifact, RunHistory

INDEX_FILE = "lineage-v2.msgpack"
LOG_FILE = "lineage-v2.log"


def rows_of(manifest: Any) -> list:
    """The lineage rows of one run: ``[[step, [input oids], [[output, oid, codec, size], …]], …]``."""
    return [[name, sorted(rec.key_parts.get("inputs", {}).values()),
             [[o, r.oid, r.codec, r.size] for o, r in rec.outputs.items()]]
            for name, rec in manifest.steps.items()]


def append_run(git_dir: str, sha: str, manifest: Any) -> None:
    """Append a just-recorded run's rows to the lineage log (one ``O_APPEND`` write).

    Best effort: a lost or torn record only means that run's manifest is read
    again by the next query.
    """
    append_record(os.path.join(git_dir, "flowyml", LOG_FILE), [sha, rows_of(manifest)])


def _read_log(path: str) -> dict[str, list]:
    """Logged rows by commit; a run whose record is missing is read from its manifest."""
    return {r[0]: r[1] for r in read_records(path) if isinstance(r, list) and len(r) == 2}


def lineage_rows(repo: RunHistory) -> dict[str, list]:
    """``{commit sha: [[step, [input oids], [[output, oid], …]], …]}`` for every run."""
    import msgpack

    from flowyml.records import is_run_ref

    folder = os.path.join(repo.history.git_dir, "flowyml")
    path = os.path.join(folder, INDEX_FILE)
    try:
        with open(path, "rb") as f:
            index: dict[str, list] = msgpack.unpackb(f.read(), raw=False, strict_map_key=False)
    except Exception:  # missing or damaged: rebuilt below from the log and the manifests
        index = {}
    logged = _read_log(os.path.join(folder, LOG_FILE))
    entries = [e for e in repo.history.list_runs(ref_prefix="refs/flowyml/", limit=None)
               if e.run_id and is_run_ref(e.ref)]
    live = {e.sha for e in entries}
    stale = [sha for sha in index if sha not in live]  # refs rewritten or deleted since
    for sha in stale:
        del index[sha]
    missing = [e for e in entries if e.sha not in index]
    for e in missing:
        index[e.sha] = logged[e.sha] if e.sha in logged else rows_of(repo.manifest(e.sha))
    if len(missing) > 64 or stale:  # fold the log into the index now and then, not on every query
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "wb") as f:
            f.write(msgpack.packb(index, use_bin_type=True))  # never hashed: no canonical sort needed
        os.replace(tmp, path)
        # the log is folded in; a run appended since our read is simply read from its manifest later
        with open(os.path.join(folder, LOG_FILE), "ab") as log:
            log.truncate(0)
    repo._lineage_entries = {e.sha: e for e in entries}
    repo._lineage_runs = {}
    return index


def downstream_of(repo: RunHistory, oid: str) -> list[Artifact]:
    """Every artifact computed (in any run) from ``oid``, transitively, nearest first."""
    index = lineage_rows(repo)
    consumers: dict[str, list[tuple[str, str, list]]] = {}
    for sha, steps in index.items():
        for step, inputs, outputs in steps:
            for i in inputs:
                for out in outputs:
                    consumers.setdefault(i, []).append((sha, step, out))
    found: list[Artifact] = []
    seen_oids = {oid}
    seen = set()
    frontier = [oid]
    while frontier:
        nxt = []
        for current in frontier:
            for sha, step, (out, out_oid, codec, size) in consumers.get(current, ()):
                if (sha, out) in seen:
                    continue
                seen.add((sha, out))
                found.append(_artifact(repo, sha, step, out, OutputRecord(out_oid, codec, size)))
                if out_oid not in seen_oids:
                    seen_oids.add(out_oid)
                    nxt.append(out_oid)
        frontier = nxt
    return found


def producers_of(repo: RunHistory, oid: str) -> list[tuple[str, str, str]]:
    """``(run_id, step, output)`` of every run step whose output has these bytes, newest first."""
    index = lineage_rows(repo)
    entries: dict[str, Any] = repo._lineage_entries
    hits = []
    for sha, steps in index.items():
        for step, _inputs, outputs in steps:
            for out, out_oid, *_ in outputs:
                if out_oid == oid and sha in entries:
                    hits.append((entries[sha].time, entries[sha].run_id, step, out))
    return [(r, s, o) for _t, r, s, o in sorted(hits, reverse=True)]


def _artifact(repo: RunHistory, sha: str, step: str, output: str, record: OutputRecord) -> Artifact:
    from flowyml.runs import Artifact, Run

    runs = repo._lineage_runs
    run = runs.get(sha)
    if run is None:
        entry = repo._lineage_entries[sha]
        run = runs[sha] = Run(repo, entry.run_id, sha, entry.ref, entry.time, entry.summary, dict(entry.trailers))
    return Artifact(repo, run, step, output, record)
