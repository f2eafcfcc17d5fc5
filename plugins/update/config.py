"""The update plugin's settings: the `[update]` table, checked by key.

    [update]
    root = "/opt/troupe"          # releases/, current, previous live here
    source = "git"                # or "index"
    url = "https://github.com/you/troupe.git"   # git: where the tags are
    ref_pattern = "v*"            # git: which tags are versions
    require_signed = false        # git: only tags `git verify-tag` accepts
    package = "troupe"            # index: the package name
    index_url = "https://pypi.org/simple"       # index: optional
    deadline = 60                 # s for a switched Pi to come back and answer
    lease = 90                    # s a Pi's turn may last before a waiting Pi passes it
                                  #   over (default: deadline + 30; more than deadline)
    prepare_wait = 1800           # s to wait for every Pi to build and check
    keep = 1                      # releases kept besides current and previous
    canary_wait = 86400           # s a canary waits for a :+1: or :-1:
    reuse_site_packages = false   # tests and the demo: build without network

Where releases come from is only ever this table: chat picks a version among
what the source offers, never a source.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from troupe.config import MISSING, Checker, Problem

KEYS = ("root", "source", "url", "ref_pattern", "require_signed", "package", "index_url",
        "deadline", "lease", "prepare_wait", "keep", "canary_wait", "reuse_site_packages")
_PACKAGE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*\Z")


@dataclass(frozen=True)
class Settings:
    """What the plugin needs from `[update]` (the source itself: troupe.releases)."""

    root: Path
    table: dict[str, Any]
    deadline: float = 60.0
    lease: float = 90.0
    prepare_wait: float = 1800.0
    keep: int = 1
    canary_wait: float = 86400.0
    reuse_site_packages: bool = False


def _positive(value: Any) -> bool:
    return value > 0


def _url(value: str) -> bool:
    return bool(value.strip()) and not value.startswith("-")


def _placeholder(value: str) -> bool:
    """docs/deploy.md's "https://github.com/<you>/troupe.git" copied as it is."""
    return "<" in value or ">" in value


def check_root(settings: Settings) -> list[Problem]:
    """`troupe check` on this Pi: the release root must be there (deploy/install.sh makes it)."""
    if settings.root.is_dir():
        return []
    return [Problem("update.root", str(settings.root),
                    "an existing folder of releases: deploy/install.sh makes it "
                    "(TROUPE_ROOT), or point root at the one this Pi has")]


def check_update(raw: dict[str, Any]) -> tuple[Settings | None, list[Problem]]:
    """Read `[update]` from the whole configuration; every problem by full key."""
    table = raw.get("update", MISSING)
    if table is MISSING:
        return None, [Problem("update", MISSING, "an [update] table with source and url")]
    if not isinstance(table, dict):
        return None, [Problem("update", table, "a table ([update]) with source and url")]
    c = Checker(table, "update")
    c.unknown_keys(KEYS)
    root = c.get("root", str, "an absolute path, such as \"/opt/troupe\"",
                 default="/opt/troupe", valid=lambda v: Path(v).is_absolute())
    c.get("source", str, "\"git\" or \"index\"", default="git",
          valid=lambda v: v in ("git", "index"))
    source = table.get("source", "git")  # an unknown source: its keys cannot be checked
    if source == "git":
        url = c.get("url", str, "the git URL releases come from (a remote or a local path)",
                    valid=_url)
        if url and _placeholder(url):
            c.problem("url", url, "your repository's URL: <...> is a placeholder to fill in")
        c.get("ref_pattern", str, "a tag pattern, such as \"v*\"", default="v*",
              valid=lambda v: bool(v.strip()))
        c.get("require_signed", bool, "true or false", default=False)
    elif source == "index":
        c.get("package", str, "a package name, such as \"troupe\"", default="troupe",
              valid=lambda v: bool(_PACKAGE.match(v)))
        c.get("index_url", str, "an http(s) URL of a package index", default=None,
              valid=lambda v: v.startswith(("http://", "https://")))
    deadline = c.get("deadline", (int, float), "seconds, a positive number", default=60,
                     valid=_positive)
    lease = c.get("lease", (int, float), "seconds, more than update.deadline", default=None,
                  valid=_positive)
    if deadline is not None and lease is not None and lease <= deadline:
        c.problem("lease", lease, f"more than update.deadline ({deadline:g} s): a Pi that does "
                                  "not come back must be rolled back before another Pi passes "
                                  "it over")
    prepare_wait = c.get("prepare_wait", (int, float), "seconds, a positive number",
                         default=1800, valid=_positive)
    keep = c.get("keep", int, "a whole number, 0 or more", default=1,
                 valid=lambda v: v >= 0)
    wait = c.get("canary_wait", (int, float), "seconds, a positive number", default=86400,
                 valid=_positive)
    reuse = c.get("reuse_site_packages", bool, "true or false", default=False)
    if c.problems:
        return None, c.problems
    return Settings(root=Path(root), table=dict(table), deadline=float(deadline),
                    lease=float(lease or deadline + 30), prepare_wait=float(prepare_wait),
                    keep=keep, canary_wait=float(wait), reuse_site_packages=reuse), []
