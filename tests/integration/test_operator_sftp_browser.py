"""A partner's account on our SFTP server edited from its page in headless Chromium, in French,
then used by a real SFTP client (paramiko) against the gateway's own SFTP server on loopback.

olivia (a French browser) creates the partner's account with its first key, is refused a
private key pasted where the public one belongs (with the words saying why), authorises a
second key: the partner logs in with it; she removes it: the same login is refused while the
first key still opens the account. The partner page, its flashes and its audit trail (who,
what, the fingerprints before and after) are judged against the French catalogue
(tests/support/french_text.py), and a partner saved from its edit page says so in French.
"""
from __future__ import annotations

import socket

import paramiko
import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.channels.sftp import SftpInbox
from gateway.config import load_settings
from gateway.db import AuditEvent, Organisation, SftpAccount
from gateway.runtime import Gateway
from gateway.transports.sftp.client import fingerprint

from tests.integration.test_french_pages_browser import judge_page, log_in, record_data
from tests.support.french_text import FrenchJudge
from tests.support.live_app import served
from tests.support.operator_seed import seed_exceptions


def new_key() -> tuple[paramiko.Ed25519Key, str, str]:
    """(private key for the client, its public line, its SHA256 fingerprint), and the private PEM's text."""
    pem = Ed25519PrivateKey.generate().private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                                                     serialization.NoEncryption())
    import io
    key = paramiko.Ed25519Key.from_private_key(io.StringIO(pem.decode()))
    return key, f"{key.get_name()} {key.get_base64()} partner@laptop", fingerprint(key.asbytes()), pem.decode()


def can_log_in(port: int, username: str, key: paramiko.PKey) -> bool:
    """A real SFTP login with ``key``, listing the account's root; False when the server refuses the key."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    t = paramiko.Transport(sock)
    try:
        t.connect(username=username, pkey=key)
        names = paramiko.SFTPClient.from_transport(t).listdir(".")
        assert "inbound" in names, names
        return True
    except paramiko.AuthenticationException:
        return False
    finally:
        t.close()
        sock.close()


@pytest.fixture
def live(tmp_path):
    gw = Gateway(load_settings({"EDIGATE_HOME": str(tmp_path / "home")}), immediate_jobs=True)
    seeded = seed_exceptions(gw)
    with gw.session() as s:
        s.add(Organisation(name="Our Platform"))
    sftp = SftpInbox(gw).server("127.0.0.1", 0).start()
    try:
        with served(gw) as base:
            yield gw, seeded, base, sftp.port
    finally:
        sftp.stop()


def test_sftp_keys_edited_from_the_page_open_and_close_real_logins(live, browser, tmp_path) -> None:
    gw, ex, base, port = live
    partner = ex.seeded.partners["initech"]
    first, first_line, first_fp, _ = new_key()
    second, second_line, second_fp, second_private = new_key()
    judge = FrenchJudge.load()
    context = browser.new_context(locale="fr-FR", viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(15_000)
    flash = lambda: " ".join(page.locator("p.flash").all_inner_texts())    # noqa: E731
    try:
        log_in(page, base, "", "olivia", "/")
        page.goto(f"{base}/partners/{partner}")
        assert "Aucun compte sur notre serveur SFTP" in page.inner_text("#sftp")
        page.fill("#sftp form.sftp-account input[name=username]", "initech")
        page.fill("#sftp form.sftp-account textarea[name=keys]", first_line)
        page.click("#sftp form.sftp-account button[type=submit]")
        assert f"Compte SFTP initech créé (activé) avec la clé {first_fp}" in flash()
        assert not can_log_in(port, "initech", second)

        # a private key pasted where the public one belongs: refused, saying why, nothing stored
        page.fill("#sftp form.sftp-add-key textarea[name=keys]", second_private)
        page.click("#sftp form.sftp-add-key button[type=submit]")
        assert "Clé non ajoutée : la clé est une clé privée" in flash(), flash()
        with gw.session() as s:
            stored = s.scalar(sa.select(SftpAccount.authorized_keys).where(SftpAccount.username == "initech"))
        assert "PRIVATE" not in stored and second.get_base64() not in stored

        page.fill("#sftp form.sftp-add-key textarea[name=keys]", second_line)
        page.click("#sftp form.sftp-add-key button[type=submit]")
        assert f"Clé ajoutée au compte SFTP initech : ssh-ed25519 {second_fp}" in flash(), flash()
        assert page.locator(f"tr.sftp-key[data-fingerprint='{second_fp}']").count() == 1
        assert can_log_in(port, "initech", second)

        page.locator(f"tr.sftp-key[data-fingerprint='{second_fp}'] button.remove-key").click()
        assert f"Clé {second_fp} retirée du compte SFTP initech" in flash(), flash()
        assert not can_log_in(port, "initech", second)
        assert can_log_in(port, "initech", first)

        # the trail: who, what, the fingerprints before and after, worded in French on the page
        trail = page.inner_text("table.audit")
        assert f"clé(s) retirée(s) {second_fp} ; clés avant : {first_fp}, {second_fp} ; après : {first_fp}" in trail
        data = record_data(gw) | {"initech", first_fp, second_fp, "partner@laptop", "ssh-ed25519", "inbound/",
                                  "outbound/"}
        judge_page(page, judge, data, "partner-sftp", tmp_path)

        # an edit saved from the partner's edit page says so in French, and its trail too
        page.goto(f"{base}/partners/{partner}/edit")
        page.fill("input[name=contact_email]", "edi@initech.example")
        page.click("form.edit button[type=submit]")
        assert "enregistré : contact email modifié(s)" in flash(), flash()
        judge_page(page, judge, data | {"edi@initech.example", "contact email", "contact_email"},
                   "partner-saved", tmp_path)
    finally:
        context.close()
    with gw.session() as s:
        events = s.scalars(sa.select(AuditEvent).where(AuditEvent.action.like("sftp.%"))
                           .order_by(AuditEvent.id)).all()
        assert [(e.actor, e.action) for e in events] == [("olivia", "sftp.account.create"), ("olivia", "sftp.key.add"),
                                                         ("olivia", "sftp.key.remove")]
        assert events[-1].detail["keys_before"] == [first_fp, second_fp]
        assert events[-1].detail["keys_after"] == [first_fp]
        assert all("AAAA" not in str(e.detail) and "PRIVATE" not in str(e.detail) for e in events)
