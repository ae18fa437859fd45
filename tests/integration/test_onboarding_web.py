"""The public registration pages on a real Gateway (SQLite under tmp_path), CSRF on as in production:
refused links, validation messages next to their fields, enrolment into an active partner for each
way of receiving, single use under concurrent submits, opt-out and the open pixel."""
from __future__ import annotations

import html
import io
import threading
from datetime import timedelta

import pytest
import sqlalchemy as sa

from gateway.db import (AS2Identity, Certificate, Network, NetworkParticipant, Organisation, Partner,
                        PartnerIdentifier, SftpAccount, User, utcnow)
from onboarding import links
from onboarding.enrol import AlreadyUsed, Enrolment, enrol
from onboarding.models import CampaignMail, Counterparty, Invitation, Registration, TrackingEvent
from onboarding.web.registration import PIXEL
from tests.support.onboarding_web_seed import (GLN, SIREN, SIRET, SIRET_2, VAT, certificate, company_form, csrf_of,
                                       expired_certificate, field_error, input_value, invite, private_key_pem,
                                       ssh_private_key, ssh_public_key, text, weak_rsa_certificate)
from tests.support.web_seed import app, client, gw  # noqa: F401


@pytest.fixture
def secret(app):
    return app.secret_key


def events(gw, counterparty_id: int, kind: str) -> int:
    with gw.session() as s:
        return s.scalar(sa.select(sa.func.count()).select_from(TrackingEvent)
                        .where(TrackingEvent.counterparty_id == counterparty_id, TrackingEvent.kind == kind))


def partners(gw) -> list[Partner]:
    with gw.session() as s:
        return list(s.scalars(sa.select(Partner).options(sa.orm.selectinload(Partner.identifiers))
                              .order_by(Partner.id)))


def submit(client, link, form: dict, files: dict | None = None):
    """Open the form (as a person would), then post it with its CSRF token."""
    page = client.get(link.url)
    assert page.status_code == 200, text(page)
    data = dict(form, csrf_token=csrf_of(page))
    for name, (content, filename) in (files or {}).items():
        data[name] = (io.BytesIO(content), filename)
    return client.post(link.url, data=data, content_type="multipart/form-data")


# --- refused links -----------------------------------------------------------------------------

def test_the_csrf_protection_is_on(app) -> None:
    assert app.config.get("WTF_CSRF_ENABLED", True)


@pytest.mark.parametrize("kind, status, title", [
    ("forged", 404, "This link is not valid"),
    ("unknown", 404, "This link is not valid"),
    ("expired", 410, "This link has expired"),
    ("used", 410, "This link has already been used"),
    ("revoked", 410, "This link has been replaced"),
])
def test_each_refused_link_gets_its_own_page(gw, client, secret, kind, status, title) -> None:
    link = invite(gw, secret)
    token = csrf_of(client.get(invite(gw, secret, email="other@x.example").url))    # this browser's CSRF token
    url = link.url
    with gw.session() as s:
        inv = s.get(Invitation, link.invitation_id)
        if kind == "forged":
            url = url[:-3] + ("AAA" if not url.endswith("AAA") else "BBB")
        elif kind == "unknown":
            s.delete(inv)
        elif kind == "expired":
            inv.expires_at = utcnow() - timedelta(minutes=1)
        elif kind == "used":
            inv.used_at = utcnow()
        elif kind == "revoked":
            links.revoke(inv)
    for response in (client.get(url), client.post(url, data=dict(company_form(), csrf_token=token))):
        assert response.status_code == status
        page = text(response)
        assert title in page and "What to do:" in page
        assert "Traceback" not in page and 'name="siret"' not in response.get_data(as_text=True)
    assert events(gw, link.counterparty_id, "clicked") == 0


@pytest.mark.parametrize("token", ["x", "A" * 600, "..", "%00", "eyJhbGciOiJub25lIn0.e30."])
def test_garbage_tokens_are_forged_links(client, token) -> None:
    r = client.get(f"/register/{token}")
    assert r.status_code == 404 and "This link is not valid" in text(r)


