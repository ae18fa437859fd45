"""The campaign mail written directly (``compose.to_bytes``, ``onboarding.mime_writer``) reads back
exactly as the reference written by the ``email`` package (``compose.to_message``): every header,
the recipient's name and address, both bodies, on awkward names, subjects and bodies and on the
shipped French and English wording of every step; and its bytes are what SMTP wants (7-bit, CRLF
only, no line over 998, bodies encoded)."""
from __future__ import annotations

import random
import re
from datetime import datetime, timezone
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from types import SimpleNamespace

import pytest

from onboarding import compose
from onboarding.templating import default_template

NOW = datetime(2026, 3, 1, 8, 30, tzinfo=timezone.utc)
HEADERS = ("From", "Subject", "Date", "Message-ID", "List-Unsubscribe", "List-Unsubscribe-Post")

# names and subjects as the sender hands them over: one line, single spaces (compose.parts)
NAMES = [" ".join(n.split())[:200] for n in [
    "Contact 1", "Jean-Émile O'Brien", 'Dupont, "Le Grand" & Fils', "J. R. R. Tolkien", "back\\slash",
    "株式会社テスト", "Zoë 🚀 Ltd", "=?utf-8?q?not_a_word?=", "A" * 200, "x", "Ça, c'est « fort »",
    "Dupont, Émile", "mixed ascii and ünïcödé " * 6, "Émile Zoë Françoise Hélène Jérôme Ångström Øre"]]
SUBJECTS = [" ".join(s.split()) for s in [
    "Invitation", "Company 1 SAS : inscrivez-vous à la facturation électronique", "a " * 60, "x" * 150,
    "=?utf-8?b?Zm9v?= literal", "Émoji 🚀 " * 9, "Quotes \"and\" (parens) <angles>"]]
BODIES = ["Hello,\n\nplain text.\n", "no final newline", "Bonjour à tous,\n" + "é" * 100 + "\n",
          ".\n.leading dot\n..two\nFrom the start\n", "trailing spaces   \nand tabs\t\t\nend",
          "a=b, c==d, =3D literal\n" + "w" * 200 + "\n", "CR\ronly\r\nand CRLF\r\nand LF\n",
          "日本語のテキスト。\n" * 20, "\n\nblank lines first\n\n\n", "x" * 76 + "\n" + "y" * 77 + " \n"]


def _parts(**kw) -> compose.Parts:
    values = dict(sender="onboarding@edigate.test", to_name="Contact 1", to_address="c1@example.test",
                  subject="Invitation", date="Sun, 01 Mar 2026 08:30:00 +0000",
                  message_id="<edigate-onboarding.7.0123456789ab@edigate.test>",
                  optout_url="https://edigate.test/optout/WzEyXQ.mZhtzuQLVqOTEUeAzlyI50hhqH4",
                  text="Hello\n", html="<html><body><p>Hello</p></body></html>")
    values.update(kw)
    return compose.Parts(**values)


def _read(data: bytes) -> EmailMessage:
    return BytesParser(policy=policy.default).parsebytes(data)


def _lines(text: str) -> str:
    """A body as a reader sees it: line ends of any kind as one, a final one."""
    return "\n".join(text.splitlines()) + "\n"


def _ours(p: compose.Parts) -> tuple[bytes, EmailMessage]:
    data = compose.to_bytes(p)
    assert isinstance(data, bytes)
    return data, _read(data)


