"""The partner service: one set of checks for the CLI, the REST API and onboarding's enrolment,
one error naming the field; and the three paths refusing the same thing for the same reason."""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from gateway.certs import make_self_signed
from gateway.cli import main
from gateway.db import AS2Identity, Organisation, Partner
from gateway.partners.service import PartnerError, PartnerService
from onboarding.enrol import Enrolment, EnrolmentConflict, enrol
from tests.support.onboarding_web_seed import SIRET, invite
from tests.support.web_seed import app, client, gw, people, seeded  # noqa: F401

GLN = "4000001000005"
API = "/api/v1"


def refusal(gw, fn) -> PartnerError:   # noqa: F811
    """The ``PartnerError`` ``fn(service)`` raises; the transaction is rolled back."""
    with pytest.raises(PartnerError) as caught:
        with gw.session() as s:
            fn(PartnerService(s))
    return caught.value


def count(gw) -> int:   # noqa: F811
    with gw.session() as s:
        return s.scalar(sa.select(sa.func.count()).select_from(Partner))


@pytest.fixture
def ours(gw):   # noqa: F811
    with gw.session() as s:
        org = Organisation(name="Ours")
        org.as2_identities.append(AS2Identity(as2_name="OURS-AS2"))
        s.add(org)
    return "OURS-AS2"


def test_create_checks_normalises_and_keeps_the_secure_defaults(gw) -> None:   # noqa: F811
    with gw.session() as s:
        p = PartnerService(s).create(
            {"name": "  Initech ", "as2_id": "INITECH", "as2_url": "https://as2.initech.example/in",
             "preferred_format": " UBL ", "preferred_channel": "AS2", "as2_signing_algorithm": "SHA-512",
             "as2_encryption_algorithm": None, "contact_email": "ap@Initech.EXAMPLE"},
            identifiers=[("GLN", f" {GLN} "), ("em", "AP@Initech.example")])
        assert (p.name, p.preferred_format, p.preferred_channel) == ("Initech", "ubl", "as2")
        assert (p.as2_signing_algorithm, p.as2_encryption_algorithm) == ("sha512", None)   # None clears: no default
        assert p.as2_compress is True and p.contact_email == "ap@initech.example"
        assert [(i.scheme, i.value) for i in p.identifiers] == [("0088", GLN), ("EM", "ap@initech.example")]


@pytest.mark.parametrize("values, field, says", [
    ({"name": " "}, "name", "a partner needs a name"),
    ({"name": "X", "as2_id": 'AC"ME'}, "as2.id", "not a usable AS2 name"),
    ({"name": "X", "as2_url": "ftp://x.example/"}, "as2.url", "not an http:// or https:// URL"),
    ({"name": "X", "preferred_format": "docx"}, "preferred_format", "unknown format 'docx'"),
    ({"name": "X", "preferred_channel": "pigeon"}, "preferred_channel", "unknown channel 'pigeon'"),
    ({"name": "X", "as2_signing_algorithm": "sha1"}, "as2.signing_algorithm", "SHA-1 is too weak"),
    ({"name": "X", "as2_encryption_algorithm": "3des"}, "as2.encryption_algorithm", "too weak for encryption"),
    ({"name": "X", "as2_mdn_mode": "later"}, "as2.mdn_mode", "'later' is not one of"),
    ({"name": "X", "as2_compress": "yes"}, "as2.compress", "expected true or false"),
    ({"name": "X", "contact_email": "bob@"}, "contact_email", "is not an e-mail address"),
    ({"name": "X", "as2_identity": "NOBODY"}, "as2.identity_id", "no AS2 identity of ours named 'NOBODY'"),
    ({"name": "X", "channel_settings": {"email": {"to": ["bob@"]}}}, "channel_settings.email.to[0]",
     "is not an e-mail address"),
    ({"name": "X", "preferred_channel": "email"}, "channel_settings", "the email channel needs at least one"),
    ({"name": "X", "preferred_channel": "network"}, "channel_settings", "the network channel needs"),
])
def test_refusals_name_the_field_and_write_nothing(gw, values, field, says) -> None:   # noqa: F811
    e = refusal(gw, lambda partners: partners.create(values))
    assert (e.field, e.conflict) == (field, False) and says in str(e), str(e)
    assert count(gw) == 0


def test_conflicts_name_who_holds_it(gw, ours) -> None:   # noqa: F811
    with gw.session() as s:
        acme = PartnerService(s).create({"name": "ACME", "as2_id": "ACME-AS2"}, identifiers=[("0088", GLN)])
        acme_id = acme.id
    for values, identifiers, field in (({"name": "ACME"}, (), "name"),
                                       ({"name": "Other", "as2_id": "ACME-AS2"}, (), "as2.id"),
                                       ({"name": "Other"}, [("GLN", GLN)], "identifiers")):
        e = refusal(gw, lambda partners: partners.create(values, identifiers=identifiers))
        assert (e.field, e.conflict, e.holder_id) == (field, True, acme_id), str(e)
        assert "ACME" in str(e)
    e = refusal(gw, lambda partners: partners.create({"name": "Other", "as2_id": ours}))
    assert (e.field, e.conflict) == ("as2.id", True) and "already ours (organisation Ours)" in str(e)
    assert count(gw) == 1