def test_a_link_signed_with_another_key_is_forged(gw, client) -> None:
    link = invite(gw, b"not the gateway's key")
    r = client.get(link.url)
    assert r.status_code == 404 and "This link is not valid" in text(r)


# --- the form ----------------------------------------------------------------------------------

def test_the_form_is_prefilled_and_the_first_visit_records_the_click(gw, client, secret) -> None:
    link = invite(gw, secret, name="Martin & Fils", siret=SIRET, email="ap@martin.example")
    r = client.get(link.url)
    assert r.status_code == 200
    assert input_value(r, "name") == "Martin & Fils"
    assert input_value(r, "siret") == SIRET and input_value(r, "siren") == SIREN
    assert input_value(r, "email") == "ap@martin.example" and input_value(r, "email_to") == "ap@martin.example"
    client.get(link.url)
    assert events(gw, link.counterparty_id, "clicked") == 1
    with gw.session() as s:
        assert s.get(Invitation, link.invitation_id).first_clicked_at is not None
    csp = r.headers["Content-Security-Policy"]
    assert "script-src" not in csp and "default-src 'none'" in csp and "<script" not in r.get_data(as_text=True)
    assert r.headers["Referrer-Policy"] == "no-referrer" and r.headers["X-Frame-Options"] == "DENY"
    assert "Terms of use" in text(client.get("/register/terms"))
    missing = client.get("/register/certificate.pem")                  # no AS2 identity of ours yet
    assert missing.status_code == 404 and "No certificate of ours is configured yet" in text(missing)


def test_a_post_without_the_csrf_token_is_refused_and_records_nothing(gw, client, secret) -> None:
    link = invite(gw, secret)
    client.get(link.url)
    r = client.post(link.url, data=company_form())
    assert r.status_code == 400 and "Form refused" in text(r)
    r = client.post(link.url, data=dict(company_form(), csrf_token="forged"))
    assert r.status_code == 400
    assert partners(gw) == [] and events(gw, link.counterparty_id, "registration_started") == 0


@pytest.mark.parametrize("field, value, message", [
    ("siret", "73282932000075", "fails its check digit (Luhn)"),
    ("siret", "7328293200007", "a SIRET is 14 digits"),
    ("siren", "356000000", "is not the one in SIRET"),
    ("vat", "FR45732829320", "does not match SIREN"),
    ("vat", "F", "a VAT number is the country code"),
    ("gln", "3012345000010", "fails its GS1 check digit"),
    ("email", "compta@", "is not an e-mail address"),
    ("contact_email", "claire at dupont", "is not an e-mail address"),
    ("contact_phone", "call me", "is not a phone number"),
    ("name", "   ", "give your company's name"),
    ("contact_name", "", "give the name of the person"),
    ("terms", None, "accept the terms of use"),
    ("channel", None, "choose how you want to receive"),
    ("email_to", "factures@dupont.example, bob@", "'bob@' is not an e-mail address"),
    ("email_subject", "Invoice {{ nummer }}", "'nummer' is undefined"),
])
def test_each_bad_field_gets_its_message_next_to_it_and_input_is_kept(gw, client, secret, field, value,
                                                                      message) -> None:
    link = invite(gw, secret)
    r = submit(client, link, company_form(**{field: value}))
    assert r.status_code == 422
    shown = field_error(r, field)
    assert shown is not None and message in shown, (shown, text(r)[:1500])
    assert "to correct below" in text(r)
    if field != "name":
        assert input_value(r, "name") == "Dupont Fournitures SARL"          # the rest is kept
    if field not in ("contact_email",):
        assert input_value(r, "contact_email") == "claire@dupont.example"
    assert partners(gw) == []
    with gw.session() as s:
        inv = s.get(Invitation, link.invitation_id)
        assert inv.used_at is None and inv.status == "registering"
        assert s.get(Counterparty, link.counterparty_id).status == "registering"
    assert events(gw, link.counterparty_id, "registration_started") == 1


def test_registration_started_is_recorded_once(gw, client, secret) -> None:
    link = invite(gw, secret)
    submit(client, link, company_form(siret="1"))
    submit(client, link, company_form(siret="2"))
    assert events(gw, link.counterparty_id, "registration_started") == 1


