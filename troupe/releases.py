"""Releases side by side, switched atomically.

Layout under a root (``/opt/troupe`` on a Pi)::

    releases/<version>/src        the fetched source (a git checkout)
    releases/<version>/venv       a virtualenv with that version installed
    releases/<version>/RELEASE    written last: the build is complete
    releases/<version>/FAILED     written by a rollback away from this release
    current  -> releases/<version>      what the service runs
    previous -> releases/<version>      what rollback goes back to

The running code is never touched: a new version is built in its own
directory, checked there, and only then do the links move (``os.replace`` of a
fresh symlink, atomic on POSIX, then an fsync of the directory so a power cut
cannot undo it). A venv cannot be renamed (its scripts carry absolute paths),
so completeness is the ``RELEASE`` marker, not a rename; the marker is written
only after the build is on disk, and a release is removed by renaming it out
of ``releases/`` first, so a half-deleted one never looks complete. Links only
ever point at complete releases. Switching, rollback and pruning hold
``releases/.lock`` (``flock``), so two processes never move the links at once.

The root is made absolute when a ``ReleaseRoot`` is created (a relative path
is taken against the working directory at that moment; ``troupe release
--config`` takes a relative ``[update] root`` against the configuration
file's directory), because venv scripts carry absolute paths and a service
manager may start the process in any directory.

Where versions come from is configuration (``GitSource`` / ``IndexSource``),
never chat: a version asked for in chat must match ``VERSION_RE`` (so it can
never be read as an option) and be among those the source offers.
"""

from __future__ import annotations

import contextlib
import fcntl
import fnmatch
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Protocol

from troupe.files import fsync_dir, write_atomic
from troupe.secrets import child_env, redact, strip_url_credentials

__all__ = [
    "VERSION_RE", "ReleaseError", "GitSource", "IndexSource", "ReleaseRoot",
    "validate_version", "version_key", "source_from_config", "upgrade",
]

VERSION_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$")
MARKER = "RELEASE"
FAILED = "FAILED"
REUSE_PTH = "_troupe_reuse.pth"
# What the health check's `troupe check` sees for token variables set here: a release
# being checked never gets the real tokens (troupe.secrets.child_env).
TOKEN_STANDINS = {"TROUPE_SLACK_BOT_TOKEN": "xoxb-withheld-from-health-check",
                  "TROUPE_SLACK_APP_TOKEN": "xapp-withheld-from-health-check"}
BUILD_NICENESS = 10  # builds and checks yield the CPU to the running bot (a Pi Zero has one core)


class ReleaseError(Exception):
    """A release operation that cannot go ahead; the message says why."""


def validate_version(version: str) -> str:
    """Return ``version`` if it is a plain version name; raise otherwise.

    Starts with a letter or digit (never ``-``: no option injection into git or
    pip), no ``/`` (no path tricks), at most 64 characters.
    """
    if not isinstance(version, str) or not VERSION_RE.match(version):
        raise ReleaseError(
            f"not a valid version: {version!r} (letters, digits and . _ + -, "
            "starting with a letter or digit)")
    return version


def version_key(version: str) -> tuple:
    """Natural order: v1 < v2 < v10, 1.9 < 1.10."""
    return tuple(
        (0, int(part), "") if part.isdigit() else (1, 0, part)
        for part in re.findall(r"\d+|\D+", version)
    )


def _niced(cmd: Sequence[str]) -> list[str]:
    """`cmd` at low CPU priority, so the bot beside it keeps answering while every Pi
    builds the release at once (coreutils' `nice`; as it is if there is none, or if `cmd`
    is not found: running it then says so)."""
    nice = shutil.which("nice")
    if nice and shutil.which(cmd[0]):
        return [nice, "-n", str(BUILD_NICENESS), *cmd]
    return list(cmd)


