"""Money amounts typed by people, read in their own number format ("1,200.50", "1.200,50", "1 200,50").

Why: a rep types an amount the way their locale writes it; refusing "1,200.50" (or reading "1.200,50" as
1.2) loses the log or stores a wrong figure. The browser's language says which mark is the decimal one;
an amount that is ambiguous in that language is read the way that language writes it.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.http import HttpRequest
from django.utils.translation.trans_real import parse_accept_lang_header

# Languages that write the decimal mark as a comma (CLDR); all others use a point.
DECIMAL_COMMA_LANGUAGES = frozenset(
    {
        "af",
        "az",
        "be",
        "bg",
        "bs",
        "ca",
        "cs",
        "da",
        "de",
        "el",
        "es",
        "et",
        "eu",
        "fi",
        "fo",
        "fr",
        "gl",
        "hr",
        "hu",
        "hy",
        "id",
        "is",
        "it",
        "ka",
        "kk",
        "ky",
        "lt",
        "lv",
        "mk",
        "mn",
        "nb",
        "nl",
        "nn",
        "no",
        "pl",
        "pt",
        "ro",
        "ru",
        "sk",
        "sl",
        "sq",
        "sr",
        "sv",
        "tr",
        "uk",
        "uz",
        "vi",
    }
)
_SPACES = re.compile("[\\s\u00a0\u202f'\u2019]")
_CURRENCY = re.compile(r"^[^\d\-+.,]+|[^\d.,]+$")


def request_language(request: HttpRequest) -> str:
    """The first language the browser asks for (e.g. "de-ch"), or "en" when it names none."""
    for code, _quality in parse_accept_lang_header(request.headers.get("Accept-Language", "")):
        if code and code != "*":
            return code.lower()
    return "en"


def decimal_mark(language: str) -> str:
    """ "," or "." — the decimal mark of a language code such as "de-DE" or "en-us"."""
    return "," if language.split("-")[0].lower() in DECIMAL_COMMA_LANGUAGES else "."


def amount_parse(text: str, *, language: str = "en") -> Decimal:
    """Read a typed amount in the user's format; raises ValidationError (a plain sentence) when it is not one."""
    raw = _CURRENCY.sub("", _SPACES.sub("", str(text or "")))
    example = "1,200.50" if decimal_mark(language) == "." else "1.200,50"
    problem = ValidationError(f"“{text}” is not an amount; write it like {example}.", code="invalid")
    if not raw or not re.fullmatch(r"[+-]?[\d.,]+", raw):
        raise problem
    commas, points = raw.count(","), raw.count(".")
    if commas and points:
        decimal = "," if raw.rfind(",") > raw.rfind(".") else "."
    elif commas > 1 or points > 1:
        decimal = "." if commas else ","  # a repeated mark groups thousands
    elif commas or points:
        mark = "," if commas else "."
        # One mark followed by exactly three digits groups thousands unless the language uses it as decimal mark.
        three_after = re.search(rf"\{mark}\d{{3}}$", raw) is not None
        decimal = mark if not three_after or decimal_mark(language) == mark else ("." if mark == "," else ",")
    else:
        decimal = "."
    thousands = "," if decimal == "." else "."
    whole, _, fraction = raw.partition(decimal)
    groups = whole.lstrip("+-").split(thousands)
    if len(groups) > 1 and (not 1 <= len(groups[0]) <= 3 or any(len(g) != 3 for g in groups[1:])):
        raise problem
    if thousands in fraction or decimal in fraction:
        raise problem
    try:
        return Decimal(whole.replace(thousands, "") + ("." + fraction if fraction else ""))
    except InvalidOperation:
        raise problem from None