def test_an_identifier_of_an_existing_partner_is_refused(gw, client, secret) -> None:
    with gw.session() as s:
        p = Partner(name="Already Here")
        p.add_identifier("0009", SIRET)
        s.add(p)
    link = invite(gw, secret)
    r = submit(client, link, company_form())
    assert r.status_code == 422 and "already belongs to a partner of this gateway (Already Here)" in \
        field_error(r, "siret")


def test_at_least_one_identifier_is_needed(gw, client, secret) -> None:
    link = invite(gw, secret)
    r = submit(client, link, company_form(siret="", siren="", vat="", gln=""))
    assert r.status_code == 422 and "give at least one identifier" in field_error(r, "siret")


# --- enrolment ---------------------------------------------------------------------------------

def test_registering_by_email_makes_an_active_partner_in_one_go(gw, client, secret) -> None:
    link = invite(gw, secret)
    with gw.session() as s:                       # a reminder was due: enrolment must cancel it
        s.add(CampaignMail(invitation_id=link.invitation_id, step="reminder-1", status="scheduled",
                           due_at=utcnow() + timedelta(days=5)))
    r = submit(client, link, company_form(gln=GLN, email_subject="Facture {{ number }} de {{ seller }}",
                                          email_attach="facturx+ubl"))
    assert r.status_code == 303 and r.headers["Location"].startswith("/register/done")
    [p] = partners(gw)
    assert p.active and p.name == "Dupont Fournitures SARL"
    assert p.preferred_channel == "email" and p.preferred_format == "facturx"
    assert p.channel_settings == {"email": {"to": ["factures@dupont.example"],
                                            "subject": "Facture {{ number }} de {{ seller }}",
                                            "attach": "facturx+ubl", "lang": "en"}}
    assert p.contact_email == "claire@dupont.example"
    assert {(i.scheme, i.value) for i in p.identifiers} == {
        ("0009", SIRET), ("0002", SIREN), ("9957", VAT), ("0088", GLN), ("EM", "compta@dupont.example")}
    with gw.session() as s:
        inv = s.get(Invitation, link.invitation_id)
        cp = s.get(Counterparty, link.counterparty_id)
        reg = s.scalar(sa.select(Registration).where(Registration.invitation_id == inv.id))
        mail = s.scalar(sa.select(CampaignMail).where(CampaignMail.invitation_id == inv.id))
        assert inv.used_at is not None and inv.status == "enrolled"
        assert cp.status == "enrolled" and cp.partner_id == p.id and cp.enrolled_at is not None
        assert reg.partner_id == p.id and reg.data["channel"] == "email" and "portal_password" not in reg.data
        assert reg.data["contact_phone"] == "+33 1 23 45 67 89"
        assert mail.status == "cancelled"
    assert events(gw, link.counterparty_id, "enrolled") == 1
    done = client.get(r.headers["Location"])
    assert done.status_code == 200
    page = text(done)
    assert "Dupont Fournitures SARL is registered" in page and "factures@dupont.example" in page
    # the link is spent: a second submit (a second tab, the back button) gets the "already used" page
    token = csrf_of(client.get(invite(gw, secret, email="other@x.example").url))   # this browser's CSRF token
    again = client.post(link.url, data=dict(company_form(), csrf_token=token))
    assert again.status_code == 410 and "This link has already been used" in text(again)
    assert client.get(link.url).status_code == 410
    assert len(partners(gw)) == 1


def test_the_confirmation_is_only_for_the_browser_that_registered(gw, client, app, secret) -> None:
    link = invite(gw, secret)
    r = submit(client, link, company_form())
    other = app.test_client()
    assert other.get(r.headers["Location"]).status_code == 404
    assert client.get("/register/done?r=999").status_code == 404


