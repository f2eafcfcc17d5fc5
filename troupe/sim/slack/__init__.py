"""An emulated Slack workspace: Web API, Socket Mode, rate limits and faults.

    with SlackWorkspace(apps=3) as ws:
        client = WebClient(token=ws.app("pi-1")["bot_token"], base_url=ws.api_url)
        ws.add_listener(print, CHANNEL_EVENTS)  # every message, pin and reaction, as made

Modules: ``model`` (state), ``webapi`` (methods), ``socketmode`` (envelopes),
``ratelimit`` (tiers), ``faults`` (faults and records), ``controls`` and
``admin`` (fault/inspection operations, /_sim/), ``server`` (HTTP routing),
``workspace`` (the in-process wrapper).
"""

from .model import SlackError
from .server import CHANNEL_EVENTS
from .workspace import SlackWorkspace

__all__ = ["CHANNEL_EVENTS", "SlackError", "SlackWorkspace"]
