"""The public pages' messages (``onboarding/web/messages.py``) all have their French in the
catalogue (gateway/translations), placeholders filled the same way in both languages. The pages speaking the counterparty's language, on a gateway's web app, are
tested in tests/integration/test_onboarding_web_i18n.py."""
from __future__ import annotations

from onboarding.web import messages
from onboarding.web.messages import MESSAGES


def test_every_message_has_its_french_in_the_catalogue() -> None:
    from gateway import i18n
    untranslated = [key for key, msgid in MESSAGES.items()
                    if (i18n.pgettext("fr", *msgid) if isinstance(msgid, tuple) else i18n.gettext("fr", msgid))
                    == (msgid[1] if isinstance(msgid, tuple) else msgid)
                    and not (msgid if isinstance(msgid, str) else msgid[1]).isupper()
                    and key not in SAME_IN_BOTH]
    assert untranslated == []
    assert messages.say("fr", "errors_count", n=2).startswith("2 champ(s)")
    assert messages.say("en", "e_not_email", value="bob@") == "'bob@' is not an e-mail address (name@example.com)"
    assert messages.say("fr", "optout_button") == "Me désinscrire" and messages.say("fr", "optout_title") == "Désinscription"


# words written the same in French and English
SAME_IN_BOTH = {"format", "contact_name"}


def test_the_offered_formats_are_labelled_by_their_mapping_files_summaries() -> None:
    """The wording is the mapping files' (``summary``, ``summary_fr``): tests/unit/test_mapping_summaries.py."""
    from gateway.syntaxes import flavour
    from onboarding.web.channel_forms.base import offered_formats
    assert offered_formats() == ["ubl", "cii", "facturx", "edifact-d96a", "edifact-d01b"]
    for lang in ("fr", "en"):
        assert messages.format_labels(lang, offered_formats()) == {
            f: flavour(f).summary_in(lang) for f in offered_formats()}
    assert not any(key.startswith("fmt_") for key in messages.MESSAGES)
