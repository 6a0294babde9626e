"""Every text of the portal through a message catalogue (``locale/<lang>/LC_MESSAGES/portal.po``).

The ``.po`` files are read with Babel at start-up (no compile step, so nothing generated is committed); a
message missing from a catalogue falls back to its English id. The language is negotiated from the browser's
``Accept-Language`` among those shipped (:data:`LANGUAGES`); amounts use the browser's full locale when Babel
knows it (``en-IN``: lakh and crore), else the portal's default (``ATTAIN_PORTAL_LOCALE``).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from pathlib import Path

from babel import Locale, UnknownLocaleError
from babel.messages.pofile import read_po

LOCALE_DIR = Path(__file__).with_name("locale")
DOMAIN = "portal"
LANGUAGES = ("en", "fr")
Translate = Callable[..., str]


@cache
def catalogue(language: str) -> dict[str, str]:
    """msgid -> translated text of a shipped language (empty translations left out)."""
    with (LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po").open("rb") as file:
        messages = read_po(file, locale=language)
    return {str(message.id): str(message.string) for message in messages if message.id and message.string}


def translator(language: str) -> Translate:
    """``_("text", name=value)``: the translation of ``text`` with ``%(name)s`` placeholders filled."""
    texts = catalogue(language if language in LANGUAGES else "en")

    def translate(message: str, **values: object) -> str:
        found = texts.get(message, message)
        return found % values if values else found

    return translate


def preferred(accept_language: str | None, default: str) -> tuple[str, str]:
    """(the catalogue language, the locale amounts are read in) for an ``Accept-Language`` header."""
    tags = [part.split(";")[0].strip() for part in (accept_language or "").split(",") if part.strip()]
    for tag in tags:
        try:
            locale = Locale.parse(tag.replace("-", "_"))
        except (ValueError, UnknownLocaleError):
            continue
        if locale.language in LANGUAGES:
            full = str(locale).replace("_", "-") if locale.territory else _default_territory(locale.language, default)
            return locale.language, full
    return _language_of(default), default


def _language_of(locale: str) -> str:
    language = locale.split("-")[0].split("_")[0]
    return language if language in LANGUAGES else "en"


def _default_territory(language: str, default: str) -> str:
    return default if _language_of(default) == language else language
