"""Files read by native readers (pyarrow, polars, pandas' Parquet) are cache dependencies.

Their C++/Rust code opens files without an audit event; ``nativereads`` wraps the entry
points. Each pipeline test runs a real pipeline, changes the file, and counts which
steps actually ran from a log the steps append to (as ``test_cache_rules`` does).
"""

from __future__ import annotations

import os
import runpy
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")
pd = pytest.importorskip("pandas")
pl = pytest.importorskip("polars")

from flowyml import Pipeline, ProcessExecutor, ThreadExecutor, context, step  # noqa: E402
from flowyml.execution.filedeps import MISSING, FileReads, changed_files, digest_files, record_source  # noqa: E402

PIPELINE = '''
import pandas as pd
import polars as pl
import pyarrow.dataset as ds
import pyarrow.ipc
import pyarrow.parquet as pq
from flowyml import Pipeline, context, step

def log(name):
    with open("calls.log", "a") as f:
        f.write(name + "\\n")

@step(outputs=["values"])
def load(data_path: str):
    log("load")
    return sorted(READ)

@step(inputs=["values"], outputs=["total"])
def total(values):
    log("total")
    return sum(values)

pipeline = Pipeline("native", context=context(data_path="SOURCE"))
pipeline.add_step(load).add_step(total)
result = pipeline.run()
'''

# name -> (expression reading column "a" of data_path as a list, file or folder, format)
READERS = {
    "pandas.read_parquet": ('pd.read_parquet(data_path)["a"].tolist()', "data.parquet", "parquet"),
    "pandas.read_feather": ('pd.read_feather(data_path)["a"].tolist()', "data.arrow", "arrow"),
    "pyarrow.ipc.open_file": ('pyarrow.ipc.open_file(data_path).read_all().column("a").to_pylist()',
                              "data.arrow", "arrow"),
    "pyarrow.parquet.read_table": ('pq.read_table(data_path).column("a").to_pylist()', "data.parquet", "parquet"),
    "pyarrow.parquet.ParquetFile": ('pq.ParquetFile(data_path).read().column("a").to_pylist()',
                                    "data.parquet", "parquet"),
    "polars.read_parquet": ('pl.read_parquet(data_path)["a"].to_list()', "data.parquet", "parquet"),
    "polars.scan_parquet": ('pl.scan_parquet(data_path).collect()["a"].to_list()', "data.parquet", "parquet"),
    "polars.read_csv": ('pl.read_csv(data_path)["a"].to_list()', "data.csv", "csv"),
    "polars.read_ipc": ('pl.read_ipc(data_path)["a"].to_list()', "data.arrow", "arrow"),
    "pyarrow.dataset(folder)": ('ds.dataset(data_path, format="parquet").to_table().column("a").to_pylist()',
                                "parts", "folder"),
    "pandas.read_parquet(folder)": ('pd.read_parquet(data_path)["a"].tolist()', "parts", "folder"),
    "polars.read_parquet(glob)": ('pl.read_parquet(data_path + "/*.parquet")["a"].to_list()', "parts", "folder"),
    "open(rb) into pyarrow": ('pq.read_table(open(data_path, "rb")).column("a").to_pylist()',
                              "data.parquet", "parquet"),
}


def write(path: Path, fmt: str, a: list[int], b: list[int] | None = None) -> None:
    """Write column ``a`` (and ``b``, which no step uses: other bytes, same output)."""
    columns = {"a": a} if b is None else {"a": a, "b": b}
    table = pa.table(columns)
    if fmt == "parquet":
        pq.write_table(table, path)
    elif fmt == "arrow":
        with pa.ipc.new_file(path, table.schema) as writer:
            writer.write_table(table)
    elif fmt == "csv":
        pl.from_arrow(table).write_csv(path)
    else:  # a folder of Parquet parts: a, b split over two files
        path.mkdir(exist_ok=True)
        half = len(a) // 2
        for i, rows in enumerate((slice(0, half), slice(half, None))):
            pq.write_table(table.slice(rows.start, (rows.stop or len(a)) - rows.start), path / f"part-{i}.parquet")


def touch(path: Path) -> None:
    for file in [path] if path.is_file() else sorted(path.iterdir()):
        st = file.stat()
        os.utime(file, ns=(st.st_atime_ns + 5_000_000_000, st.st_mtime_ns + 5_000_000_000))


class Project:
    def __init__(self, root: Path, read: str, source: str) -> None:
        self.root = root
        self.source = PIPELINE.replace("READ", read).replace("SOURCE", source)
        self.n = 0

    def run(self) -> dict:
        self.n += 1
        (self.root / "calls.log").unlink(missing_ok=True)
        path = self.root / f"pipe_{self.n}.py"
        path.write_text(self.source)
        g = runpy.run_path(str(path), run_name="__main__")
        assert g["result"].success, g["result"].summary()
        return g

    def executed(self) -> list[str]:
        log = self.root / "calls.log"
        return log.read_text().split() if log.exists() else []


@pytest.mark.parametrize("reader", sorted(READERS))
def test_a_native_read_reruns_on_content_change_not_on_touch(reader, workdir):
    read, name, fmt = READERS[reader]
    data = workdir / name
    write(data, fmt, [1, 2, 3, 4])
    p = Project(workdir, read, name)
    g = p.run()
    assert p.executed() == ["load", "total"]
    assert g["result"].outputs["total"] == 10

    touch(data)
    p.run()
    assert p.executed() == []

    write(data, fmt, [1, 2, 3, 4], b=[9, 9, 9, 9])  # other bytes, same values of "a"
    p.run()
    assert p.executed() == ["load"]

    write(data, fmt, [1, 2, 3, 5])
    g = p.run()
    assert p.executed() == ["load", "total"]
    assert g["result"].outputs["total"] == 11


