"""AS2 settings of the transport (``As2Identity``/``As2Partner``) built from the database.

The transport knows nothing of the database; this module reads our identities,
partners and certificates and hands the transport its plain settings. Building
a pyas2lib organisation loads keys, so results are cached and rebuilt only when
the rows they came from change (``updated_at``, certificate set).
"""
from __future__ import annotations

import threading
from dataclasses import fields
from pathlib import Path
from typing import Any, Optional
from urllib.parse import urlsplit

import sqlalchemy as sa

from gateway.certs import KeyPair
from gateway.db import AS2Identity, Certificate, Partner
from gateway.partners import checks
from gateway.transports.as2 import As2Identity, As2Partner

# Options in Partner.as2_options that are ours, not the transport's (and the reading switches of
# gateway.partners.checks: how what the partner sends is read).
GATEWAY_OPTIONS = {"duplicate_unproven", "max_attempts", "mdn_timeout_minutes", *checks.READING_SWITCHES}
_PARTNER_FIELDS = {f.name for f in fields(As2Partner) if not f.name.startswith("_")}


def _key_pair(key_ref: str, certs: list[Certificate]) -> KeyPair:
    """The key at ``key_ref`` with its certificate: a certificate row with the same key_ref,
    else ``NAME.cert.pem`` beside ``NAME.key.pem``."""
    key_path = Path(key_ref)
    for c in certs:
        if c.key_ref == key_ref:
            return KeyPair(key_path.read_bytes(), c.pem.encode("ascii"), None)
    cert_path = key_path.with_name(key_path.name.replace(".key.pem", ".cert.pem"))
    return KeyPair.load(key_path, cert_path)


def identity_from_row(row: AS2Identity, *, public_url: str) -> As2Identity:
    """Our identity: the current key signs and decrypts; older keys of the organisation
    (rollover) still decrypt."""
    certs = [c for c in row.organisation.certificates if c.active and c.key_ref]
    certs.sort(key=lambda c: (c.not_before, c.id), reverse=True)
    if not row.signing_key_ref:
        raise ValueError(f"AS2 identity {row.as2_name} has no key")
    key = _key_pair(row.signing_key_ref, certs)
    previous = [_key_pair(c.key_ref, certs) for c in certs
                if c.key_ref not in (row.signing_key_ref, row.encryption_key_ref)]
    if row.encryption_key_ref and row.encryption_key_ref != row.signing_key_ref:
        previous.insert(0, _key_pair(row.encryption_key_ref, certs))
    host = urlsplit(public_url).hostname or "edigate.local"
    return As2Identity(as2_name=row.as2_name, domain=host, key=key, previous_keys=previous,
                       mdn_url=public_url.rstrip("/") + "/as2")


def partner_from_row(row: Partner) -> As2Partner:
    """The partner's AS2 settings; its certificates newest first (we encrypt to the first,
    accept signatures from any: two during a rollover)."""
    certs = list(sa.orm.object_session(row).scalars(Certificate.valid(usage="signing", partner=row)))
    options: dict[str, Any] = {k: v for k, v in (row.as2_options or {}).items() if k in _PARTNER_FIELDS}
    return As2Partner(
        as2_name=row.as2_id,
        certificates=[c.pem.encode("ascii") for c in certs],
        url=row.as2_url,
        require_signed=row.as2_require_signed,
        require_encrypted=row.as2_require_encrypted,
        sign=row.as2_signing_algorithm is not None,
        signing_alg=row.as2_signing_algorithm or "sha256",
        encrypt=row.as2_encryption_algorithm is not None,
        encryption_alg=row.as2_encryption_algorithm or "aes_256_cbc",
        compress=row.as2_compress,
        mdn_mode=row.as2_mdn_mode,
        require_signed_mdn=row.as2_mdn_signed,
        micalg_spelling=row.as2_micalg_spelling,
        compress_before_signing=row.as2_compress_before_signing,
        content_transfer_encoding=row.as2_content_transfer_encoding,
        **options,
    )


