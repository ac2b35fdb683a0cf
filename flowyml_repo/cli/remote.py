"""``flowyml push REMOTE`` / ``flowyml pull REMOTE``: share runs and their outputs.

Refs go through git (the refspec ``refs/flowyml/*:refs/flowyml/*``), objects
through the fsspec URL configured for the remote in ``flowyml.yaml``::

    remotes:
      origin:
        objects: /mnt/shared/flowyml-objects   # or s3://bucket/prefix, …
        git: ../history.git                    # optional: default is git's remote "origin"
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import click

from flowyml.cli.output import (FAILED, USAGE, CliError, emit_json, json_option, live_enabled, object_progress,
                                size, warn)

if TYPE_CHECKING:
    from flowyml.cli.project import Project
    from flowyml.store.history import History

remote_argument = click.argument("remote")
objects_option = click.option("--objects", "objects_url", metavar="URL",
                              help="The fsspec URL of the remote's objects (overrides flowyml.yaml).")


@click.command(short_help="Send runs and their objects to a remote.")
@remote_argument
@objects_option
@click.option("--force", is_flag=True, help="Overwrite remote refs that have runs this repository lacks.")
@json_option
def push(remote: str, objects_url: str | None, force: bool, as_json: bool) -> None:
    """Send every flowyml ref to REMOTE, and the objects they name that REMOTE lacks.

    Objects go first, refs after, so the remote never names an object it lacks.
    """
    from flowyml.cli.project import Project
    from flowyml.store.remotes import push as push_to

    project = Project.find()
    with project.history() as history:
        git_url, objects = locate(project, history, remote, objects_url)
        with object_progress("sending objects", live_enabled(as_json)) as progress:
            report = push_to(history, project.store(), git_url, objects, force=force, progress=progress)
    show_report(report, git_url, objects, as_json)


@click.command(short_help="Fetch runs and their objects from a remote.")
@remote_argument
@objects_option
@click.option("--force", is_flag=True, help="Take the remote's tip for registry refs both sides extended.")
@click.option("--allow-pickle", is_flag=True,
              help="Also fetch pickle objects (loading a pickle runs code: only from remotes you trust).")
@json_option
def pull(remote: str, objects_url: str | None, force: bool, allow_pickle: bool, as_json: bool) -> None:
    """Fetch REMOTE's flowyml refs and the objects they name that this store lacks.

    Each object is verified against its oid before it is stored; refs move last.
    Runs recorded on both sides are kept: local ones are replayed on top.
    """
    from flowyml.cli.project import Project
    from flowyml.store.remotes import pull as pull_from

    project = Project.find()
    with project.history() as history:
        git_url, objects = locate(project, history, remote, objects_url)
        with object_progress("receiving objects", live_enabled(as_json)) as progress:
            report = pull_from(history, project.store(), git_url, objects, force=force,
                               allow_pickle=allow_pickle, progress=progress)
    show_report(report, git_url, objects, as_json)


def locate(project: Project, history: History, remote: str, objects_url: str | None) -> tuple[str, str]:
    """The git URL and the objects URL of ``remote`` (a configured name, a git remote, or a path/URL)."""
    from flowyml.store.remotes import git_remote_url

    entry = project.config["remotes"].get(remote) or {}
    git_url = entry.get("git") or git_remote_url(history, remote)
    if git_url is None:
        if not ("://" in remote or ":" in remote or os.path.exists(remote)):
            raise CliError(f"no remote called {remote!r}: add it to flowyml.yaml (remotes: {remote}: ...) "
                           f"or `git remote add {remote} URL`", USAGE)
        git_url = remote
    objects = objects_url or entry.get("objects")
    if not objects:
        raise CliError(f"remote {remote!r} has no object URL: add `remotes: {remote}: objects: URL` to "
                       "flowyml.yaml, or pass --objects URL", USAGE)
    return git_url, objects


def show_report(report: Any, git_url: str, objects: str, as_json: bool) -> None:
    """Print a push/pull report; rejected refs exit 1."""
    if as_json:
        emit_json(dict(report.to_dict(), git=git_url, objects_url=objects))
    else:
        moved = "sent" if report.direction == "push" else "received"
        click.echo(f"{moved} {report.objects} objects ({size(report.bytes)}) via {objects}")
        for ref, (old, new) in sorted(report.updated.items()):
            replayed = report.replayed.get(ref)
            note = f" ({replayed} local commits replayed on top)" if replayed else ""
            click.echo(f"  {(old or '0' * 7)[:7]}..{new[:7]}  {ref}{note}")
        if not report.updated:
            click.echo(f"refs already up to date with {git_url}")
    if report.missing:
        side = "this store" if report.direction == "push" else "the remote"
        warn(f"{len(report.missing)} objects named by the runs are not in {side} "
             f"(first: {report.missing[0]}); `flowyml fsck` lists what is missing")
    if report.skipped:
        warn(f"{len(report.skipped)} pickle objects not fetched; pull --allow-pickle if you trust this remote")
    if report.rejected:
        if not as_json:
            for ref, why in sorted(report.rejected.items()):
                click.echo(f"  rejected {ref}: {why}", err=True)
        first = next(iter(sorted(report.rejected.items())))
        raise CliError(f"{len(report.rejected)} ref(s) not updated; {first[0]}: {first[1]}", FAILED)
