"""Refusals a person can act on: each names the field and the fix, with a message key for their language."""

from __future__ import annotations


class Refusal(ValueError):
    """Input refused for a reason the user can fix.

    ``str(exc)`` is the English sentence for logs and the command line; ``key`` and
    ``values`` let a page say the same in the session's language (``data/i18n``).
    """

    def __init__(self, message: str, key: str, **values: object) -> None:
        super().__init__(message)
        self.key = key
        self.values = values
