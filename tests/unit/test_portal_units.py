"""The portal's pure parts: next tier, the delta sentence, the live streams' rendering once per item, complete
catalogues, vendored assets, PKCE codes."""

from __future__ import annotations

import doctest
import hashlib
import importlib
import re
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from babel.messages.extract import extract_from_dir

from attain.core.tiers import Tier, next_tier
from services.issuer.authorize import Codes, s256
from services.portal.delta import delta_text
from services.portal.i18n import LANGUAGES, catalogue, preferred, translator
from services.portal.page import credit_text
from services.portal.web import Rendered

PORTAL = Path(__file__).parents[2] / "services" / "portal"
TIERS = (Tier(Decimal(0), Decimal(1), Decimal("0.05")), Tier(Decimal(1), Decimal("1.5"), Decimal("0.08")),
         Tier(Decimal("1.5"), None, Decimal("0.12")))


@pytest.mark.parametrize(("credited", "number", "needed"), [
    (Decimal(0), 1, Decimal(1000)),
    (Decimal("999.99"), 1, Decimal("0.01")),
    (Decimal(1000), 2, Decimal(500)),  # a bound belongs to the tier above it
    (Decimal("1499.99"), 2, Decimal("0.01")),
    (Decimal(1500), 3, None),  # the open-ended top tier: nothing further
])
def test_next_tier_at_the_bounds(credited: Decimal, number: int, needed: Decimal | None) -> None:
    step = next_tier(TIERS, credited, Decimal(1000))
    assert step.number == number
    assert step.credit_needed == needed
    assert (step.following is None) == (needed is None)


def test_next_tier_below_a_first_tier_that_starts_above_zero_and_without_quota() -> None:
    gated = (Tier(Decimal("0.5"), None, Decimal("0.1")),)
    step = next_tier(gated, Decimal(100), Decimal(1000))
    assert (step.number, step.reached, step.credit_needed) == (0, None, Decimal(400))
    assert next_tier(TIERS, Decimal(100), Decimal(0)).credit_needed is None


def test_delta_sentence_in_each_language() -> None:
    assert delta_text(Decimal(42000), "INR", "Acme Corp", 2, 3, "en-IN", translator("en")) == \
        "+₹42,000.00 on Acme Corp, tier 2 → 3"
    french = delta_text(Decimal(1234567), "INR", "Acme", 1, 2, "fr-FR", translator("fr"))
    assert french.startswith("+") and "sur Acme" in french and "palier 1 → 2" in french
    assert "1\u202f234\u202f567,00" in french  # French grouping and decimal comma
    assert delta_text(Decimal("-500"), "JPY", None, 2, 2, "en", translator("en")) == "\u2212¥500"


def _extracted() -> set[str]:
    mapping = [("**.py", "python"), ("**/templates/**.html", "jinja2.ext:babel_extract")]
    return {str(message) for _, _, message, _, _ in extract_from_dir(str(PORTAL), mapping, keywords={"_": None})}


def test_every_text_is_in_every_catalogue_with_the_same_placeholders() -> None:
    texts = _extracted()
    assert len(texts) > 40  # the templates and the delta sentence were read
    for language in LANGUAGES:
        translated = catalogue(language)
        missing = texts - set(translated)
        assert not missing, f"{language}: untranslated {sorted(missing)}"
        for text in texts:
            assert set(re.findall(r"%\((\w+)\)s", text)) == set(re.findall(r"%\((\w+)\)s", translated[text])), text
    assert translator("fr")("Sign out") == "Se déconnecter"


def test_language_and_amount_locale_from_the_browser() -> None:
    assert preferred("fr-FR,fr;q=0.9,en;q=0.8", "en-IN") == ("fr", "fr-FR")
    assert preferred("en-IN", "en-IN") == ("en", "en-IN")
    assert preferred("de-DE", "en-IN") == ("en", "en-IN")  # no German catalogue: the portal's default
    assert preferred(None, "en-IN") == ("en", "en-IN")


def test_vendored_assets_are_the_published_files() -> None:
    vendor = PORTAL / "static" / "vendor"
    listed = dict(reversed(line.split()) for line in (vendor / "README.md").read_text().splitlines()
                  if re.fullmatch(r"[0-9a-f]{64}  \S+", line))
    assert len(listed) == 2
    for path, digest in listed.items():
        assert hashlib.sha256((vendor / path).read_bytes()).hexdigest() == digest, path
        assert (vendor / path).with_name("LICENSE").exists()


def test_an_authorization_code_is_redeemed_once_with_its_verifier_only() -> None:
    codes = Codes(lifetime=60)
    verifier = "v" * 50
    code = codes.issue("attain-portal", "http://portal/cb", s256(verifier), "ae-in-01")
    with pytest.raises(ValueError, match="code_verifier"):
        codes.redeem(code, "attain-portal", "http://portal/cb", "w" * 50)
    code = codes.issue("attain-portal", "http://portal/cb", s256(verifier), "ae-in-01")
    with pytest.raises(ValueError, match="another client"):
        codes.redeem(code, "attain-portal", "http://evil/cb", verifier)
    code = codes.issue("attain-portal", "http://portal/cb", s256(verifier), "ae-in-01")
    assert codes.redeem(code, "attain-portal", "http://portal/cb", verifier) == "ae-in-01"
    with pytest.raises(ValueError, match="unknown, used or expired"):
        codes.redeem(code, "attain-portal", "http://portal/cb", verifier)
    # the issuer's challenge is the one Authlib's client sends (RFC 7636 S256), for any verifier
    for verifier in ("a" * 43, "dBjftJeZ4CPP-0a2cQjW4q7NBH8u3dW0LiW3y4X-eR0", "~._-" * 20):
        assert s256(verifier) == create_s256_code_challenge(verifier)


def test_credit_still_needed_reads_as_enough_and_never_in_calculation_digits() -> None:
    assert credit_text(Decimal("5800000.000"), "en-IN") == "58,00,000"
    assert credit_text(Decimal("1195600.00"), "en-IN") == "11,95,600"
    assert credit_text(Decimal("0.001"), "en") == "0.01"  # rounded up: this much more is enough
    assert credit_text(Decimal("2.5"), "en") == "2.5"


@pytest.mark.parametrize("name", ["services.portal.web", "services.portal.delta"])
def test_the_portals_docstring_examples_hold(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name))
    assert result.attempted > 0 and result.failed == 0, result


def test_a_pushed_item_is_rendered_once_per_reader_language_and_locale_while_it_is_among_the_newest() -> None:
    rendered, made = Rendered(2), []

    def make(label: str) -> Callable[[], bytes]:
        return lambda: made.append(label) or label.encode()

    first, second, third = object(), object(), object()
    assert [rendered.event(first, "en", "en-IN", make("a")) for _ in range(3)] == [b"a"] * 3
    assert rendered.event(first, "fr", "fr-FR", make("b")) == b"b"  # another reader's language: its own
    assert rendered.event(first, "en", "en-IN", make("c")) == b"a"
    assert made == ["a", "b"]
    rendered.event(second, "en", "en-IN", make("d"))  # the oldest entry (first, fr) goes
    rendered.event(third, "en", "en-IN", make("e"))  # then (first, en), used last before second came
    assert rendered.event(first, "en", "en-IN", make("f")) == b"f"
    assert made == ["a", "b", "d", "e", "f"]
