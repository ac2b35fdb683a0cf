"""``flowyml init [DIR]``: lay down the project template; safe to run again."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path, PurePosixPath

import click

from flowyml.cli.output import emit_json, json_option

_NOT_COPIED = {"__init__.py", "__pycache__"}


@click.command(short_help="Set up a project: config, example pipeline, git.")
@click.argument("directory", default=".", type=click.Path(file_okay=False))
@json_option
def init(directory: str, as_json: bool) -> None:
    """Set up a flowyml project in DIRECTORY (default: here).

    Writes flowyml.yaml, an example pipeline.py and a .gitignore entry for the
    object store, and creates a git repository if DIRECTORY is not in one.
    Existing files are never overwritten (a .gitignore only gains missing lines).
    """
    target = Path(directory).absolute()
    target.mkdir(parents=True, exist_ok=True)
    done: dict[str, list[str]] = {"created": [], "updated": [], "kept": []}
    for rel, data in template_files():
        done[place(target / rel, data)].append(str(rel))
    git = "existing" if enclosing_repository(target) else "created"
    if git == "created":
        from dulwich.repo import Repo

        Repo.init(str(target)).close()
    if as_json:
        emit_json({"directory": str(target), "git": git, **done})
        return
    for what, names in done.items():
        for name in names:
            click.echo(f"{what:8} {name}" + ("  (already there)" if what == "kept" else ""))
    click.echo(f"{'created' if git == 'created' else 'using':8} git repository"
               + ("" if git == "created" else f" at {enclosing_repository(target)}"))
    click.echo(f"next: cd {directory} && flowyml run pipeline.py" if directory != "." else
               "next: flowyml run pipeline.py")


def template_files() -> Iterator[tuple[PurePosixPath, bytes]]:
    """(relative path, bytes) of every file of the packaged template."""
    from importlib.resources import files

    def walk(folder: object, rel: PurePosixPath) -> Iterator[tuple[PurePosixPath, bytes]]:
        for entry in sorted(folder.iterdir(), key=lambda e: e.name):  # type: ignore[attr-defined]
            if entry.name in _NOT_COPIED or entry.name.endswith(".pyc"):
                continue
            if entry.is_dir():
                yield from walk(entry, rel / entry.name)
            else:
                yield rel / entry.name, entry.read_bytes()

    yield from walk(files("flowyml.template"), PurePosixPath())


def place(dest: Path, data: bytes) -> str:
    """Write ``dest`` unless it exists; a ``.gitignore`` gains only its missing lines."""
    if not dest.exists():
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(data)
        return "created"
    if dest.name != ".gitignore" or not dest.is_file():
        return "kept"
    have = dest.read_text(encoding="utf-8", errors="replace")
    present = {line.strip() for line in have.splitlines()}
    missing = [line for line in data.decode().splitlines()
               if line.strip() and not line.startswith("#") and line.strip() not in present]
    if not missing:
        return "kept"
    with dest.open("a", encoding="utf-8") as f:
        f.write(("" if have.endswith("\n") or not have else "\n") + "\n".join(missing) + "\n")
    return "updated"


def enclosing_repository(folder: Path) -> Path | None:
    """The git work tree holding ``folder``, if any."""
    for candidate in (folder, *folder.parents):
        if (candidate / ".git").exists():
            return candidate
    return None