class Directory:
    """``identities.get(as2_name)`` and ``partners.get(as2_name)`` backed by the database,
    cached per row version. Thread-safe: the web server answers on several threads."""

    def __init__(self, gateway):
        self.gateway = gateway
        self._lock = threading.Lock()
        self._identities: dict[str, tuple[Any, As2Identity]] = {}
        self._partners: dict[str, tuple[Any, As2Partner]] = {}
        self.identities = _Lookup(self._identity)
        self.partners = _Lookup(self._partner)

    def _identity(self, as2_name: Optional[str]) -> Optional[As2Identity]:
        if not as2_name:
            return None
        with self.gateway.session() as s:
            # One light statement says whether the cached identity is still the row's (every
            # inbound message asks); the row and its certificates are loaded only when it is not.
            rows = s.execute(
                sa.select(AS2Identity.signing_key_ref, AS2Identity.encryption_key_ref,
                          Certificate.id, Certificate.active)
                .select_from(AS2Identity)
                .outerjoin(Certificate, Certificate.organisation_id == AS2Identity.organisation_id)
                .where(AS2Identity.as2_name == as2_name, AS2Identity.active.is_(True))).all()
            if not rows:
                return None
            version = (rows[0][0], rows[0][1],
                       tuple(sorted((c_id, active) for _, _, c_id, active in rows if c_id is not None)))
            with self._lock:
                hit = self._identities.get(as2_name)
                if hit and hit[0] == version:
                    return hit[1]
            row = s.scalar(sa.select(AS2Identity).where(AS2Identity.as2_name == as2_name,
                                                        AS2Identity.active.is_(True)))
            if row is None:
                return None
            version = (row.signing_key_ref, row.encryption_key_ref,
                       tuple(sorted((c.id, c.active) for c in row.organisation.certificates)))
            ident = identity_from_row(row, public_url=self.gateway.settings.public_url)
            with self._lock:
                self._identities[as2_name] = (version, ident)
            return ident

    def _partner(self, as2_name: Optional[str]) -> Optional[As2Partner]:
        if not as2_name:
            return None
        with self.gateway.session() as s:
            rows = s.execute(
                sa.select(Partner.updated_at, Certificate.id, Certificate.active, Certificate.not_after)
                .select_from(Partner).outerjoin(Certificate, Certificate.partner_id == Partner.id)
                .where(Partner.as2_id == as2_name, Partner.active.is_(True))).all()
            if not rows:
                return None
            version = (rows[0][0], tuple(sorted((c_id, active, not_after) for _, c_id, active, not_after
                                                in rows if c_id is not None)))
            with self._lock:
                hit = self._partners.get(as2_name)
                if hit and hit[0] == version:
                    return hit[1]
            row = s.scalar(sa.select(Partner).where(Partner.as2_id == as2_name, Partner.active.is_(True)))
            if row is None:
                return None
            return self.partner_for(row)

    def partner_for(self, row: Partner) -> As2Partner:
        """The transport settings of a partner row (inside a session)."""
        certs = sa.orm.object_session(row).execute(
            sa.select(Certificate.id, Certificate.active, Certificate.not_after)
            .where(Certificate.partner_id == row.id)).all()
        version = (row.updated_at, tuple(sorted(tuple(c) for c in certs)))
        with self._lock:
            hit = self._partners.get(row.as2_id)
            if hit and hit[0] == version:
                return hit[1]
        p = partner_from_row(row)
        with self._lock:
            self._partners[row.as2_id] = (version, p)
        return p

    def identity_for(self, row: Optional[AS2Identity]) -> As2Identity:
        """The identity a partner talks to: its own, else the first active one."""
        if row is None:
            with self.gateway.session() as s:
                row = s.scalar(sa.select(AS2Identity).where(AS2Identity.active.is_(True))
                               .order_by(AS2Identity.id))
                if row is None:
                    raise LookupError("no AS2 identity of ours is configured (edigate org add)")
                name = row.as2_name
        else:
            name = row.as2_name
        ident = self._identity(name)
        if ident is None:
            raise LookupError(f"our AS2 identity {name} is not active")
        return ident


class _Lookup:
    def __init__(self, fn):
        self._fn = fn

    def get(self, key, default=None):
        value = self._fn(key)
        return default if value is None else value
