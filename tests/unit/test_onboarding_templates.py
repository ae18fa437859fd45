"""Mail wording's defaults come from the catalogue, in French and English, for every step and campaign
kind; the HTML part says what the text part says. Overrides, previews and the sandbox, on a campaign
of a gateway's database, are tested in tests/integration/test_onboarding_templates.py."""
from __future__ import annotations

import re
from html import unescape

import pytest

from onboarding import wording
from onboarding.templating import default_template, render, sample_context


@pytest.mark.parametrize("kind", ["customers", "suppliers"])
@pytest.mark.parametrize("lang", ["fr", "en"])
@pytest.mark.parametrize("step", ["information", "invitation", "reminder"])
def test_every_default_comes_from_the_catalogue_and_the_html_says_the_text(step, lang, kind):
    source = default_template(step, lang, kind)
    assert source.origin == "default" and source.body_html is None
    r = render(source, sample_context(lang))
    assert "{{" not in r.subject + r.text + r.html and "%(" not in r.subject + r.text
    # every line of the text is in the HTML part, word for word (the HTML is drawn from the text)
    shown = " ".join(unescape(re.sub(r"<[^>]+>", " ", r.html)).split())
    for line in r.text.splitlines():
        if line.strip() and line.strip() != "--":
            assert " ".join(line.split()) in shown, line
    greeting = "Bonjour Camille Martin," if lang == "fr" else "Dear Alex Smith,"
    assert r.text.startswith(greeting)
    assert ("Groupe Exemple" if lang == "fr" else "Example Group") in r.subject + r.text


def test_the_french_defaults_are_french():
    for step in ("information", "invitation", "reminder"):
        fr, en = default_template(step, "fr"), default_template(step, "en")
        assert fr.subject != en.subject and fr.body_text != en.body_text
    assert "vous invite à inscrire" in default_template("invitation", "fr").body_text
    assert "Cordialement," in default_template("reminder", "fr").body_text


def test_an_edit_of_the_text_is_the_html_too():
    from onboarding.templating import TemplateSource
    ctx = sample_context("en")
    r = render(TemplateSource("Hi", "Hello {{ company }} <b>!</b>\n\n    {{ registration_url }}\n\n"
                                    "--\n{{ optout_url }}\n", None, "draft"), ctx)
    assert "Hello Example Ltd &lt;b&gt;!&lt;/b&gt;" in r.html          # escaped, never markup
    assert f'<a href="{ctx["registration_url"]}" style=' in r.html       # the link alone: a button
    assert wording.html_of("x", lang="fr", title="t", registration_url=None).startswith("<!DOCTYPE html>")