def _run(cmd: Sequence[str], *, cwd: Path | None = None, timeout: float = 600,
         env: dict[str, str] | None = None) -> str:
    """Run ``cmd`` without the Slack tokens in its environment; errors carry no credentials."""
    try:
        proc = subprocess.run(_niced(cmd), cwd=cwd, capture_output=True, text=True,
                              timeout=timeout, env=child_env() if env is None else env)
    except subprocess.TimeoutExpired as exc:
        raise ReleaseError(f"{cmd[0]} timed out after {timeout:.0f}s") from exc
    except FileNotFoundError as exc:
        raise ReleaseError(f"{cmd[0]} not found") from exc
    if proc.returncode != 0:
        raise ReleaseError(redact(
            f"{' '.join(cmd[:3])} ... failed ({proc.returncode}): "
            f"{(proc.stderr or proc.stdout).strip()[-2000:]}"))
    return proc.stdout


def _clean_env() -> dict[str, str]:
    """The environment for child builds and checks: free of this process's Python and of
    the Slack tokens (troupe.secrets.child_env)."""
    env = {k: v for k, v in child_env().items()
           if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "__PYVENV_LAUNCHER__")}
    env["PYTHONNOUSERSITE"] = "1"
    return env


class Source(Protocol):
    def versions(self) -> list[str]: ...
    def fetch(self, version: str, workdir: Path) -> list[str]: ...
    def describe(self) -> str: ...


def _offered(source: Source, version: str) -> None:
    validate_version(version)
    offered = source.versions()
    if version not in offered:
        shown = ", ".join(offered[-10:]) or "nothing"
        raise ReleaseError(f"{version} is not offered by {source.describe()}; offered: {shown}")


class GitSource:
    """Versions are the tags of a git remote matching ``ref_pattern``."""

    def __init__(self, url: str, ref_pattern: str = "v*", require_signed: bool = False,
                 git: str = "git") -> None:
        if not url or url.startswith("-"):
            raise ReleaseError(f"not a usable git url: {url!r}")
        self.url = url
        self.ref_pattern = ref_pattern
        self.require_signed = require_signed
        self.git = git

    def describe(self) -> str:
        """Where versions come from, without the URL's credentials (it is shown and written)."""
        return f"git {strip_url_credentials(self.url)} (tags {self.ref_pattern})"

    def versions(self) -> list[str]:
        out = _run([self.git, "ls-remote", "--tags", "--refs", self.url], timeout=120)
        tags = []
        for line in out.splitlines():
            _, _, ref = line.partition("\t")
            tag = ref.removeprefix("refs/tags/")
            if fnmatch.fnmatchcase(tag, self.ref_pattern) and VERSION_RE.match(tag):
                tags.append(tag)
        return sorted(set(tags), key=version_key)

    def latest(self) -> str | None:
        offered = self.versions()
        return offered[-1] if offered else None

    def fetch(self, version: str, workdir: Path) -> list[str]:
        """Check out the commit tag ``version`` names into ``workdir/src``; return what pip
        installs.

        Only ``refs/tags/<version>`` is fetched (never ``git clone --branch``, which
        prefers a branch of the same name), verified if ``require_signed``, and that
        same local ref is checked out: a branch named like a tag changes nothing. The
        URL is given to ``git fetch`` directly, never saved as a remote, so its
        credentials are not written into ``src/.git``.
        """
        _offered(self, version)
        src = Path(workdir) / "src"
        if src.exists():
            shutil.rmtree(src)
        ref = f"refs/tags/{version}"
        _run([self.git, "init", "--quiet", "--", str(src)], timeout=60)
        _run([self.git, "-C", str(src), "fetch", "--quiet", "--no-tags", "--depth", "1",
              "--", self.url, f"+{ref}:{ref}"], timeout=600)
        if self.require_signed:
            try:
                _run([self.git, "-C", str(src), "verify-tag", ref], timeout=60)
            except ReleaseError as exc:
                raise ReleaseError(f"tag {version} is not signed by a trusted key: {exc}") from exc
        _run([self.git, "-C", str(src), "-c", "advice.detachedHead=false", "checkout",
              "--quiet", "--detach", f"{ref}^{{commit}}"], timeout=120)
        (src / ".git" / "FETCH_HEAD").unlink(missing_ok=True)  # it names the URL
        return [str(src)]