def test_as2_registration_checks_the_certificate_and_says_where_to_send(gw, client, secret) -> None:
    with gw.session() as s:                        # ours: an organisation with its AS2 identity and certificate
        org = Organisation(name="Us")
        org.as2_identities.append(AS2Identity(as2_name="EDIGATE-US"))
        s.add(org)
        s.flush()
        s.add(Certificate.from_pem(certificate(name="edigate-us"), organisation=org))
    link = invite(gw, secret)
    as2 = company_form(channel="as2", as2_url="https://as2.dupont.example/receive", as2_id="DUPONT-AS2",
                       as2_format="cii")
    for content, message in ((private_key_pem(), "contains a private key"),
                             (expired_certificate(), "the certificate expired on"),
                             (weak_rsa_certificate(), "RSA key of 1024 bits is too weak"),
                             (b"hello", "is not an X.509 certificate"),
                             (b"", "no certificate uploaded")):
        r = submit(client, link, as2, {"as2_certificate": (content, "dupont.pem")})
        assert r.status_code == 422
        assert message in field_error(r, "as2_certificate"), field_error(r, "as2_certificate")
        assert "/tmp" not in text(r)
    for internal in ("http://127.0.0.1:8080/admin", "http://169.254.169.254/latest/meta-data",
                     "https://10.1.2.3/as2", "http://localhost/as2"):      # a stranger names where we post
        r = submit(client, link, dict(as2, as2_url=internal), {"as2_certificate": (certificate(), "dupont.pem")})
        assert "cannot be reached from the Internet" in field_error(r, "as2_url"), internal
    r = submit(client, link, dict(as2, as2_url="ftp://x"), {"as2_certificate": (certificate(), "dupont.pem")})
    assert "is not an http:// or https:// URL" in field_error(r, "as2_url")
    assert field_error(r, "as2_certificate") is None
    assert "Certificate received: CN=dupont-as2" in text(r)         # kept while the URL is corrected
    page = r.get_data(as_text=True)
    kept = page.split('name="as2_certificate_kept" value="')[1].split('"')[0]
    r = client.post(link.url, data=dict(as2, as2_certificate_kept=html.unescape(kept), csrf_token=csrf_of(r)),
                    content_type="multipart/form-data")
    assert r.status_code == 303, text(r)
    [p] = partners(gw)
    assert (p.preferred_channel, p.as2_id, p.as2_url, p.preferred_format) == \
        ("as2", "DUPONT-AS2", "https://as2.dupont.example/receive", "cii")
    assert p.as2_options.get("public_url_only") is True         # our posts go to public addresses only
    with gw.session() as s:
        [cert] = s.scalars(sa.select(Certificate).where(Certificate.partner_id == p.id)).all()
        assert cert.active and cert.usage == "both" and "dupont-as2" in cert.subject
    done = text(client.get(r.headers["Location"]))
    assert "Our AS2 endpoint" in done and gw.settings.public_url + "/as2" in done and "EDIGATE-US" in done
    pem = client.get("/register/certificate.pem")
    assert pem.status_code == 200 and b"BEGIN CERTIFICATE" in pem.data


def test_an_as2_id_already_taken_is_refused(gw, client, secret) -> None:
    with gw.session() as s:
        s.add(Partner(name="Other", as2_id="DUPONT-AS2"))
    link = invite(gw, secret)
    r = submit(client, link, company_form(channel="as2", as2_url="https://as2.dupont.example/r",
                                          as2_id="DUPONT-AS2"), {"as2_certificate": (certificate(), "c.pem")})
    assert "already used by another partner" in field_error(r, "as2_id")


DSA_LINE = "ssh-dss AAAAB3NzaC1kc3MAAACBAP1/U4EddRIpUt9KnC7s5Of2EbdSPO9EAMMeP4C2USZpRV1AIlH7WT2NWPq/xfW6MPbLm1Vs14E7"


def shared_refusal(key: str, lang: str) -> str:
    """What the partner service says of ``key`` (the CLI's and the operator pages' check), in ``lang``."""
    from gateway import i18n
    from gateway.partners.ssh_keys import KeyRefused, public_keys_in
    with pytest.raises(KeyRefused) as refused:
        public_keys_in(key, i18n.gettext(lang, "the key"), i18n.gettext(lang, "line"))
    return refused.value.worded(lang)


