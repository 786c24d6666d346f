"""The message catalogs: every UI string, one JSON file per language in data/i18n/."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Literal, TypeAlias

Lang: TypeAlias = Literal["zh", "en"]
LANGS: tuple[Lang, ...] = ("zh", "en")
DEFAULT_LANG: Lang = "zh"
CATALOG_DIR = Path(__file__).resolve().parents[1] / "data" / "i18n"


class MissingMessageError(KeyError):
    """A message key is not in the catalog."""


@cache
def catalog(lang: Lang) -> dict[str, str]:
    """Return the message catalog of a language."""
    if lang not in LANGS:
        msg = f"unknown language {lang!r}; expected one of {', '.join(LANGS)}"
        raise ValueError(msg)
    data: dict[str, str] = json.loads((CATALOG_DIR / f"{lang}.json").read_text(encoding="utf-8"))
    return data


def t(key: str, lang: Lang = DEFAULT_LANG, **values: object) -> str:
    """Return the message ``key`` in ``lang``, formatted with ``values``.

    Raises
    ------
    MissingMessageError
        If the key is not in the catalog (a test checks both catalogs hold every key).
    """
    try:
        text = catalog(lang)[key]
    except KeyError as exc:
        msg = f"message {key!r} missing from the {lang} catalog"
        raise MissingMessageError(msg) from exc
    return text.format(**values) if values else text