def test_check_digits_are_checked_unless_the_caller_takes_identifiers_as_they_are(gw) -> None:   # noqa: F811
    e = refusal(gw, lambda partners: partners.create({"name": "X"}, identifiers=[("0002", "123456789")]))
    assert (e.field, e.value) == ("identifiers", ("0002", "123456789")) and "check digit" in str(e)
    with gw.session() as s:
        p = PartnerService(s).create({"name": "X"}, identifiers=[("0002", "123456789")], check_digits=False)
        assert [(i.scheme, i.value) for i in p.identifiers] == [("0002", "123456789")]


def test_update_replaces_identifiers_and_channel_settings_per_channel(gw) -> None:   # noqa: F811
    with gw.session() as s:
        partners = PartnerService(s)
        p = partners.create({"name": "ACME", "preferred_channel": "email",
                             "channel_settings": {"email": {"to": ["a@acme.example"]},
                                                  "portal": {"notify": ["n@acme.example"]}}},
                            identifiers=[("0088", GLN), ("0009", SIRET)])
        changed = partners.update(p, {"channel_settings": {"portal": None}, "as2_url": "https://acme.example/as2",
                                      "name": "ACME"}, identifiers=[("0009", SIRET), ("EM", "ap@acme.example")])
        assert changed == ["as2_url", "channel_settings"]
        assert p.channel_settings == {"email": {"to": ["a@acme.example"]}}
        assert sorted((i.scheme, i.value) for i in p.identifiers) == [("0009", SIRET), ("EM", "ap@acme.example")]
        e = None
        try:
            partners.update(p, {"channel_settings": {"email": None}})       # email without an address left
        except PartnerError as exc:
            e = exc
        assert e is not None and e.field == "channel_settings"
        assert partners.set_active(p, False) and not partners.set_active(p, False)
        assert partners.add_identifiers(p, [("em", "AP@acme.example")]) == []            # has it already
        partners.remove_identifier(p, "EM", "ap@acme.example")
        e = refusal(gw, lambda other: other.remove_identifier(s.merge(p), "0088", GLN))
        assert e.field == "identifiers" and "has no identifier 0088:" in str(e)


def test_a_certificate_twice_is_refused(gw) -> None:   # noqa: F811
    pem = make_self_signed("acme", days=30).cert_pem
    with gw.session() as s:
        partners = PartnerService(s)
        p = partners.create({"name": "ACME"})
        first = partners.add_certificate(p, pem)
        assert first.also_held_by == []
        with pytest.raises(PartnerError, match=r"already has this certificate as #\d+ \(active\)") as caught:
            partners.add_certificate(p, pem)
        assert (caught.value.field, caught.value.conflict) == ("certificate", True)
        other = partners.create({"name": "Other"})
        assert [c.id for c in partners.add_certificate(other, pem).also_held_by] == [first.certificate.id]


# --- the three paths, one refusal ------------------------------------------------------------

def test_an_as2_id_of_ours_is_refused_by_the_cli_the_api_and_the_registration(
        gw, client, people, ours, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:   # noqa: F811
    monkeypatch.setenv("EDIGATE_HOME", str(gw.settings.home))
    for name in ("EDIGATE_DATABASE_URL", "EDIGATE_JOBS_URL", "EDIGATE_PAYLOAD_DIR"):
        monkeypatch.delenv(name, raising=False)
    before = count(gw)

    cli = CliRunner().invoke(main, ["partner", "add", "Other", "--as2-id", ours])
    assert cli.exit_code == 2 and "AS2 name 'OURS-AS2' is already ours (organisation Ours)" in cli.output

    api = client.post(f"{API}/partners", json={"name": "Other", "as2": {"id": ours}}, headers=people.auth("admin"))
    assert api.status_code == 409 and api.get_json()["details"] == {"field": "as2.id"}
    assert "already ours" in api.get_json()["error"]

    link = invite(gw, b"secret")
    with pytest.raises(EnrolmentConflict) as caught:
        with gw.session() as s:
            enrol(s, link.invitation_id, Enrolment(
                name="Dupont", identifiers=(("0009", SIRET),), company_email="c@dupont.example",
                contact_name="Claire", contact_email="c@dupont.example", channel="as2", as2_id=ours,
                as2_url="https://as2.dupont.example/in"), now=datetime.now(timezone.utc))
    assert caught.value.field == "as2_id" and str(caught.value) == "AS2 id 'OURS-AS2' is taken: choose another"
    assert "Ours" not in str(caught.value)                 # a stranger learns that it is taken, not by whom
    assert count(gw) == before
