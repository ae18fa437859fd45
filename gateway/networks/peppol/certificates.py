"""Our Peppol certificates, where certificates are watched: the access point's (current, and the
next one of a rollover), our SMP's signing certificate, and the trust anchors (the network's AP
CA, the SMP CA).

They are settings (PEM files, ``gateway.networks.peppol.settings``), not records like the AS2
certificates: this reads them for the views that list certificates and warn before one expires
(the operator's certificates page and dashboard, ``edigate cert list`` / ``cert expiring``).
Only what is configured is listed: a gateway that does not speak Peppol shows nothing here. A
file that cannot be read is listed with why, never skipped in silence.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Optional

from cryptography import x509
from cryptography.hazmat.primitives import hashes

from gateway.networks.peppol.settings import PeppolSettings

#: what each configured file is, in the reader's language (data: one line per role)
ROLES: dict[str, dict[str, str]] = {
    "ap": {"en": "Peppol access point", "fr": "point d'accès Peppol"},
    "ap_next": {"en": "Peppol access point (next, rollover)", "fr": "point d'accès Peppol (suivant, renouvellement)"},
    "smp": {"en": "Peppol SMP signing", "fr": "signature du SMP Peppol"},
    "ap_trust": {"en": "Peppol AP trust anchor", "fr": "ancre de confiance des points d'accès Peppol"},
    "smp_trust": {"en": "Peppol SMP trust anchor", "fr": "ancre de confiance des SMP Peppol"},
}
#: the words the views show around them (en, fr)
WORDS: dict[str, dict[str, str]] = {
    "title": {"en": "Peppol (settings)", "fr": "Peppol (réglages)"},
    "explain": {"en": "Our access point's certificate (and the next one during a rollover), our SMP's signing "
                      "certificate and the network's trust anchors. They are files named in the settings: renew "
                      "one by changing its file, or roll the access point over with EDIGATE_PEPPOL_AP_NEXT_CERT "
                      "(and _KEY) and EDIGATE_PEPPOL_AP_SWITCH_AT.",
                "fr": "Le certificat de notre point d'accès (et le suivant pendant un renouvellement), celui qui "
                      "signe les réponses de notre SMP et les ancres de confiance du réseau. Ce sont des fichiers "
                      "désignés dans les réglages : on en renouvelle un en changeant son fichier, ou l'on bascule "
                      "le point d'accès avec EDIGATE_PEPPOL_AP_NEXT_CERT (et _KEY) et EDIGATE_PEPPOL_AP_SWITCH_AT."},
    "unreadable": {"en": "unreadable", "fr": "illisible"},
    "settings file": {"en": "settings file", "fr": "fichier des réglages"},
}
MAX_ANCHORS = 20                  # CA certificates read from one trust file


def word(key: str, lang: str = "en") -> str:
    return WORDS[key].get(lang) or WORDS[key]["en"]


@dataclass(frozen=True)
class PeppolCertificate:
    """One certificate of our Peppol settings (``error``: the file could not be read)."""
    role: str
    path: Path
    subject: str = ""
    issuer: str = ""
    fingerprint_sha256: str = ""
    not_before: Optional[datetime] = None
    not_after: Optional[datetime] = None
    error: Optional[str] = None

    def label(self, lang: str = "en") -> str:
        words = ROLES.get(self.role, {})
        return words.get(lang) or words.get("en") or self.role

    def state(self, now: datetime) -> str:
        """valid | expired | not yet valid | unreadable"""
        if self.error or self.not_after is None or self.not_before is None:
            return "unreadable"
        if self.not_after <= now:
            return "expired"
        if self.not_before > now:
            return "not yet valid"
        return "valid"

    def days_left(self, now: datetime) -> Optional[int]:
        return (self.not_after - now).days if self.not_after is not None else None

    def expiring(self, within: timedelta, now: datetime) -> bool:
        """Ends within ``within`` (or has ended), or cannot be read: either needs the operator."""
        return self.not_after is None or self.not_after <= now + within


def _read(role: str, path: Path, *, many: bool = False) -> list[PeppolCertificate]:
    try:
        certs = x509.load_pem_x509_certificates(path.expanduser().read_bytes())[:MAX_ANCHORS if many else 1]
    except (OSError, ValueError) as e:
        return [PeppolCertificate(role, path, error=f"{type(e).__name__}: {e}"[:300])]
    return [PeppolCertificate(role, path, subject=c.subject.rfc4514_string(), issuer=c.issuer.rfc4514_string(),
                              fingerprint_sha256=c.fingerprint(hashes.SHA256()).hex(),
                              not_before=c.not_valid_before_utc, not_after=c.not_valid_after_utc)
            for c in certs]


def listed(settings: PeppolSettings) -> list[PeppolCertificate]:
    """Every configured certificate, in the order of ``ROLES``."""
    out: list[PeppolCertificate] = []
    for role, path, many in (("ap", settings.ap_cert, False), ("ap_next", settings.ap_next_cert, False),
                             ("smp", settings.smp_cert if settings.smp_key else None, False),
                             ("ap_trust", settings.ap_trust, True), ("smp_trust", settings.smp_trust, True)):
        if path is not None:
            out += _read(role, path, many=many)
    return out


def expiring(settings: PeppolSettings, within: timedelta, now: Optional[datetime] = None) -> list[PeppolCertificate]:
    """The configured certificates that end within ``within`` (or have ended), or cannot be read."""
    now = now or datetime.now(timezone.utc)
    return [c for c in listed(settings) if c.expiring(within, now)]


def of_gateway(gw_settings) -> list[PeppolCertificate]:
    """``listed`` for a gateway's ``Settings`` (the Peppol ones read from the environment)."""
    from gateway.networks.peppol.settings import load
    return listed(load(gw_settings))