@pytest.mark.parametrize("lang, words", [
    ("en", ("is a private key: give", "an RSA key of 1024 bits is too weak", "key type 'ssh-dss' is not supported",
            "does not parse", "not an OpenSSH public key line", "paste your SSH public key")),
    ("fr", ("est une clé privée", "une clé RSA de 1024 bits est trop faible", "n'est pas pris en charge",
            "est illisible", "ce n'est pas une ligne de clé publique OpenSSH", "collez votre clé publique SSH"))])
def test_sftp_registration_refuses_a_bad_key_with_the_partner_services_words(gw, client, secret, lang, words) -> None:
    """The registration page checks a key as the partner service does (gateway.partners.ssh_keys):
    same refusals, same words, in the page's language."""
    link = invite(gw, secret, language=lang)
    sftp = company_form(channel="sftp")
    bad = (ssh_private_key(), ssh_public_key("rsa", 1024), DSA_LINE, "ssh-ed25519 AAAAnotbase64!", "hello", "")
    for key, word in zip(bad, words):
        r = submit(client, link, dict(sftp, sftp_key=key))
        said = field_error(r, "sftp_key")
        assert r.status_code == 422 and word in said, said
        if key:
            assert said == shared_refusal(key, lang)
        assert input_value(r, "name") == "Dupont Fournitures SARL"
        shown = r.get_data(as_text=True).split('id="f-sftp_key"')[1].split("</textarea>")[0]
        if "PRIVATE KEY" in key:
            assert "PRIVATE KEY" not in shown                 # a private key is never shown back
        else:
            assert key in html.unescape(shown)                # anything else is kept for correcting
    assert partners(gw) == []


def test_sftp_registration_checks_the_key_and_gives_the_account(gw, client, secret) -> None:
    link = invite(gw, secret)
    sftp = company_form(channel="sftp")
    assert partners(gw) == []
    key = ssh_public_key()
    r = submit(client, link, dict(sftp, sftp_key=key))
    assert r.status_code == 303, text(r)
    [p] = partners(gw)
    with gw.session() as s:
        account = s.scalar(sa.select(SftpAccount).where(SftpAccount.partner_id == p.id))
        assert account.username == "dupont-fournitures-sarl" and account.active
        assert account.authorized_keys.strip() == key
    done = text(client.get(r.headers["Location"]))
    assert "dupont-fournitures-sarl" in done and f":{gw.settings.sftp_port}" in done and "SHA256:" in done


def test_portal_registration_makes_a_recipient_login(gw, client, secret) -> None:
    link = invite(gw, secret)
    portal = company_form(channel="portal", portal_password="a good long password")
    r = submit(client, link, dict(portal, portal_password2="another one entirely"))
    assert "the two passwords differ" in field_error(r, "portal_password2")
    r = submit(client, link, dict(portal, portal_password="short", portal_password2="short"))
    assert "at least 10 characters" in field_error(r, "portal_password")
    assert 'value="short"' not in r.get_data(as_text=True)                    # passwords are never echoed
    r = submit(client, link, dict(portal, portal_password2="a good long password"))
    assert r.status_code == 303, text(r)
    done = text(client.get(r.headers["Location"]))
    assert f"Log in at {gw.settings.public_url}/portal/ with the username claire@dupont.example" in done
    [p] = partners(gw)
    assert p.preferred_channel == "portal" and p.channel_settings == {
        "portal": {"notify": ["claire@dupont.example"], "lang": "en"}}
    with gw.session() as s:
        user = s.scalar(sa.select(User).where(User.username == "claire@dupont.example"))
        assert user.role == "recipient" and user.partner_id == p.id and user.check_password("a good long password")
        assert "a good long password" not in str(s.scalar(sa.select(Registration.data)))


