"""Who we exchange with: our own organisations, partners, and their certificates.

* ``Organisation``: an organisation this gateway speaks for, with one or more
  AS2 identities (AS2 name, references to its signing/encryption keys; the
  keys themselves stay in ``certs/``, never in the database).
* ``Partner``: a trading partner, found by its identifiers (scheme + value,
  unique per scheme/value), with its AS2 settings and interop switches, and
  the format and channel it wants documents in.
* ``Certificate``: a public certificate of a partner or of one of our
  organisations; two may be active at once during a rollover.
"""
from __future__ import annotations

import hashlib
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Optional

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from gateway.model.identifiers import SCHEMES, normalise_identifier  # noqa: F401 (re-exported by gateway.db)

from .base import Base, one_of, require_channel, require_one_of, utcnow

if TYPE_CHECKING:
    from .exchanges import Exchange

SIGNING_ALGORITHMS = ("sha1", "sha224", "sha256", "sha384", "sha512")     # pyas2lib spellings; no md5
ENCRYPTION_ALGORITHMS = ("aes_128_cbc", "aes_192_cbc", "aes_256_cbc")      # never 3DES, RC2 or RC4
MDN_MODES = ("sync", "async", "none")
MICALG_SPELLINGS = ("rfc5751", "rfc3851")          # "sha-256" (RFC 5751) or "sha256" (older partners)
TRANSFER_ENCODINGS = ("binary", "base64", "8bit")
# How it is told of its invoices' life cycle: aperak (EDIFACT APERAK), cdar (the French reform's CDAR
# messages), none (the API only), invoice-response (Peppol BIS 3 T111; 16 characters, the column's
# length); None: APERAK when it sent the invoice as EDIFACT.
STATUS_SYNTAXES = ("aperak", "cdar", "none", "invoice-response")
CERT_USAGES = ("signing", "encryption", "both")


class Organisation(Base):
    """One of ours: the gateway sends and receives in its name."""
    __tablename__ = "organisations"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    as2_identities: Mapped[list[AS2Identity]] = relationship(
        back_populates="organisation", cascade="all, delete-orphan", order_by="AS2Identity.id")
    certificates: Mapped[list[Certificate]] = relationship(back_populates="organisation")

    def __repr__(self) -> str:
        return f"<Organisation {self.id} {self.name!r}>"


class AS2Identity(Base):
    """An AS2 name of one of our organisations and where its private keys are."""
    __tablename__ = "as2_identities"

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(sa.ForeignKey("organisations.id", ondelete="CASCADE"), index=True)
    as2_name: Mapped[str] = mapped_column(sa.String(128), unique=True)
    signing_key_ref: Mapped[Optional[str]] = mapped_column(sa.String(500))      # e.g. a path under certs/
    encryption_key_ref: Mapped[Optional[str]] = mapped_column(sa.String(500))
    active: Mapped[bool] = mapped_column(default=True, server_default=sa.true())
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    organisation: Mapped[Organisation] = relationship(back_populates="as2_identities")

    def __repr__(self) -> str:
        return f"<AS2Identity {self.as2_name!r}>"


