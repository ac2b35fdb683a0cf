"""``flowyml run FILE.py[:PIPELINE]``: run a pipeline with a live view of its steps."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

import click

from flowyml.cli.output import (FAILED, USAGE, CliError, RunProgress, emit_json, json_option, live_enabled,
                                one_line)

_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}

context_option = click.option(
    "--context", "-c", "overrides", multiple=True, metavar="KEY=VALUE",
    help="Override a context value (repeatable); parsed as the type of its current value "
         "(int, float, bool, str; JSON for lists and dicts).")


@click.command(short_help="Run a pipeline from FILE.py, with live progress.")
@click.argument("target", metavar="FILE.py[:PIPELINE]")
@context_option
@click.option("--no-cache", is_flag=True, help="Execute every step, whatever the cache holds.")
@click.option("--stack", metavar="NAME", help="Run on a named stack from the project's config.")
@json_option
def run(target: str, overrides: tuple[str, ...], no_cache: bool, stack: str | None, as_json: bool) -> None:
    """Run the pipeline defined in FILE.py (the one named PIPELINE if it has several).

    The file is imported, not run as a script: keep its own `pipeline.run()`
    under `if __name__ == "__main__":`. Prints the run id and a summary; exit
    code 1 if a step failed.
    """
    from flowyml.cli.project import Project, load_pipeline, parse_target, remember_source

    project = Project.find()
    pipeline, path = load_pipeline(target)
    values = parse_overrides(overrides, pipeline.context)
    chosen = resolve_stack(pipeline, stack)
    if chosen is None and pipeline.stack is None and pipeline.cache_dir is None:
        pipeline.cache_dir = project.store_root  # the project's store, wherever the command runs
    # Before running: `flowyml rerun` must find the file even if this process is killed.
    remember_source(project, pipeline.name, path, parse_target(target)[1])
    result = execute(pipeline, values, as_json,
                     lambda on_event: pipeline.run(values or None, stack=chosen,
                                                   enable_cache=False if no_cache else None, on_event=on_event))
    report(result, as_json)


def execute(pipeline: Any, values: Mapping[str, Any], as_json: bool, start: Callable[[Any], Any]) -> Any:
    """Build the pipeline (definition errors exit 2), then run it under a live view."""
    graph = pipeline.build(pipeline.context.updated(values))
    with RunProgress(pipeline.name, list(graph.order), live_enabled(as_json)) as progress:
        return start(progress.event)


def report(result: Any, as_json: bool) -> None:
    """Print the result; a failed run exits 1 with one line naming the step."""
    if as_json:
        emit_json(result.to_dict())
    else:
        click.echo(result.summary())
    if not result.success:
        step = result.failed_step
        last = (result.error or "").strip().splitlines()[-1:] or ["unknown error"]
        where = f"step {step!r} failed: {last[0]}" if step else "the run failed"
        raise CliError(f"{where} (run {result.run_id}; `flowyml show {result.run_id}` has the traceback)", FAILED)


def resolve_stack(pipeline: Any, name: str | None) -> Any:
    """The named stack, hydrated once (the execution layer's ``flowyml.stacks``)."""
    from flowyml.errors import FlowymlError

    if name is None:
        return None
    try:
        return pipeline.resolve_stack(name)
    except ImportError as exc:
        raise CliError(f"--stack {name}: named stacks are not available in this flowyml "
                       f"({exc}); use a stack in the pipeline's code instead", USAGE) from exc
    except (FlowymlError, LookupError, ValueError) as exc:  # an unknown name, a malformed entry
        raise CliError(f"--stack {name}: {one_line(exc)}", USAGE) from exc


def parse_overrides(pairs: tuple[str, ...], context: Mapping[str, Any]) -> dict[str, Any]:
    """``("epochs=5", …)`` -> ``{"epochs": 5}``, typed like the context's current values.

    Raises:
        CliError: (exit 2) not ``key=value``, a key the context lacks, or a value
            that does not parse as the key's type.
    """
    values: dict[str, Any] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise CliError(f"--context {pair!r}: write KEY=VALUE", USAGE)
        if key not in context:
            known = ", ".join(sorted(context)) or "nothing"
            raise CliError(f"--context {key}: the pipeline's context has no {key!r} (it has: {known})", USAGE)
        values[key] = parse_value(key, text, context[key])
    return values


def parse_value(key: str, text: str, current: Any) -> Any:
    """``text`` as a value of the same type as ``current``."""
    kind = type(current)

    def bad(expected: str) -> CliError:
        return CliError(f"--context {key}={text}: {key} is {expected} in the pipeline's context "
                        f"(now {current!r})", USAGE)

    if kind is bool:
        if text.strip().lower() in _TRUE | _FALSE:
            return text.strip().lower() in _TRUE
        raise bad("a bool (true/false)")
    if kind is int:
        try:
            return int(text)
        except ValueError:
            raise bad("an int") from None
    if kind is float:
        try:
            return float(text)
        except ValueError:
            raise bad("a float") from None
    if kind is str:
        return text
    if kind in (list, tuple, dict):
        try:
            value = json.loads(text)
        except ValueError:
            raise bad(f"a {kind.__name__} (write it as JSON)") from None
        if not isinstance(value, list if kind is tuple else kind):
            raise bad(f"a {kind.__name__} (write it as JSON)")
        return tuple(value) if kind is tuple else value
    if current is None:
        try:
            return json.loads(text)
        except ValueError:
            return text  # not JSON: a plain string
    try:
        return kind(text)  # Path, Decimal, enums by value …
    except Exception:
        raise bad(f"a {kind.__name__}, which cannot be written on the command line") from None
