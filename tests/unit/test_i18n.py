import re

import pytest

from patrol.i18n import LANGS, MissingMessageError, catalog, t


def test_every_language_has_exactly_the_same_keys():
    keys = [set(catalog(lang)) for lang in LANGS]
    assert all(k == keys[0] for k in keys)


def test_placeholders_match_across_languages():
    for key in catalog("zh"):
        fields = [set(re.findall(r"{(\w+)}", catalog(lang)[key])) for lang in LANGS]
        assert all(f == fields[0] for f in fields), key


def test_chinese_is_the_default_language():
    assert t("role.captain") == "中队长/网格长"


def test_a_missing_key_is_an_error_not_a_blank():
    with pytest.raises(MissingMessageError):
        t("no.such.key", "en")


def test_an_unknown_language_is_refused():
    with pytest.raises(ValueError, match="unknown language"):
        catalog("fr")  # type: ignore[arg-type]