class Partner(Base):
    __tablename__ = "partners"
    __table_args__ = (
        one_of("as2_signing_algorithm", SIGNING_ALGORITHMS, "as2_signing_algorithm"),
        one_of("as2_encryption_algorithm", ENCRYPTION_ALGORITHMS, "as2_encryption_algorithm"),
        one_of("as2_mdn_mode", MDN_MODES, "as2_mdn_mode"),
        one_of("as2_micalg_spelling", MICALG_SPELLINGS, "as2_micalg_spelling"),
        one_of("as2_content_transfer_encoding", TRANSFER_ENCODINGS, "as2_content_transfer_encoding"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200), unique=True)
    active: Mapped[bool] = mapped_column(default=True, server_default=sa.true())
    # What it wants to receive: a flavour of gateway.syntaxes.writable(), over one of the channels (gateway.channels).
    preferred_format: Mapped[Optional[str]] = mapped_column(sa.String(40))
    preferred_channel: Mapped[Optional[str]] = mapped_column(sa.String(16))
    # Which of our AS2 identities talks to it (None: the default one).
    as2_identity_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("as2_identities.id", ondelete="SET NULL"))

    # --- AS2 partnership (RFC 4130). NULL algorithm = not signed / not encrypted.
    as2_id: Mapped[Optional[str]] = mapped_column(sa.String(128), unique=True)
    as2_url: Mapped[Optional[str]] = mapped_column(sa.String(1000))
    as2_signing_algorithm: Mapped[Optional[str]] = mapped_column(
        sa.String(32), default="sha256", server_default="sha256")
    as2_encryption_algorithm: Mapped[Optional[str]] = mapped_column(
        sa.String(32), default="aes_256_cbc", server_default="aes_256_cbc")
    as2_compress: Mapped[bool] = mapped_column(default=True, server_default=sa.true())
    as2_mdn_mode: Mapped[str] = mapped_column(sa.String(8), default="sync", server_default="sync")
    as2_mdn_signed: Mapped[bool] = mapped_column(default=True, server_default=sa.true())    # we ask for signed MDNs
    # What we demand of what it sends us (refused otherwise).
    as2_require_signed: Mapped[bool] = mapped_column(default=True, server_default=sa.true())
    as2_require_encrypted: Mapped[bool] = mapped_column(default=True, server_default=sa.true())
    # Interop switches real partners need.
    as2_micalg_spelling: Mapped[str] = mapped_column(sa.String(8), default="rfc5751", server_default="rfc5751")
    as2_compress_before_signing: Mapped[bool] = mapped_column(default=True, server_default=sa.true())
    as2_content_transfer_encoding: Mapped[str] = mapped_column(
        sa.String(8), default="binary", server_default="binary")
    as2_options: Mapped[dict[str, Any]] = mapped_column(default=dict)   # any further switch, by name

    # --- How it receives beyond the transport: the settings of its channel profile (validated by
    # gateway.channels: e-mail addresses and templates, attached format, postal address for
    # paper, the network it is reached through...), and where to write to it about its invoices.
    channel_settings: Mapped[Optional[dict[str, Any]]] = mapped_column(default=dict)
    contact_email: Mapped[Optional[str]] = mapped_column(sa.String(320))
    # The validation profile its invoices are checked with (gateway/rules/profiles.yaml: en16931,
    # peppol, fr ...); None: the default (EN 16931).
    validation_profile: Mapped[Optional[str]] = mapped_column(sa.String(40))
    # How it is told of its invoices' statuses (STATUS_SYNTAXES); None: APERAK to an EDIFACT sender.
    status_syntax: Mapped[Optional[str]] = mapped_column(sa.String(16))
    # subject to the French e-invoicing reform: its invoices, sent or received, meet the French rules (BR-FR)
    french_reform: Mapped[bool] = mapped_column(default=False, server_default=sa.false())

    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    identifiers: Mapped[list[PartnerIdentifier]] = relationship(
        back_populates="partner", cascade="all, delete-orphan", order_by="PartnerIdentifier.id")
    certificates: Mapped[list[Certificate]] = relationship(back_populates="partner")
    as2_identity: Mapped[Optional[AS2Identity]] = relationship()
    exchanges: Mapped[list[Exchange]] = relationship(back_populates="partner")

    @validates("preferred_format")
    def _check_format(self, key: str, value: Optional[str]) -> Optional[str]:
        if value is not None:
            from gateway.syntaxes import writable      # heavy (lxml, mappings): only when a format is set
            require_one_of(value, writable(), "preferred format")
        return value

    @validates("validation_profile")
    def _check_profile(self, key: str, value: Optional[str]) -> Optional[str]:
        if value is not None:
            from gateway.rules.profiles import profile_names     # reads profiles.yaml once
            require_one_of(value, profile_names(), "validation profile")
        return value

    @validates("status_syntax")
    def _check_status_syntax(self, key: str, value: Optional[str]) -> Optional[str]:
        return require_one_of(value, STATUS_SYNTAXES, "status syntax", nullable=True)

    @validates("preferred_channel")
    def _check_channel(self, key: str, value: Optional[str]) -> Optional[str]:
        return require_channel(value, nullable=True)

    def add_identifier(self, scheme: str, value: str) -> PartnerIdentifier:
        scheme, value = normalise_identifier(scheme, value)
        ident = PartnerIdentifier(scheme=scheme, value=value)
        self.identifiers.append(ident)
        return ident

    @staticmethod
    def by_identifier(scheme: str, value: str) -> sa.Select[tuple[Partner]]:
        """The partner known by this identifier (``session.scalar(Partner.by_identifier('0009', siret))``)."""
        scheme, value = normalise_identifier(scheme, value)
        return (sa.select(Partner).join(PartnerIdentifier)
                .where(PartnerIdentifier.scheme == scheme, PartnerIdentifier.value == value))

    def __repr__(self) -> str:
        return f"<Partner {self.id} {self.name!r}>"


