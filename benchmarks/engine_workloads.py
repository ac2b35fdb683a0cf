"""The scripts bench_engine.py times: each runs as its own process in a fresh folder.

Ours and flowyml 2.2.1's variants of the same workloads (a chain of trivial steps; a
large DataFrame built by one step and summed by the next), and the plain-Python
baselines. Each writes its own timings as JSON to the path it is given.
"""

_REPORT = """
def report(path, **values):
    with open(path, "w") as f:
        json.dump(values, f)
"""

CHAIN_OURS = """
import json, sys, time
t_import = time.perf_counter()
from flowyml import Pipeline, step
t_import = time.perf_counter() - t_import
""" + _REPORT + """

def main(n, out):
    t0 = time.perf_counter()
    pipeline = Pipeline("chain")

    @step(outputs=["v0"])
    def start():
        return 0

    pipeline.add_step(start)
    for i in range(1, n):
        def inc(x):
            return x + 1
        pipeline.add_step(step(inc, name=f"s{i}", inputs=[f"v{i - 1}"], outputs=[f"v{i}"]))
    t1 = time.perf_counter()
    result = pipeline.run()
    t2 = time.perf_counter()
    cached = sum(bool(r.cached) for r in result.step_results.values())
    # The same pipeline run again in this process (a notebook's second run): no one-time costs.
    again = pipeline.run()
    t3 = time.perf_counter()
    report(out, import_s=t_import, define_s=t1 - t0, run_s=t2 - t1, success=bool(result.success),
           last=result[f"v{n - 1}"], cached=cached, steps=len(result.step_results),
           again_s=t3 - t2, again_cached=sum(bool(r.cached) for r in again.step_results.values()))

main(int(sys.argv[1]), sys.argv[2])
"""

CHAIN_PEER = """
import json, sys, time
t_import = time.perf_counter()
from flowyml import Pipeline, step
t_import = time.perf_counter() - t_import
""" + _REPORT + """

def main(n, out, ui):
    t0 = time.perf_counter()
    pipeline = Pipeline("chain")

    @step(outputs=["v0"], name="s0")
    def start():
        return 0

    pipeline.add_step(start)
    for i in range(1, n):
        def inc(x):
            return x + 1
        pipeline.add_step(step(inc, name=f"s{i}", inputs=[f"v{i - 1}"], outputs=[f"v{i}"]))
    t1 = time.perf_counter()
    result = pipeline.run() if ui else pipeline.run(auto_start_ui=False)
    t2 = time.perf_counter()
    cached = sum(bool(getattr(r, "cached", False)) for r in result.step_results.values())
    again = pipeline.run() if ui else pipeline.run(auto_start_ui=False)
    t3 = time.perf_counter()
    report(out, import_s=t_import, define_s=t1 - t0, run_s=t2 - t1, success=bool(result.success),
           last=result.outputs.get(f"v{n - 1}"), cached=cached, steps=len(result.step_results),
           again_s=t3 - t2, again_cached=sum(bool(getattr(r, "cached", False)) for r in again.step_results.values()))

main(int(sys.argv[1]), sys.argv[3], sys.argv[2] == "ui")
"""

# The two steps of the DataFrame workload, the same for ours and the peer (same API here).
_FRAME_STEPS = """
@step(outputs=["frame"])
def build_frame():
    rng = np.random.default_rng(0)
    return pd.DataFrame(rng.random((ROWS, 4)), columns=["a", "b", "c", "d"])

@step(inputs=["frame"], outputs=["total"])
def total(frame):
    return float(frame.sum().sum())
"""

FRAME_OURS = """
import json, sys, time
import numpy as np
import pandas as pd
from flowyml import Pipeline, step
""" + _REPORT + """
ROWS = int(sys.argv[1])
""" + _FRAME_STEPS + """
pipeline = Pipeline("frame").add_step(build_frame).add_step(total)
t0 = time.perf_counter()
result = pipeline.run()
t1 = time.perf_counter()
rec = result.outputs.record("frame")
report(sys.argv[2], run_s=t1 - t0, total=result["total"], success=bool(result.success),
       codec=rec.codec, stored_bytes=rec.size)
"""

FRAME_PEER = """
import json, sys, time
import numpy as np
import pandas as pd
from flowyml import Pipeline, step
""" + _REPORT + """
ROWS = int(sys.argv[1])
""" + _FRAME_STEPS + """
pipeline = Pipeline("frame")
pipeline.add_step(build_frame)
pipeline.add_step(total)
t0 = time.perf_counter()
result = pipeline.run() if sys.argv[2] == "ui" else pipeline.run(auto_start_ui=False)
t1 = time.perf_counter()
report(sys.argv[3], run_s=t1 - t0, total=result.outputs.get("total"), success=bool(result.success))
"""

FRAME_PLAIN = """
import json, os, pickle, sys, time
import numpy as np
import pandas as pd
""" + _REPORT + """
ROWS = int(sys.argv[1])

def build_frame():
    rng = np.random.default_rng(0)
    return pd.DataFrame(rng.random((ROWS, 4)), columns=["a", "b", "c", "d"])

def with_pickle(path, sync):
    t0 = time.perf_counter()
    frame = build_frame()
    with open(path, "wb") as f:
        pickle.dump(frame, f, protocol=pickle.HIGHEST_PROTOCOL)
        if sync:
            f.flush()
            os.fsync(f.fileno())
    del frame
    with open(path, "rb") as f:
        loaded = pickle.load(f)
    result = float(loaded.sum().sum())
    return time.perf_counter() - t0, result

def with_parquet(path):
    t0 = time.perf_counter()
    build_frame().to_parquet(path)
    result = float(pd.read_parquet(path).sum().sum())
    return time.perf_counter() - t0, result

t0 = time.perf_counter()
import pyarrow.parquet  # timed apart: the pipeline's run() pays it lazily, the others here do not
pyarrow_import_s = time.perf_counter() - t0
pickle_s, total = with_pickle("frame.pkl", sync=False)
pickle_sync_s, _ = with_pickle("frame_sync.pkl", sync=True)
parquet_s, total_pq = with_parquet("frame.parquet")
report(sys.argv[2], pickle_s=pickle_s, pickle_fsync_s=pickle_sync_s, parquet_s=parquet_s,
       pyarrow_import_s=pyarrow_import_s, total=total, total_parquet=total_pq,
       bytes=os.path.getsize("frame.pkl"))
"""