class IndexSource:
    """Versions are the releases of ``package`` on a package index."""

    def __init__(self, package: str = "troupe", index_url: str | None = None,
                 python: str = sys.executable) -> None:
        if not re.match(r"^[A-Za-z0-9][A-Za-z0-9._-]*$", package):
            raise ReleaseError(f"not a package name: {package!r}")
        self.package = package
        self.index_url = index_url
        self.python = python

    def describe(self) -> str:
        return f"package {self.package} on {self.index_url or 'the default index'}"

    def _index_args(self) -> list[str]:
        return ["--index-url", self.index_url] if self.index_url else []

    def versions(self) -> list[str]:
        out = _run([self.python, "-m", "pip", "index", "versions", self.package,
                    "--disable-pip-version-check", *self._index_args()], timeout=120)
        return sorted(self.parse_versions(out), key=version_key)

    @staticmethod
    def parse_versions(pip_output: str) -> list[str]:
        for line in pip_output.splitlines():
            if line.strip().startswith("Available versions:"):
                listed = line.split(":", 1)[1].split(",")
                return [v.strip() for v in listed if VERSION_RE.match(v.strip())]
        return []

    def latest(self) -> str | None:
        offered = self.versions()
        return offered[-1] if offered else None

    def fetch(self, version: str, workdir: Path) -> list[str]:
        _offered(self, version)
        return [f"{self.package}=={version}", *self._index_args()]


