"""An example flowyml pipeline (plain Python values: no pandas needed).

Run it with ``flowyml run pipeline.py`` (or ``python pipeline.py``); run it again
and every step is cached. Try ``flowyml run pipeline.py --context factor=3``,
then ``flowyml runs`` and ``flowyml diff <old run> <new run>``.

Files run by ``flowyml run`` are imported, not executed as ``__main__``: keep
``pipeline.run()`` under ``if __name__ == "__main__":`` so it does not run twice.
"""

from flowyml import Metrics, Pipeline, context, step


@step(outputs=["numbers"])
def load(size: int) -> list:
    """Make some data (a real pipeline would read a file here)."""
    return list(range(1, size + 1))


@step(inputs=["numbers"], outputs=["scaled"])
def scale(numbers: list, factor: float) -> list:
    return [n * factor for n in numbers]


@step(inputs=["scaled"], outputs=["summary"])
def summarize(scaled: list) -> Metrics:
    return Metrics({"count": len(scaled), "mean": sum(scaled) / len(scaled), "max": max(scaled)},
                   name="summary")


pipeline = Pipeline("example", context=context(size=10, factor=2.0))
pipeline.add_step(load).add_step(scale).add_step(summarize)

if __name__ == "__main__":
    result = pipeline.run()
    print(result.summary())
