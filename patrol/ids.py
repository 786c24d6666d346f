"""Ids of rows a person makes (an entered score, a planned inspection): readable and never reused.

An id starts with what it names and when it was made; a random tail of 64 bits keeps two ids
made in the same second apart (a batch of entered scores, a demo publishing fifteen periods at
one clock). Three random bytes were once used: among a few thousand ids of one second two met
often enough to fail a publishing run now and then.
"""

from __future__ import annotations

import secrets
from datetime import datetime


def stamped_id(prefix: str, at: datetime, *parts: str) -> str:
    """``PREFIX-YYYYmmddHHMMSS[-part…]-<16 hex digits>``; the parts keep a batch in its order."""
    return "-".join((prefix, f"{at:%Y%m%d%H%M%S}", *parts, secrets.token_hex(8)))
