"""A local release source for the demo: this tree as a git repository with two version tags.

`v<this version>` is the tree as it is; `v<next minor>` is the same tree with
the version bumped, so `update to v<next>` has something newer to roll out
(troupe.releases.GitSource reads tags the same way from a real remote).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import troupe

PARTS = ("troupe", "plugins", "slackmq", "pyproject.toml", "README.md", "LICENSE")
IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "static-build")


@dataclass(frozen=True)
class LocalSource:
    url: str  # the git repository ([update] url)
    current: str  # tag of the running version, e.g. "v0.1.0"
    newer: str  # tag of the version to update to, e.g. "v0.2.0"

    def update_config(self) -> dict[str, str]:
        """The [update] settings that point a Pi at this source (root is added per Pi)."""
        return {"source": "git", "url": self.url, "ref_pattern": "v*"}


def project_root() -> Path | None:
    """The source tree this troupe runs from, if it runs from one (an editable install)."""
    root = Path(troupe.__file__).resolve().parents[1]
    return root if (root / "pyproject.toml").is_file() and (root / "plugins").is_dir() else None


def next_minor(version: str) -> str:
    numbers = [int(n) for n in re.findall(r"\d+", version)[:2]] + [0, 0]
    return f"{numbers[0]}.{numbers[1] + 1}.0"


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), "-c", "user.name=Troupe demo",
                    "-c", "user.email=demo@troupe.invalid", "-c", "commit.gpgsign=false",
                    "-c", "tag.gpgsign=false", *args],
                   check=True, capture_output=True, timeout=60)


def make_local_source(dest: Path, version: str | None = None) -> LocalSource:
    """Copy the source tree into `dest` and tag it twice; raises if there is no tree or git."""
    root = project_root()
    if root is None:
        raise RuntimeError("troupe is not installed from a source tree; no local release source")
    version = version or troupe.__version__
    newer = next_minor(version)
    dest.mkdir(parents=True, exist_ok=True)
    for part in PARTS:
        src = root / part
        if src.is_dir():
            shutil.copytree(src, dest / part, ignore=IGNORE, dirs_exist_ok=True)
        elif src.is_file():
            shutil.copy2(src, dest / part)
    _git(dest, "init", "--quiet")
    _git(dest, "add", "--all")
    _git(dest, "commit", "--quiet", "-m", f"troupe {version}")
    _git(dest, "tag", f"v{version}")
    pyproject = dest / "pyproject.toml"
    text = pyproject.read_text()
    bumped = re.sub(r'(?m)^version\s*=\s*"[^"]*"', f'version = "{newer}"', text, count=1)
    pyproject.write_text(bumped)
    _git(dest, "commit", "--quiet", "-am", f"troupe {newer}")
    _git(dest, "tag", f"v{newer}")
    return LocalSource(str(dest), f"v{version}", f"v{newer}")