def _same(p: compose.Parts) -> None:
    """Ours reads back as the parts say; the reference, where it reads back the same, agrees with
    ours. (The reference does not always: an ASCII name that looks like an encoded word is
    decoded by readers, and long encoded subjects lose spaces.)"""
    data, ours = _ours(p)
    ref = compose.to_message(p)
    theirs = _read(ref.as_bytes(policy=ref.policy.clone(linesep="\r\n")))
    intended = {"From": None, "Subject": p.subject, "Date": p.date, "Message-ID": p.message_id,
                "List-Unsubscribe": f"<{p.optout_url}>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}
    for name in HEADERS:
        mine = str(ours[name]).strip()
        if intended[name] is not None:
            assert mine == intended[name], name
        if intended[name] is None or str(theirs[name]).strip() == intended[name]:
            assert mine == str(theirs[name]).strip(), name
    (a,) = ours["To"].addresses
    assert a.addr_spec == p.to_address
    if _long_encoded_run(p.to_name):
        # Python's parser puts a space between adjacent encoded words in a display name, which
        # RFC 2047 (6.2) says to drop; mail readers do. Only a run of more than one word's worth
        # (39 bytes) of non-ASCII characters is split into several: compare what is left.
        assert a.display_name.replace(" ", "") == p.to_name.replace(" ", "")
    else:
        assert a.display_name == p.to_name
    assert ours.get_content_type() == theirs.get_content_type()
    for kind in ("plain", "html"):
        mine, ref_part = ours.get_body((kind,)), theirs.get_body((kind,))
        assert (mine is None) == (ref_part is None)
        if mine is not None:
            assert _lines(mine.get_content()) == _lines(ref_part.get_content()) == _lines(
                p.text if kind == "plain" else p.html), kind
            assert mine.get_content_charset() == "utf-8"
            assert mine["Content-Transfer-Encoding"] in ("quoted-printable", "base64")
    assert not ours.defects and all(not part.defects for part in ours.walk())
    assert data.isascii()
    assert b"\r" not in data.replace(b"\r\n", b"") and b"\n" not in data.replace(b"\r\n", b"")
    assert max(len(line) for line in data.split(b"\r\n")) <= 998
    head = data.split(b"\r\n\r\n", 1)[0].decode("ascii")
    folded = [line for line in head.split("\r\n") if not line.startswith((" ", "\t"))]
    single = () if p.html else ("Content-Transfer-Encoding",)
    assert sorted(line.split(":", 1)[0] for line in folded) == sorted(
        ("From", "To", *HEADERS[1:], "MIME-Version", "Content-Type", *single))


def _long_encoded_run(name: str) -> bool:
    run = 0
    for word in name.split(" "):
        atom = word.isascii() and re.fullmatch(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+", word) and "=?" not in word
        run = 0 if atom else run + len(word.encode()) + 1
        if run > 40:
            return True
    return False


@pytest.mark.parametrize("name", NAMES)
def test_names_read_back_as_the_reference_writes_them(name):
    _same(_parts(to_name=name))


@pytest.mark.parametrize("subject", SUBJECTS)
def test_subjects_read_back_as_the_reference_writes_them(subject):
    _same(_parts(subject=subject))


@pytest.mark.parametrize("body", BODIES)
def test_bodies_read_back_as_the_reference_writes_them_with_and_without_html(body):
    _same(_parts(text=body, html=f"<html><body><pre>{body}</pre></body></html>"))
    _same(_parts(text=body, html=None))


@pytest.mark.parametrize("sender", ["onboarding@edigate.test", "Équipe Onboarding <onboarding@edigate.test>",
                                    '"Edigate, onboarding" <o@edigate.test>'])
def test_the_campaigns_own_from_address(sender):
    _same(_parts(sender=sender))


def test_random_mixtures():
    rnd = random.Random(17)
    alphabet = "abcXYZ 019.,;:'\"()<>@=?_-\\\téàüß€日本🚀\n"
    for _ in range(300):
        def text(n):
            return "".join(rnd.choice(alphabet) for _ in range(rnd.randint(1, n)))
        name = " ".join(text(30).split())[:200] or "x"
        subject = re.sub(r"\s+", " ", text(120)).strip()
        _same(_parts(to_name=name, subject=subject, text=text(600), html=rnd.choice([None, text(600)])))


def test_an_address_that_is_not_plain_goes_through_the_reference():
    for address in ("user@exämple.de", '"quoted local"@example.test'):
        message = compose.to_bytes(_parts(to_address=address))
        assert isinstance(message, EmailMessage) and message["To"].addresses[0].addr_spec == address
    for address in ("jörg@example.de", "not an address"):
        with pytest.raises(ValueError):
            compose.to_bytes(_parts(to_address=address))


@pytest.mark.parametrize("language", ["fr", "en"])
@pytest.mark.parametrize("step", ["information", "invitation", "reminder-1"])
def test_the_shipped_wording_of_every_step_and_language(language, step):
    campaign = SimpleNamespace(id=1, name="Campagne 2026", from_address=None, reminder_count=3)
    cp = SimpleNamespace(name="Société Été SAS", contact_name="Émile Zola", email="c1@example.test", siren="400000009",
                         siret="40000000900011", vat="", gln="", segment="", language=language)
    inv = SimpleNamespace(id=12, token_nonce="n" * 32, expires_at=datetime(2026, 4, 1, tzinfo=timezone.utc))
    mail = SimpleNamespace(id=99, step=step, message_id="<edigate-onboarding.99.0123456789ab@edigate.test>")
    p = compose.parts(default_template(step, language), campaign, cp, inv, mail, public_url="https://edigate.test",
                      secret=b"k" * 32, mail_from="onboarding@edigate.test", now=NOW)
    _same(p)
    msg = _read(compose.to_bytes(p))
    text, html = msg.get_body(("plain",)).get_content(), msg.get_body(("html",)).get_content()
    assert ("1er avril 2026" if language == "fr" else "1 April 2026") in text + html or step == "information"
    assert p.optout_url in text and p.optout_url in html
    assert ("/register/" in text) == (step != "information")
    assert re.search(r'<img src="https://edigate\.test/t/[^"]+\.gif"', html)
    assert msg["Subject"] == p.subject and "Société Été SAS" in p.subject + text
    assert msg["From"].addresses[0].display_name == "Campagne 2026"        # who invites, as mail clients show it
