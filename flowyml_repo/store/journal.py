"""Per-run checkpoint journals: each finished step, appended as it finishes.

``<root>/runs/<run_id>.journal`` is a stream of msgpack records: a
``start`` record with the run's identity, then one ``step`` record per finished
step. Appends are single ``write`` calls on an ``O_APPEND`` descriptor, so a
``kill -9`` loses at most the step in flight; a torn last record is ignored on
read. ``rerun(run_id)`` reads it to resume a run that never finished.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

from flowyml.store.recordlog import open_log, read_records, record_packer


class Journal:
    """An append-only checkpoint journal for one run.

    Args:
        root: the store root.
        run_id: the run this journal belongs to.
    """

    def __init__(self, root: str | os.PathLike[str], run_id: str) -> None:
        self.path = Path(root) / "runs" / f"{run_id}.journal"
        self._fd: int | None = None
        self._packer: Any = None
        self._lock = threading.Lock()  # an inner pipeline's steps append from their own thread

    def append(self, record: dict) -> None:
        """Append one record (opening the journal on first use)."""
        with self._lock:
            if self._fd is None:
                self._fd = open_log(self.path)
                self._packer = record_packer()
            os.write(self._fd, self._packer.pack(record))

    def close(self, remove: bool = False) -> None:
        """Close the journal; ``remove`` deletes it (the run is safely in the history)."""
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None
        if remove:
            try:
                self.path.unlink()
            except FileNotFoundError:
                pass

    def read(self) -> list[dict]:
        """Every complete record, in order (a torn tail from a crash is dropped)."""
        return read_records(self.path)