class ReleaseRoot:
    """The release directory of one Pi.

    ``reuse_site_packages=True`` is for tests and the demo: the release venv
    sees this interpreter's site-packages (through a ``.pth``) and installs
    only the project itself, with no network and no build isolation. On a Pi
    each release gets its own dependencies, and sees the system's pin library.
    """

    def __init__(self, path: str | os.PathLike[str], source: Source | None = None, *,
                 python: str | None = None, reuse_site_packages: bool = False,
                 keep: int = 1) -> None:
        # Absolute now: venv scripts carry absolute paths, and the process may later
        # run (or be started by systemd) in another working directory.
        self.path = Path(os.path.abspath(os.fspath(path)))
        self.releases = self.path / "releases"
        self.source = source
        self.python = python or getattr(sys, "_base_executable", sys.executable)
        self.reuse_site_packages = reuse_site_packages
        self.keep = keep

    # -- inspection ----------------------------------------------------------

    def release_dir(self, version: str) -> Path:
        return self.releases / validate_version(version)

    def is_complete(self, version: str) -> bool:
        return (self.release_dir(version) / MARKER).is_file()

    def versions(self) -> list[str]:
        """Complete releases, in version order."""
        if not self.releases.is_dir():
            return []
        found = [d.name for d in self.releases.iterdir()
                 if VERSION_RE.match(d.name) and (d / MARKER).is_file()]
        return sorted(found, key=version_key)

    def _link_version(self, name: str) -> str | None:
        link = self.path / name
        if not link.is_symlink():
            return None
        return Path(os.readlink(link)).name

    def current_version(self) -> str | None:
        return self._link_version("current")

    def previous_version(self) -> str | None:
        return self._link_version("previous")

    def failed(self, version: str) -> bool:
        return (self.release_dir(version) / FAILED).exists()

    def troupe_bin(self, version: str) -> Path:
        return self.release_dir(version) / "venv" / "bin" / "troupe"

    # -- switching -------------------------------------------------------------

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """Hold ``releases/.lock``: one process (and thread) moves links or deletes at a time."""
        self.releases.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.releases / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def _point(self, name: str, version: str) -> None:
        """Point link ``name`` at ``releases/<version>`` atomically (relative link).

        Refuses a release that is not complete, so a link never dangles.
        """
        if not self.is_complete(version):
            raise ReleaseError(f"{version} is not a complete release under {self.releases}")
        tmp = self.path / f".{name}.{os.getpid()}.{threading.get_ident()}.tmp"
        if tmp.is_symlink() or tmp.exists():
            tmp.unlink()
        os.symlink(os.path.join("releases", version), tmp)
        try:
            os.replace(tmp, self.path / name)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        fsync_dir(self.path)

    def switch(self, version: str) -> str:
        """Make ``version`` current; the old current becomes previous.

        An old current that is no longer a complete release (removed by hand) does
        not replace a usable previous.
        """
        validate_version(version)
        with self._locked():
            if not self.is_complete(version):
                raise ReleaseError(f"{version} is not built under {self.releases}; "
                                   f"built: {', '.join(self.versions()) or 'none'}")
            old = self.current_version()
            if old == version:
                return version
            if old is not None and VERSION_RE.match(old) and self.is_complete(old):
                self._point("previous", old)
            self._point("current", version)
            (self.release_dir(version) / FAILED).unlink(missing_ok=True)
            return version

    def rollback(self) -> str:
        """Swap current and previous; mark the release left behind as failed.

        Refuses to go back to a release that was itself rolled away from, so a
        pair of broken releases cannot flip-flop forever.
        """
        with self._locked():
            cur, prev = self.current_version(), self.previous_version()
            if prev is None or prev == cur or not self.is_complete(prev):
                raise ReleaseError("no previous release to roll back to")
            if self.failed(prev):
                raise ReleaseError(f"previous release {prev} is marked failed; not rolling back")
            self._point("current", prev)
            if cur is not None and VERSION_RE.match(cur) and self.is_complete(cur):
                self._point("previous", cur)
                write_atomic(self.release_dir(cur) / FAILED,
                              f"rolled back at {time.time():.0f}\n")
            return prev

    def _remove(self, version: str) -> None:
        """Delete a release directory: renamed out of sight first, so no half is left visible."""
        target = self.release_dir(version)
        if not target.exists():
            return
        trash = self.releases / f".{version}.removing.{os.getpid()}.{threading.get_ident()}"
        os.replace(target, trash)
        fsync_dir(self.releases)
        shutil.rmtree(trash, ignore_errors=True)

    def prune(self, keep: int | None = None) -> list[str]:
        """Remove old releases: keep current, previous and the ``keep`` newest others."""
        keep = self.keep if keep is None else keep
        with self._locked():
            pinned = {self.current_version(), self.previous_version()}
            others = [v for v in self.versions() if v not in pinned]
            doomed = others[:-keep] if keep > 0 else others
            for version in doomed:
                self._remove(version)
            for leftover in self.releases.glob(".*.removing.*"):  # a removal a power cut stopped
                shutil.rmtree(leftover, ignore_errors=True)
        return doomed

    # -- building ------------------------------------------------------------

    def build(self, version: str, *, timeout: float = 1800) -> Path:
        """Fetch and install ``version`` into its own directory; idempotent."""
        validate_version(version)
        if self.source is None:
            raise ReleaseError("no release source configured")
        target = self.release_dir(version)
        if self.is_complete(version):
            return target
        if version in (self.current_version(), self.previous_version()):
            raise ReleaseError(f"{version} is linked but incomplete; refusing to rebuild it")
        _offered(self.source, version)
        with self._locked():
            self._remove(version)  # a build that died half way
        target.mkdir(parents=True)
        try:
            pip_args = self.source.fetch(version, target)
            self._make_venv(target / "venv")
            install = [str(target / "venv" / "bin" / "python"), "-m", "pip", "install",
                       "--quiet", "--disable-pip-version-check"]
            install += (["--no-deps", "--no-build-isolation", "--no-index"]
                        if self.reuse_site_packages else ["--ignore-installed"])
            _run([*install, *pip_args], cwd=target, timeout=timeout, env=_clean_env())
            if not (target / "venv" / "bin" / "troupe").exists():
                raise ReleaseError(f"{version} installed no `troupe` command")
        except BaseException:
            shutil.rmtree(target, ignore_errors=True)
            raise
        os.sync()  # the venv is on disk before the marker says it is complete
        write_atomic(target / MARKER, json.dumps({
            "version": version, "source": self.source.describe(), "built_at": time.time(),
        }) + "\n")
        return target

    def _make_venv(self, venv: Path) -> None:
        if self.reuse_site_packages:
            _run([self.python, "-m", "venv", "--without-pip", str(venv)], env=_clean_env())
            site = Path(_run([str(venv / "bin" / "python"), "-c",
                              "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             env=_clean_env()).strip())
            write_atomic(site / REUSE_PTH, "\n".join(reused_site_dirs()) + "\n")
        else:  # the system's packages too: Debian's python3-lgpio (docs/deploy.md, GPIO)
            _run([self.python, "-m", "venv", "--system-site-packages", str(venv)], env=_clean_env())

    def health_check(self, version: str, config_path: str | os.PathLike[str], *,
                     imports: Iterable[str] = ("troupe",),
                     timeout: float = 60) -> tuple[bool, str]:
        """Run ``troupe check --config`` and import ``imports`` inside the release.

        Returns ``(ok, output)``; never raises for a failing check.
        """
        if not self.is_complete(version):
            return False, f"{version} is not built"
        venv = self.release_dir(version) / "venv" / "bin"
        env = _clean_env()
        for var in TOKEN_STANDINS:  # the check reads their shape, never needs the real ones
            if os.environ.get(var):
                env[var] = TOKEN_STANDINS[var]
        steps = [
            [str(venv / "troupe"), "check", "--config", str(config_path)],
            [str(venv / "python"), "-c",
             "import importlib, sys\nfor m in sys.argv[1:]: importlib.import_module(m)",
             *imports],
        ]
        output = []
        for cmd in steps:
            try:
                proc = subprocess.run(_niced(cmd), capture_output=True, text=True,
                                      timeout=timeout, env=env,
                                      cwd=self.release_dir(version))
            except subprocess.TimeoutExpired:
                output.append(f"{Path(cmd[0]).name} timed out after {timeout:.0f}s")
                return False, "\n".join(output)
            output.append((proc.stdout + proc.stderr).strip())
            if proc.returncode != 0:
                return False, "\n".join(o for o in output if o)
        return True, "\n".join(o for o in output if o)


def reused_site_dirs() -> list[str]:
    """The site-packages directories a ``reuse_site_packages`` venv should see.

    This interpreter's purelib/platlib, except that a directory holding a
    ``_troupe_reuse.pth`` (this interpreter runs inside a release venv built
    that way) stands for the directories that file lists, followed down. So a
    new release points at the real base environment, never through another
    release, which pruning or a rollback may delete. (A directory added by a
    ``.pth`` is not itself scanned for ``.pth`` files, so a chain would not even
    reach the base packages.) Real paths, in order, without duplicates.
    """
    out: dict[str, None] = {}
    seen: set[str] = set()

    def add(directory: str) -> None:
        real = os.path.realpath(directory)
        if real in seen:
            return
        seen.add(real)
        pth = Path(real) / REUSE_PTH
        if pth.is_file():
            for line in pth.read_text().splitlines():
                line = line.strip()
                if line and not line.startswith(("#", "import ")):
                    add(line)
        else:
            out[real] = None

    for key in ("purelib", "platlib"):
        add(sysconfig.get_paths()[key])
    return list(out)


def upgrade(root: ReleaseRoot, version: str, config_path: str | os.PathLike[str], *,
            imports: Iterable[str] = ("troupe",)) -> str:
    """Build, check inside the new release, then switch and prune. Returns the check output.

    Raises ReleaseError (and leaves ``current`` alone) if the check fails.
    """
    root.build(version)
    ok, output = root.health_check(version, config_path, imports=imports)
    if not ok:
        raise ReleaseError(f"health check of {version} failed:\n{output}")
    root.switch(version)
    root.prune()
    return output


def source_from_config(update: dict) -> Source:
    """A source from the ``[update]`` table of troupe.toml."""
    kind = update.get("source", "git")
    if kind == "git":
        if "url" not in update:
            raise ReleaseError("update.url: expected the git url releases come from")
        return GitSource(update["url"], update.get("ref_pattern", "v*"),
                         bool(update.get("require_signed", False)))
    if kind == "index":
        return IndexSource(update.get("package", "troupe"), update.get("index_url"))
    raise ReleaseError(f"update.source: expected \"git\" or \"index\", got {kind!r}")
