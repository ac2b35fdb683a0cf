"""Packaging and the public surface: what installs, what `import flowyml` costs."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _config() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]


def test_listed_packages_match_the_folders_on_disk():
    cfg = _config()
    dirs = cfg["package-dir"]
    on_disk = set()
    for top, folder in (("flowyml", "flowyml_repo"), ("flowyml_tui", "tui")):
        for init in (ROOT / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / folder)
            on_disk.add(".".join((top, *rel.parts)))
    listed = set(cfg["packages"]) - {"flowyml.template"}
    assert listed == on_disk
    assert dirs["flowyml"] == "flowyml_repo" and dirs["flowyml_tui"] == "tui"
    assert (ROOT / dirs["flowyml.template"]).is_dir()


def test_public_api_is_pinned():
    import flowyml

    assert flowyml.__all__ == sorted(flowyml.__all__)
    for name in flowyml.__all__:
        assert hasattr(flowyml, name), name
    assert {"Pipeline", "step", "context", "Dataset", "Model", "Metrics", "when", "retry", "on_failure",
            "LocalStack", "freeze_pipeline", "runs", "get_run"} <= set(flowyml.__all__)


def test_import_flowyml_leaves_heavy_libraries_out():
    code = ("import sys, json, flowyml; print(json.dumps(sorted(m for m in "
            "('pandas', 'pyarrow', 'numpy', 'textual', 'dask', 'distributed', 'dulwich', 'sklearn', 'rich', "
            "'flowyml_tui') if m in sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert json.loads(out) == []


def test_no_module_imports_the_folder_name():
    offenders = [str(p) for p in ROOT.glob("**/*.py")
                 if ".venv" not in p.parts and "import flowyml_repo" in p.read_text(errors="ignore")
                 and p.name != "test_packaging.py"]
    assert offenders == []
