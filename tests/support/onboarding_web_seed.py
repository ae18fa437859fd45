"""Fixtures for onboarding's web tests: invitations with real signed links, and the credentials a
registering company uploads (certificates, SSH keys), made with ``cryptography`` on the spot.

Invitations are written through the models (a campaign, a wave, a counterparty, an invitation
with its nonce) and their links signed with the app's secret, exactly as the mailer signs them.
"""
from __future__ import annotations

import html
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Optional

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID

from gateway.db import utcnow
from onboarding import links
from onboarding.models import Campaign, Counterparty, Invitation, Wave

UTC = timezone.utc
# Identifiers that pass their checks (SIRET Luhn, French VAT key, GLN check digit).
SIRET, SIREN, VAT, GLN = "73282932000074", "732829320", "FR44732829320", "3012345000017"
SIRET_2, SIREN_2 = "35600000000048", "356000000"          # La Poste's head office: Luhn-valid too


@dataclass
class Link:
    invitation_id: int
    counterparty_id: int
    campaign_id: int
    wave_id: int
    token: str

    @property
    def url(self) -> str:
        return f"/register/{self.token}"


_n = 0


def invite(gw, secret: Any, *, name: str = "Dupont Fournitures SARL", siret: Optional[str] = SIRET,
           siren: Optional[str] = None, vat: Optional[str] = None, gln: Optional[str] = None,
           email: str = "compta@dupont.example", contact_name: Optional[str] = "Claire Dupont",
           expires_in: timedelta = timedelta(days=30), campaign: str = "Spring suppliers",
           segment: str = "suppliers", language: str = "en") -> Link:
    """A counterparty invited by a campaign's wave, and its registration link (token)."""
    global _n
    _n += 1
    with gw.session() as s:
        camp = s.query(Campaign).filter_by(name=campaign).one_or_none()
        if camp is None:
            camp = Campaign(name=campaign, status="running")
            s.add(camp)
            s.flush()
        wave = s.query(Wave).filter_by(campaign_id=camp.id, name="Wave 1").one_or_none()
        if wave is None:
            wave = Wave(campaign_id=camp.id, name="Wave 1", segment=segment, send_at=utcnow(), status="running")
            s.add(wave)
            s.flush()
        cp = Counterparty(name=name, siret=siret, siren=siren or (siret[:9] if siret else None), vat=vat, gln=gln,
                          email=email, contact_name=contact_name, segment=segment, language=language,
                          dedupe_key=f"TEST:{_n}:{siret or email}", status="invited")
        s.add(cp)
        s.flush()
        inv = Invitation(campaign_id=camp.id, wave_id=wave.id, counterparty_id=cp.id, status="sent",
                         token_nonce=links.new_nonce(), expires_at=utcnow() + expires_in)
        s.add(inv)
        s.flush()
        return Link(inv.id, cp.id, camp.id, wave.id, links.registration_token(secret, inv))


# --- pages ---------------------------------------------------------------------------------------

def text(response) -> str:
    """The page's visible text, tags removed, blanks folded: what a person reads."""
    body = re.sub(r"<[^>]+>", " ", response.get_data(as_text=True))
    return " ".join(html.unescape(body).split())


def csrf_of(response) -> str:
    m = re.search(r'name="csrf_token" value="([^"]+)"', response.get_data(as_text=True))
    assert m, response.get_data(as_text=True)[:2000]
    return m.group(1)


def field_error(response, name: str) -> Optional[str]:
    """The message shown next to field ``name`` (its ``e-<name>`` element), or None."""
    m = re.search(rf'<p class="field-error" id="e-{re.escape(name)}"[^>]*>(.*?)</p>',
                  response.get_data(as_text=True), re.S)
    return html.unescape(m.group(1)).strip() if m else None


def input_value(response, name: str) -> Optional[str]:
    m = re.search(rf'<input id="f-{re.escape(name)}" name="{re.escape(name)}"[^>]*value="([^"]*)"',
                  response.get_data(as_text=True))
    return html.unescape(m.group(1)) if m else None


def company_form(**overrides: Any) -> dict[str, Any]:
    """A complete, valid registration by e-mail; ``overrides`` change or (None) remove fields."""
    form = {"name": "Dupont Fournitures SARL", "siret": SIRET, "siren": SIREN, "vat": VAT, "gln": "",
            "email": "compta@dupont.example", "contact_name": "Claire Dupont",
            "contact_email": "claire@dupont.example", "contact_phone": "+33 1 23 45 67 89",
            "channel": "email", "email_to": "factures@dupont.example", "email_subject": "",
            "email_attach": "facturx", "terms": "yes"}
    for key, value in overrides.items():
        if value is None:
            form.pop(key, None)
        else:
            form[key] = value
    return form


# --- credentials ---------------------------------------------------------------------------------

def certificate(key=None, *, days: int = 365, starts: Optional[datetime] = None, name: str = "dupont-as2") -> bytes:
    """A self-signed certificate (PEM) for ``key`` (default: EC P-256)."""
    key = key or ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    start = starts or utcnow() - timedelta(days=1)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(start)
            .not_valid_after(start + timedelta(days=days)).sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM)


def expired_certificate() -> bytes:
    return certificate(starts=utcnow() - timedelta(days=400), days=30)


def weak_rsa_certificate() -> bytes:
    return certificate(rsa.generate_private_key(public_exponent=65537, key_size=1024))


def private_key_pem() -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def ssh_public_key(kind: str = "ed25519", bits: int = 2048) -> str:
    key = ed25519.Ed25519PrivateKey.generate() if kind == "ed25519" else \
        rsa.generate_private_key(public_exponent=65537, key_size=bits)
    line = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    return line.decode() + " claire@dupont"


def ssh_private_key() -> str:
    key = ed25519.Ed25519PrivateKey.generate()
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                             serialization.NoEncryption()).decode()
