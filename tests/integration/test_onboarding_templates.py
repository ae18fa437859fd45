"""Mail wording on a campaign of a gateway's database: defaults in French and English (the data
files themselves are checked in tests/unit/test_onboarding_templates.py), campaign overrides by language and
segment (most specific wins), previews, and the sandbox: what staff write cannot reach Python,
misspelt variables and a missing opt-out link are refused when saved, HTML is escaped, subjects
stay one header line."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from onboarding.campaigns import CampaignInputError, create_campaign, delete_template, preview, set_template
from onboarding.models import CampaignTemplate, Counterparty
from onboarding.templating import TemplateProblem

OPT = "\n{{ optout_url }}"


@pytest.fixture
def gw(make_gateway):
    return make_gateway(immediate_jobs=False)


@pytest.fixture
def campaign_id(gw):
    with gw.session() as s:
        return create_campaign(s, "Wording", reminder_count=3).id


def _preview(gw, campaign_id, *args, **kw):
    from onboarding.models import Campaign
    with gw.session() as s:
        return preview(s.get(Campaign, campaign_id), *args, public_url="https://edigate.test", **kw)


def test_defaults_exist_for_every_step_in_french_and_english(gw, campaign_id):
    for step in ("information", "invitation", "reminder"):
        fr, en = _preview(gw, campaign_id, step, "fr"), _preview(gw, campaign_id, step, "en")
        assert fr.origin == en.origin == "default"
        assert fr.subject != en.subject and fr.text != en.text
        for r in (fr, en):
            assert "https://edigate.test/optout/" in r.text and "https://edigate.test/optout/" in r.html
            assert "{{" not in r.text + r.subject + r.html
    inv_fr = _preview(gw, campaign_id, "invitation", "fr")
    assert inv_fr.subject == "Wording invite Exemple SARL à passer à la facture électronique"
    assert "https://edigate.test/register/" in inv_fr.text and "Bonjour Camille Martin," in inv_fr.text
    assert "30 juin 2030" in inv_fr.text
    assert "30 June 2030" in _preview(gw, campaign_id, "invitation", "en").text
    assert _preview(gw, campaign_id, "reminder-2", "fr").subject.startswith("Rappel 2/3 : ")
    assert _preview(gw, campaign_id, "reminder", "en").subject.startswith("Reminder 1/3: ")
    assert "/register/" not in _preview(gw, campaign_id, "information", "en").text


def test_campaign_overrides_win_by_segment_then_language_then_default(gw, campaign_id):
    from onboarding.models import Campaign
    with gw.session() as s:
        c = s.get(Campaign, campaign_id)
        set_template(s, c, "invitation", "fr", subject="Pour tous : {{ company }}", body_text="Tous" + OPT)
        set_template(s, c, "invitation", "fr", segment="transport", subject="Transporteurs : {{ company }}",
                     body_text="Transport {{ segment }}" + OPT, body_html="<p>{{ company }}</p><a href=\"{{ optout_url }}\">x</a>")
    transport = _preview(gw, campaign_id, "invitation", "fr", "transport")
    assert (transport.subject, transport.origin) == ("Transporteurs : Exemple SARL", "campaign, segment transport")
    assert transport.text.startswith("Transport transport") and "<p>Transport transport<br>" in transport.html
    other = _preview(gw, campaign_id, "invitation", "fr", "retail")
    assert (other.subject, other.origin) == ("Pour tous : Exemple SARL", "campaign") and "<p>Tous<br>" in other.html
    assert _preview(gw, campaign_id, "invitation", "en", "transport").origin == "default"
    assert _preview(gw, campaign_id, "reminder", "fr", "transport").origin == "default"
    with gw.session() as s:       # replacing keeps one row per (step, language, segment)
        c = s.get(Campaign, campaign_id)
        set_template(s, c, "invitation", "fr", subject="Encore : {{ company }}", body_text="Tous" + OPT)
        assert s.scalar(sa.select(sa.func.count()).select_from(CampaignTemplate)) == 2
        assert delete_template(s, c, "invitation", "fr", "transport") is True
        assert delete_template(s, c, "invitation", "fr", "transport") is False
    assert _preview(gw, campaign_id, "invitation", "fr", "transport").subject == "Encore : Exemple SARL"


def test_preview_with_a_counterparty_uses_its_data_and_escapes_it_in_html(gw, campaign_id):
    with gw.session() as s:
        cp = Counterparty(name="<script>alert(1)</script> & Fils", contact_name="Ana\r\nBcc: all@example.test",
                          email="a@example.test", siret="73282932000074", dedupe_key="EM:a@example.test",
                          language="en")
        s.add(cp)
        s.flush()
        cp_id = cp.id
    from onboarding.models import Campaign
    with gw.session() as s:
        r = preview(s.get(Campaign, campaign_id), "invitation", "en", "", s.get(Counterparty, cp_id))
    assert "<script>alert(1)</script> & Fils" in r.text                     # text is text
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; Fils" in r.html and "<script>" not in r.html
    assert r.text.startswith("Dear Ana")
    assert "\n" not in r.subject and "\r" not in r.subject
    assert r.subject == "Wording invites <script>alert(1)</script> & Fils to electronic invoicing"


@pytest.mark.parametrize("subject, body, problem", [
    ("Hi {{ compnay }}", "x" + OPT, "subject: 'compnay' is undefined"),
    ("Hi", "{{ company }}", "it must show the opt-out link"),
    ("Hi", "{% if %}" + OPT, "text body (line 1)"),
    ("Hi", "{{ ''.__class__.__mro__[1].__subclasses__() }}" + OPT, "text body: access to attribute '__class__'"),
    ("Hi", "{{ lipsum.__globals__['os'] }}" + OPT, "text body: access to attribute '__globals__'"),
    ("Hi", "{{ cycler.__init__.__globals__ }}" + OPT, "text body: access to attribute '__init__'"),
    ("  ", "x" + OPT, "subject: empty"),
])
def test_a_template_that_would_fail_or_escape_the_sandbox_is_refused_when_saved(gw, campaign_id, subject, body,
                                                                                  problem):
    from onboarding.models import Campaign
    with gw.session() as s:
        with pytest.raises(TemplateProblem) as e:
            set_template(s, s.get(Campaign, campaign_id), "invitation", "fr", subject=subject, body_text=body)
        assert problem in str(e.value)
        assert s.scalar(sa.select(sa.func.count()).select_from(CampaignTemplate)) == 0


def test_the_html_part_is_drawn_from_the_text_and_unknown_steps_or_languages_are_refused(gw, campaign_id):
    from onboarding.models import Campaign
    with gw.session() as s:
        c = s.get(Campaign, campaign_id)
        row = set_template(s, c, "invitation", "fr", subject="s", body_text="Nouveau texte" + OPT,
                           body_html="<p>an old HTML part, not used</p>")
        assert row.body_html is None
    r = _preview(gw, campaign_id, "invitation", "fr")
    assert "Nouveau texte" in r.html and "old HTML" not in r.html
    with gw.session() as s:
        c = s.get(Campaign, campaign_id)
        with pytest.raises(CampaignInputError, match="step: 'welcome'"):
            set_template(s, c, "welcome", "fr", subject="s", body_text="t" + OPT)
        with pytest.raises(CampaignInputError, match="language: 'de'"):
            set_template(s, c, "invitation", "de", subject="s", body_text="t" + OPT)


def test_a_template_edited_by_hand_without_opt_out_still_gets_the_link(gw, campaign_id):
    with gw.session() as s:
        s.add(CampaignTemplate(campaign_id=campaign_id, step="invitation", language="en", segment="",
                               subject="Hello", body_text="Register: {{ registration_url }}\n"))
    r = _preview(gw, campaign_id, "invitation", "en")
    assert r.text.startswith("Register: https://edigate.test/register/")
    assert r.text.rstrip().endswith("To stop receiving these messages: https://edigate.test/optout/EXAMPLE-TOKEN")
