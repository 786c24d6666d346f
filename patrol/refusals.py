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


class Reason(str):
    """Why one row of a bulk entry is refused: the English words, plus a message key.

    It is a ``str`` (the rejects file and the command line print it as it is, arrays of
    reasons compare with ``""``); a page says it in the session's language from ``key``
    and ``values`` (``data/i18n``), as for a :class:`Refusal`.
    """

    key: str
    values: dict[str, object]

    def __new__(cls, text: str, key: str, **values: object) -> Reason:
        """A reason reading ``text``, said in other languages by ``key`` with ``values``."""
        obj = super().__new__(cls, text)
        obj.key = key
        obj.values = values
        return obj

    def __reduce__(self) -> tuple[object, ...]:
        return (_reason, (str(self), self.key, self.values))


def _reason(text: str, key: str, values: dict[str, object]) -> Reason:
    return Reason(text, key, **values)
