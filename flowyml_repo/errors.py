"""The one exception tree of flowyml.

::

    FlowymlError
    ├── PipelineDefinitionError      cycle, missing input, duplicate output, bad config
    │   └── TypeMismatchError        build-time type validation failed
    ├── StepFailed                   a step raised; .step_name, .run_id, __cause__ kept
    ├── ConditionError               a @when predicate itself raised
    ├── StoreError
    │   ├── ObjectNotFound           (also a KeyError)
    │   ├── CorruptObject            bytes no longer hash to their oid
    │   └── CodecError               a value no codec can store, or a refused codec
    ├── HistoryError                 run history (git refs) problems
    │   ├── RunNotFound              (also a KeyError)
    │   ├── AmbiguousRunId
    │   └── RefConflict              compare-and-swap lost the race too often
    └── MapTaskError                 a map task missed its min_success_ratio
"""

from __future__ import annotations


class FlowymlError(Exception):
    """Base for every error flowyml raises deliberately."""


class PipelineDefinitionError(FlowymlError):
    """The pipeline cannot be built: a cycle, a missing input, a duplicate output.

    Attributes:
        steps: names of the steps involved, in the order they matter.
    """

    def __init__(self, message: str, steps: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.steps = tuple(steps)


class TypeMismatchError(PipelineDefinitionError):
    """Build-time type validation failed.

    Attributes:
        errors: one line per hard mismatch.
        warnings: one line per possible issue.
    """

    def __init__(self, errors: list[str], warnings: list[str], steps: tuple[str, ...] = ()) -> None:
        lines = ["Pipeline type validation failed:"] + [f"  - {e}" for e in errors]
        super().__init__("\n".join(lines), steps)
        self.errors = list(errors)
        self.warnings = list(warnings)


class StepFailed(FlowymlError):
    """A step raised while running; the original exception is ``__cause__``.

    Attributes:
        step_name: the step that failed.
        run_id: the run it failed in (None outside a run).
        traceback: the formatted traceback of the original exception.
    """

    def __init__(self, step_name: str, run_id: str | None = None, traceback: str = "") -> None:
        super().__init__(f"step {step_name!r} failed" + (f" in run {run_id}" if run_id else ""))
        self.step_name = step_name
        self.run_id = run_id
        self.traceback = traceback


class ConditionError(FlowymlError):
    """A ``@when`` predicate raised instead of returning a truth value."""


class StoreError(FlowymlError):
    """Base for object-store problems."""


class ObjectNotFound(StoreError, KeyError):
    """No object with this oid is in the store.

    Attributes:
        oid: the object id asked for.
    """

    def __init__(self, oid: str, where: str = "") -> None:
        StoreError.__init__(self, f"object {oid} not found" + (f" in {where}" if where else ""))
        self.oid = oid

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0])


class CorruptObject(StoreError):
    """An object's bytes no longer hash to its oid.

    Attributes:
        oid: the oid the object is stored under (expected hash).
        actual: the hash of the bytes found.
        path: where the bytes were read from.
    """

    def __init__(self, oid: str, actual: str, path: str = "") -> None:
        super().__init__(
            f"object {oid} is corrupt: its bytes hash to {actual}"
            + (f" ({path})" if path else "")
            + "; run `flowyml fsck` and re-run the step that produced it"
        )
        self.oid = oid
        self.actual = actual
        self.path = path


class CodecError(StoreError):
    """A value cannot be encoded or decoded with the codec asked for."""


class HistoryError(FlowymlError):
    """Base for run-history (git refs) problems."""


class RunNotFound(HistoryError, KeyError):
    """No recorded run matches the id or prefix."""

    def __str__(self) -> str:
        return str(self.args[0])


class AmbiguousRunId(HistoryError):
    """A run id prefix matches more than one run.

    Attributes:
        matches: the full run ids it matches.
    """

    def __init__(self, prefix: str, matches: list[str]) -> None:
        super().__init__(f"run id prefix {prefix!r} is ambiguous: {', '.join(sorted(matches)[:5])}")
        self.matches = list(matches)


class RefConflict(HistoryError):
    """A ref kept moving under a compare-and-swap; the update was not made."""


class MapTaskError(FlowymlError):
    """A map task finished with a success ratio below its minimum.

    Attributes:
        result: the MapResult with every success and failure.
    """

    def __init__(self, message: str, result: object = None) -> None:
        super().__init__(message)
        self.result = result
