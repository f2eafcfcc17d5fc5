"""The package as a newcomer installs it: a licence, and a quiet build that ships every file."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Source folder -> where it lands in the wheel (pyproject's package-dir maps plugins/).
SOURCES = {"troupe": "troupe", "slackmq": "slackmq", "plugins": "troupe_plugins"}
SKIP = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")


def test_license_file_is_mit_and_pyproject_names_it():
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert text.startswith("MIT License")
    assert "Copyright (c) 2026 The Troupe authors" in text
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["license"] == "MIT"  # an SPDX expression, not the deprecated table
    assert project["license-files"] == ["LICENSE"]


@pytest.fixture(scope="module")
def built_wheel(tmp_path_factory):
    """Build the wheel from a copy of the tree, as pip does for a user; returns (wheel, output)."""
    src = tmp_path_factory.mktemp("src")
    for name in [*SOURCES, "pyproject.toml", "README.md", "LICENSE"]:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, src / name, ignore=SKIP)
        else:
            shutil.copy2(path, src / name)
    out = tmp_path_factory.mktemp("wheel")
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--disable-pip-version-check", "--no-deps",
         "--no-build-isolation", "--no-index", "-w", str(out), str(src)],
        capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    [wheel] = out.glob("troupe-*.whl")
    return wheel, proc.stdout + proc.stderr


def test_wheel_builds_without_a_setuptools_warning(built_wheel):
    _, output = built_wheel
    warnings = [line for line in output.splitlines() if "warn" in line.lower()]
    assert warnings == [], "\n".join(warnings)


def test_wheel_carries_every_package_file_and_the_license(built_wheel):
    wheel, _ = built_wheel
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = set()
    for folder, package in SOURCES.items():
        for path in (ROOT / folder).rglob("*"):
            if path.is_dir() or "__pycache__" in path.parts or path.suffix in (".pyc", ".md"):
                continue  # slackmq/README.md is documentation, not package data
            expected.add(f"{package}/{path.relative_to(ROOT / folder).as_posix()}")
    assert "troupe/demo/static/index.html" in expected  # data folders count too
    missing = sorted(expected - names)
    assert missing == [], f"not in the wheel (name their packages in pyproject): {missing}"
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    [metadata] = [n for n in names if n.endswith(".dist-info/METADATA")]
    assert "License-Expression: MIT" in zipfile.ZipFile(wheel).read(metadata).decode()