def test_network_registration_needs_the_network_to_list_it(gw, client, secret) -> None:
    with gw.session() as s:
        ap = Partner(name="Peppol AP X", as2_id="AP-X")
        s.add(ap)
        s.flush()
        net = Network(code="PEPPOL-AP-X", name="Peppol AP X", partner_id=ap.id, formats=["ubl", "cii"])
        s.add(net)
        s.flush()
        net_id = net.id
    link = invite(gw, secret)
    form = company_form(channel="network", network_id=str(net_id))
    r = submit(client, link, form)
    assert "directory does not list your identifiers" in field_error(r, "network_id")
    with gw.session() as s:
        s.add(NetworkParticipant(network_id=net_id, scheme="0009", value=SIRET))
    r = submit(client, link, form)
    assert r.status_code == 303, text(r)
    [_, p] = partners(gw)
    assert (p.preferred_channel, p.preferred_format, p.channel_settings) == \
        ("network", "ubl", {"network": {"network": "PEPPOL-AP-X"}})
    assert "Peppol AP X" in text(client.get(r.headers["Location"]))


def test_a_taken_partner_name_gets_the_identifier_added(gw, client, secret) -> None:
    with gw.session() as s:
        s.add(Partner(name="Dupont Fournitures SARL"))
    link = invite(gw, secret)
    assert submit(client, link, company_form()).status_code == 303
    assert partners(gw)[1].name == f"Dupont Fournitures SARL (SIRET {SIRET})"


# --- single use under concurrency ------------------------------------------------------------------

def test_two_concurrent_submits_make_one_partner(gw, app, secret) -> None:
    link = invite(gw, secret)
    browsers = [app.test_client() for _ in range(4)]
    prepared = []
    for b in browsers:
        page = b.get(link.url)
        prepared.append(dict(company_form(), csrf_token=csrf_of(page)))
    start = threading.Barrier(len(browsers))
    results: list = [None] * len(browsers)

    def go(i: int) -> None:
        start.wait()
        r = browsers[i].post(link.url, data=prepared[i])
        results[i] = (r.status_code, text(r))

    threads = [threading.Thread(target=go, args=(i,)) for i in range(len(browsers))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    codes = sorted(code for code, _ in results)
    assert codes == [303, 410, 410, 410], [page[page.find("correct below"):][:600] for _, page in results]
    assert all("already been used" in page for code, page in results if code == 410)
    assert len(partners(gw)) == 1
    assert events(gw, link.counterparty_id, "enrolled") == 1
    with gw.session() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(Registration)) == 1


def _enrolment(**changes) -> Enrolment:
    base = dict(name="Race SARL", identifiers=(("0009", SIRET_2),), company_email="a@race.example",
                contact_name="A", contact_email="a@race.example", channel="email",
                channel_settings={"email": {"to": ["a@race.example"]}})
    base.update(changes)
    return Enrolment(**base)


@pytest.fixture(params=["sqlite", "postgresql"])
def any_gw(request, tmp_path):
    """A Gateway on SQLite, and on a real PostgreSQL server (skipped without one)."""
    from gateway.config import load_settings
    from gateway.runtime import Gateway
    env = {"EDIGATE_LANGUAGE": "en", "EDIGATE_HOME": str(tmp_path)}
    if request.param == "postgresql":
        env["EDIGATE_DATABASE_URL"] = request.getfixturevalue("postgres_server").create_database()
    g = Gateway(load_settings(env), immediate_jobs=True)
    yield g
    g.close()


def test_the_link_is_spent_by_compare_and_set_while_another_transaction_holds_it(any_gw) -> None:
    """Transaction A spends the link and has not committed; B tries meanwhile: B waits for A's row
    (PostgreSQL) or write lock (SQLite), then finds the link spent and makes nothing."""
    link = invite(any_gw, b"k")
    outcome: dict = {}
    a_done = threading.Event()

    def b() -> None:
        try:
            with any_gw.session() as s:
                enrol(s, link.invitation_id, _enrolment(), now=utcnow())
            outcome["b"] = "enrolled"
        except AlreadyUsed:
            outcome["b"] = "already used"
        outcome["b_after_a"] = a_done.is_set()

    with any_gw.session() as s:
        enrol(s, link.invitation_id, _enrolment(), now=utcnow())
        other = threading.Thread(target=b)
        other.start()
        other.join(1.0)                     # B is blocked on A's lock (it cannot have finished)
        assert other.is_alive()
        a_done.set()
    other.join(60)
    assert outcome == {"b": "already used", "b_after_a": True}
    with any_gw.session() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(Partner)) == 1
        assert s.scalar(sa.select(sa.func.count()).select_from(PartnerIdentifier)) == 1


