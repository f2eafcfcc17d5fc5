"""This Pi's wall clock, and how far it is from Slack's.

A command's age is measured on Slack's clock (slackmq learns it from the Date
header of Slack's answers, `SlackMQ.clock`), never on the Pi's own: a Pi without
a real-time clock may boot with its clock minutes off until NTP catches up.
`TROUPE_CLOCK_SKEW` (seconds, tests only) shifts this process's wall clock
(`time.time`, for all its code: Troupe, slackmq, slack_sdk) to reproduce such a
Pi. (libfaketime would be the real tool, but 0.9.10 makes `time.sleep` fail in
Python 3.11.)
"""

from __future__ import annotations

import logging
import os
import time

log = logging.getLogger("troupe.clock")

SKEW_ENV = "TROUPE_CLOCK_SKEW"
SKEW_WARN = 60.0  # seconds off Slack's clock worth telling the owner about


def _skew() -> float:
    try:
        return float(os.environ.get(SKEW_ENV, "") or 0.0)
    except ValueError:
        log.warning("%s=%r is not a number of seconds; ignored", SKEW_ENV,
                    os.environ.get(SKEW_ENV))
        return 0.0


_SHIFT = _skew()
if _SHIFT:  # tests only: this whole process's wall clock runs _SHIFT seconds off
    _real_time = time.time
    time.time = lambda: _real_time() + _SHIFT


def local_now() -> float:
    """This Pi's wall clock (shifted by TROUPE_CLOCK_SKEW in tests)."""
    return time.time()


def describe_offset(offset: float | None) -> str | None:
    """A sentence for `status` and the log when this Pi's clock is more than a minute off
    Slack's (`offset` = Slack's time minus ours), else None."""
    if offset is None or abs(offset) <= SKEW_WARN:
        return None
    way = "ahead of" if offset < 0 else "behind"
    return (f"this Pi's clock is {_span(abs(offset))} {way} Slack's; commands' ages are "
            "measured on Slack's clock, but check the Pi's time sync (timedatectl)")


def _span(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