class PartnerIdentifier(Base):
    """An identifier of a partner: ISO 6523 ICD / EAS scheme code + value, unique gateway-wide."""
    __tablename__ = "partner_identifiers"
    __table_args__ = (sa.UniqueConstraint("scheme", "value"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    partner_id: Mapped[int] = mapped_column(sa.ForeignKey("partners.id", ondelete="CASCADE"), index=True)
    scheme: Mapped[str] = mapped_column(sa.String(16))
    value: Mapped[str] = mapped_column(sa.String(256))

    partner: Mapped[Partner] = relationship(back_populates="identifiers")

    @property
    def label(self) -> str:
        return SCHEMES.get(self.scheme, self.scheme)

    def __repr__(self) -> str:
        return f"<PartnerIdentifier {self.scheme}:{self.value}>"


class Certificate(Base):
    """A public X.509 certificate of a partner or of one of our organisations."""
    __tablename__ = "certificates"
    __table_args__ = (
        one_of("usage", CERT_USAGES, "usage"),
        sa.CheckConstraint("(partner_id IS NULL) <> (organisation_id IS NULL)", name="one_owner"),
        sa.CheckConstraint("not_before < not_after", name="validity"),
        sa.Index(None, "active", "not_after"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    partner_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("partners.id", ondelete="CASCADE"), index=True)
    organisation_id: Mapped[Optional[int]] = mapped_column(
        sa.ForeignKey("organisations.id", ondelete="CASCADE"), index=True)
    usage: Mapped[str] = mapped_column(sa.String(16))
    pem: Mapped[str] = mapped_column(sa.Text)
    subject: Mapped[str] = mapped_column(sa.String(1000))
    issuer: Mapped[Optional[str]] = mapped_column(sa.String(1000))
    serial: Mapped[str] = mapped_column(sa.String(64))                 # hex
    fingerprint_sha256: Mapped[str] = mapped_column(sa.String(64), index=True)
    not_before: Mapped[datetime]
    not_after: Mapped[datetime]
    active: Mapped[bool] = mapped_column(default=True, server_default=sa.true())
    key_ref: Mapped[Optional[str]] = mapped_column(sa.String(500))     # ours: where the private key is
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    partner: Mapped[Optional[Partner]] = relationship(back_populates="certificates")
    organisation: Mapped[Optional[Organisation]] = relationship(back_populates="certificates")

    @classmethod
    def from_pem(cls, pem: str | bytes, *, usage: str = "both", **owner_and_more: Any) -> Certificate:
        """A certificate row with subject, serial, dates and fingerprint read from the PEM."""
        from cryptography import x509
        from cryptography.hazmat.primitives.serialization import Encoding

        data = pem.encode("ascii") if isinstance(pem, str) else pem
        cert = x509.load_pem_x509_certificate(data)
        return cls(
            usage=usage,
            pem=data.decode("ascii"),
            subject=cert.subject.rfc4514_string(),
            issuer=cert.issuer.rfc4514_string(),
            serial=format(cert.serial_number, "x"),
            fingerprint_sha256=hashlib.sha256(cert.public_bytes(Encoding.DER)).hexdigest(),
            not_before=cert.not_valid_before_utc,
            not_after=cert.not_valid_after_utc,
            **owner_and_more,
        )

    def valid_at(self, at: Optional[datetime] = None) -> bool:
        at = at or datetime.now(timezone.utc)
        return self.active and self.not_before <= at < self.not_after

    @property
    def der(self) -> bytes:
        """The certificate in DER (some partners' AS2 products import only that)."""
        from cryptography import x509
        from cryptography.hazmat.primitives.serialization import Encoding

        return x509.load_pem_x509_certificate(self.pem.encode("ascii")).public_bytes(Encoding.DER)

    @property
    def download_name(self) -> str:
        """A file name for it: owner and fingerprint, no path characters."""
        owner = self.organisation.name if self.organisation is not None else (
            self.partner.name if self.partner is not None else "certificate")
        safe = "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in owner).strip("-") or "certificate"
        return f"{safe}-{self.fingerprint_sha256[:12]}"

    @staticmethod
    def expiring(within: timedelta, *, now: Optional[datetime] = None) -> sa.Select[tuple[Certificate]]:
        """Active certificates whose validity ends within ``within`` (already expired ones too),
        soonest first: what an expiry warning lists."""
        now = now or datetime.now(timezone.utc)
        return (sa.select(Certificate)
                .where(Certificate.active.is_(True), Certificate.not_after <= now + within)
                .order_by(Certificate.not_after, Certificate.id))

    @staticmethod
    def valid(*, usage: str, partner: Optional[Partner] = None, organisation: Optional[Organisation] = None,
              at: Optional[datetime] = None) -> sa.Select[tuple[Certificate]]:
        """Active certificates of one owner usable for ``usage`` at ``at``, newest first. During a
        rollover there are two: send with the first, accept signatures from any."""
        if (partner is None) == (organisation is None):
            raise ValueError("give exactly one owner: partner= or organisation=")
        require_one_of(usage, ("signing", "encryption"), "usage")
        at = at or datetime.now(timezone.utc)
        owner = (Certificate.partner_id == partner.id) if partner is not None \
            else (Certificate.organisation_id == organisation.id)
        return (sa.select(Certificate)
                .where(owner, Certificate.active.is_(True), Certificate.usage.in_((usage, "both")),
                       Certificate.not_before <= at, Certificate.not_after > at)
                .order_by(Certificate.not_before.desc(), Certificate.id.desc()))

    def __repr__(self) -> str:
        return f"<Certificate {self.id} {self.subject!r} {self.not_after:%Y-%m-%d}>"
