"""`flowyml init` from a built wheel: the template (dot-files included) is packaged."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_init_from_an_installed_wheel(tmp_path):
    wheel_dir = tmp_path / "wheel"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(wheel_dir), str(ROOT)], check=True, capture_output=True)
    (wheel,) = wheel_dir.glob("flowyml-*.whl")
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(site), str(wheel)],
                   check=True, capture_output=True)
    assert (site / "flowyml" / "__init__.py").exists() and (site / "flowyml_tui" / "app.py").exists()
    assert not (site / "flowyml_repo").exists() and not (site / "tui").exists()  # only the import names
    project = tmp_path / "project"
    env = {"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    done = subprocess.run([sys.executable, "-m", "flowyml", "init", str(project)], capture_output=True, text=True,
                          env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in project.iterdir()) == [".git", ".gitignore", "flowyml.yaml", "pipeline.py"]
    ran = subprocess.run([sys.executable, "-m", "flowyml", "run", "pipeline.py", "--json"], capture_output=True,
                         text=True, env=env, cwd=project)
    assert ran.returncode == 0, ran.stderr