@pytest.mark.parametrize("reader", ["pyarrow.dataset(folder)", "polars.read_parquet(glob)"])
def test_a_partition_added_to_a_dataset_reruns_the_reader(reader, workdir):
    read, name, fmt = READERS[reader]
    data = workdir / name
    write(data, fmt, [1, 2, 3, 4])
    p = Project(workdir, read, name)
    p.run()
    pq.write_table(pa.table({"a": [100]}), data / "part-9.parquet")
    g = p.run()
    assert p.executed() == ["load", "total"]
    assert g["result"].outputs["total"] == 110
    (data / "part-9.parquet").unlink()
    g = p.run()
    assert p.executed() == ["load"]  # back to the first run's values: total is cached from then
    assert g["result"].outputs["total"] == 10


# -- the executors (steps at module level: importable by worker processes) ------------------


@step(outputs=["values"])
def load_parquet(data_path: str) -> list[int]:
    return pq.read_table(data_path).column("a").to_pylist()


@step(outputs=["count"])
def scan_with_polars(data_path: str) -> int:
    return pl.scan_parquet(data_path).collect().height


@pytest.mark.slow
@pytest.mark.parametrize("make", [lambda: ThreadExecutor(max_workers=2), lambda: ProcessExecutor(max_workers=1)],
                         ids=["threads", "processes"])
def test_thread_and_process_executors_record_native_reads(make, workdir):
    data = workdir / "data.parquet"
    write(data, "parquet", [1, 2, 3])
    executor = make()
    try:
        def run():
            pipeline = Pipeline("executors", context=context(data_path=str(data)))
            pipeline.add_step(load_parquet).add_step(scan_with_polars)
            result = pipeline.run(executor=executor)
            assert result.success, result.summary()
            return result, {name: rec.status for name, rec in result.manifest.steps.items()}

        first, statuses = run()
        assert set(statuses.values()) == {"success"}
        assert run()[1] == {"load_parquet": "cached", "scan_with_polars": "cached"}
        write(data, "parquet", [1, 2, 3, 4])
        again, statuses = run()
        assert statuses == {"load_parquet": "success", "scan_with_polars": "success"}
        assert again["values"] == [1, 2, 3, 4] and again["count"] == 4
    finally:
        executor.close()


# -- what is and is not recorded ---------------------------------------------------------------


def test_a_step_that_uses_no_table_library_wraps_nothing(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    script = textwrap.dedent('''
        import sys
        from flowyml import Pipeline, step

        @step(outputs=["text"])
        def read_notes():
            with open("notes.txt") as f:
                return f.read()

        result = Pipeline("plain").add_step(read_notes).run()
        from flowyml.execution import nativereads
        assert result.success and result["text"] == "hello"
        assert nativereads._wrapped == {}, nativereads._wrapped
        print(sorted(m for m in ("pandas", "pyarrow", "polars") if m in sys.modules))
    ''')
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "FLOWYML_"))}
    out = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split("\n")[-2] == "[]"


def test_a_library_first_imported_inside_the_step_is_covered(tmp_path):
    data = tmp_path / "data.parquet"
    write(data, "parquet", [1, 2])
    script = textwrap.dedent(f'''
        import sys
        from flowyml.execution.filedeps import FileReads
        assert "polars" not in sys.modules and "pyarrow" not in sys.modules
        with FileReads() as reads:
            import polars as pl
            pl.read_parquet({str(data)!r})
        import pandas as pd
        assert "pyarrow.parquet" not in sys.modules  # pandas imports it in its first read_parquet
        with FileReads() as lazy:
            pd.read_parquet({str(data)!r})
        print(sorted(reads.paths), sorted(lazy.paths))
    ''')
    out = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == f"[{str(data)!r}] [{str(data)!r}]"


def test_urls_buffers_and_file_objects_are_not_sources(tmp_path):
    data = tmp_path / "data.parquet"
    write(data, "parquet", [1])
    contents = data.read_bytes()
    with FileReads() as reads:
        record_source("s3://bucket/data.parquet")
        record_source(f"file://{data}")
        record_source(contents)
        record_source(pa.BufferReader(contents))
        record_source(None)
    assert reads.paths == set()
    with FileReads() as reads:
        record_source([data, str(tmp_path / "absent.parquet")])
    assert reads.paths == {str(data), str(tmp_path / "absent.parquet")}


def test_a_folder_digest_covers_names_and_contents_not_times(tmp_path):
    folder = tmp_path / "parts"
    write(folder, "folder", [1, 2, 3, 4])
    deps = digest_files([str(folder)])
    assert deps[str(folder)] != MISSING
    touch(folder)
    assert changed_files(deps) == []
    (folder / "part-0.parquet").rename(folder / "part-00.parquet")
    assert changed_files(deps) == [str(folder)]


def test_a_glob_digest_is_missing_until_something_matches(tmp_path):
    pattern = str(tmp_path / "*.parquet")
    with FileReads() as reads:
        record_source(pattern)
    assert reads.paths == {pattern}
    deps = digest_files(reads.paths)
    assert deps == {pattern: MISSING}
    write(tmp_path / "one.parquet", "parquet", [1])
    assert changed_files(deps) == [pattern]


def test_wrapped_entry_points_keep_the_original_and_class_identity():
    from flowyml.execution.nativereads import wrap_readers

    with FileReads():
        wrap_readers()
    assert pq.read_table.__wrapped__.__name__ == "read_table"
    assert pq.ParquetFile.__init__.__wrapped__ is not pq.ParquetFile.__init__
    assert pq.ParquetFile.__name__ == "ParquetFile" and pd.read_parquet.__name__ == "read_parquet"
    before = pq.read_table
    with FileReads():
        wrap_readers()
    assert pq.read_table is before  # once per process