# --- opt-out and the open pixel --------------------------------------------------------------------

def test_opt_out_asks_for_a_click_then_stops_the_mails(gw, client, secret) -> None:
    link = invite(gw, secret)
    with gw.session() as s:
        inv = s.get(Invitation, link.invitation_id)
        s.add(CampaignMail(invitation_id=inv.id, step="reminder-1", status="scheduled", due_at=utcnow()))
        token = links.optout_token(secret, inv)
    page = client.get(f"/optout/{token}")
    assert page.status_code == 200 and "Unsubscribe" in text(page)
    with gw.session() as s:                         # a GET (a mail scanner) changes nothing
        assert s.get(Counterparty, link.counterparty_id).opted_out_at is None
    assert client.post(f"/optout/{token}").status_code == 400            # no CSRF token: refused
    done = client.post(f"/optout/{token}", data={"csrf_token": csrf_of(page)})
    assert done.status_code == 200 and "You are unsubscribed" in text(done)
    with gw.session() as s:
        cp = s.get(Counterparty, link.counterparty_id)
        assert cp.opted_out_at is not None and cp.status == "opted_out"
        assert s.scalar(sa.select(CampaignMail.status).where(CampaignMail.invitation_id == link.invitation_id)) \
            == "cancelled"
    assert events(gw, link.counterparty_id, "opted_out") == 1
    assert "already unsubscribed" in text(client.get(f"/optout/{token}"))
    forged = client.get(f"/optout/{token[:-2]}xx")
    assert forged.status_code == 404 and "This link is not valid" in text(forged)


def test_the_open_pixel_records_once_and_never_fails(gw, client, secret) -> None:
    link = invite(gw, secret)
    with gw.session() as s:
        mail = CampaignMail(invitation_id=link.invitation_id, step="invitation", status="sent", due_at=utcnow(),
                            sent_at=utcnow())
        s.add(mail)
        s.flush()
        token = links.open_token(secret, mail.id)
    for url in (f"/t/{token}.gif", f"/t/{token}.gif", "/t/forged.gif", f"/t/{links.open_token(secret, 9999)}.gif"):
        r = client.get(url)
        assert r.status_code == 200 and r.data == PIXEL and r.mimetype == "image/gif"
    assert events(gw, link.counterparty_id, "opened") == 1
    assert PIXEL.startswith(b"GIF89a") and PIXEL.endswith(b";")


# --- held documents ----------------------------------------------------------------------------------

def test_documents_held_for_the_company_are_delivered_once_it_registers(gw, client, secret) -> None:
    """An invoice for a buyer nobody knew was held; the buyer registers (portal): it is delivered."""
    from gateway.db import Delivery, DocumentRecord
    from gateway.syntaxes import write_document
    from gateway.flow.receive import receive_file
    from tests.support.invoice_builder import build_invoice

    with gw.session() as s:
        sender = Partner(name="Seller AG")
        s.add(sender)
        s.flush()
        sender_id = sender.id
    invoice = build_invoice()
    invoice.buyer.vat_identifier, invoice.buyer.name = VAT, "Dupont Fournitures SARL"
    ex = receive_file(gw, write_document(invoice, "ubl").data, channel="api", partner_id=sender_id,
                      filename="INV-2024-001.xml")
    with gw.session() as s:
        doc = s.scalar(sa.select(DocumentRecord).where(DocumentRecord.exchange_id == ex.id))
        assert doc.status == "held", doc.findings
        doc_id = doc.id
    link = invite(gw, secret)
    r = submit(client, link, company_form(channel="portal", portal_password="a good long password",
                                          portal_password2="a good long password"))
    assert r.status_code == 303, text(r)
    [_, p] = partners(gw)
    with gw.session() as s:
        assert s.get(DocumentRecord, doc_id).status != "held"
        [delivery] = s.scalars(sa.select(Delivery).where(Delivery.document_id == doc_id)).all()
        assert delivery.recipient_partner_id == p.id and delivery.channel == "portal"
