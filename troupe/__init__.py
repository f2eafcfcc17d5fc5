"""Troupe: a federation of Slack bots that runs a home from a handful of Raspberry Pis."""

from importlib import metadata as _metadata

try:
    __version__ = _metadata.version("troupe")
except _metadata.PackageNotFoundError:  # running from a source tree
    __version__ = "0+unknown"

from troupe.commands import command  # noqa: E402 - the public API, after __version__
from troupe.plugin import Context, Plugin  # noqa: E402

__all__ = ["Context", "Plugin", "command", "__version__"]
