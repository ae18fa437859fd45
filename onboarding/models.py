"""Onboarding's records: counterparties to bring in, campaigns that invite them, and what happened.

* ``ImportBatch``: one CSV import, with its per-row report (what was refused and why).
* ``Counterparty``: a company we want on the network. One row per company, found
  by its ``dedupe_key`` (SIRET, else VAT, else GLN, else SIREN, else e-mail); it
  may already be a ``Partner`` of ours, or be reachable through an
  interconnected ``Network`` (then it is not invited).
* ``Campaign`` → ``Wave`` (a segment and a send date) → ``Invitation`` (one per
  counterparty and campaign, carrying the nonce its registration link is signed
  over) → ``CampaignMail`` (one row per step and invitation: information,
  invitation, reminder-1…; the unique (invitation, step) is what makes sending
  idempotent: a restarted worker finds the row and never sends that step twice).
* ``CampaignTemplate``: a campaign's own wording for a step, language and segment
  (``segment == ""`` = any), over the defaults shipped as data files.
* ``TrackingEvent``: the funnel's facts (sent, bounced, opened, clicked,
  registration started, enrolled, opted out), per counterparty, campaign and wave.
* ``Registration``: what the counterparty submitted on the self-service pages,
  and the partner it became.

The tables live in the gateway's database and migrations (``gateway/db/migrations``),
on the gateway's declarative base.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any, Optional

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from gateway.db import Base, Network, Partner, utcnow
from gateway.db.base import one_of, require_one_of

LANGUAGES = ("fr", "en")
COUNTERPARTY_STATUSES = ("new", "existing_partner", "reachable_elsewhere", "invited", "registering",
                         "enrolled", "opted_out", "bounced")
COUNTERPARTY_SOURCES = ("import", "held_document", "manual")
CAMPAIGN_STATUSES = ("draft", "running", "paused", "closed")
# Whom a campaign invites: customers (we send them invoices) or suppliers (they send us theirs:
# the registration also asks how they will send them, ``SENDING_CHANNELS``).
CAMPAIGN_KINDS = ("customers", "suppliers")
# How a supplier sends us its invoices: our portal (upload), e-mail to our address, AS2, SFTP,
# its certified platform (PA, the French reform) or Peppol.
SENDING_CHANNELS = ("portal", "email", "as2", "sftp", "pa", "peppol")
WAVE_STATUSES = ("scheduled", "running", "done", "cancelled")
STEPS = ("information", "invitation", "reminder")          # template steps; mails are reminder-1, reminder-2…
INVITATION_STATUSES = ("pending", "sent", "registering", "enrolled", "opted_out", "bounced", "expired", "stopped")
MAIL_STATUSES = ("scheduled", "sending", "sent", "bounced", "failed", "cancelled", "uncertain")
EVENT_KINDS = ("imported", "sent", "bounced", "opened", "clicked", "registration_started", "enrolled",
               "opted_out", "failed", "edited", "reinvited")


class ImportBatch(Base):
    __tablename__ = "onboarding_imports"

    id: Mapped[int] = mapped_column(primary_key=True)
    filename: Mapped[Optional[str]] = mapped_column(sa.String(500))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[Optional[str]] = mapped_column(sa.String(150))
    rows_total: Mapped[int] = mapped_column(default=0, server_default=sa.text("0"))
    rows_accepted: Mapped[int] = mapped_column(default=0, server_default=sa.text("0"))
    rows_rejected: Mapped[int] = mapped_column(default=0, server_default=sa.text("0"))
    rows_duplicate: Mapped[int] = mapped_column(default=0, server_default=sa.text("0"))
    # [{"line": 7, "outcome": "rejected"|"created"|"updated"|"duplicate"|"existing_partner"|
    #   "reachable_elsewhere", "reasons": [...], "counterparty_id": 12}, …]
    report: Mapped[list[Any]] = mapped_column(default=list)

    def __repr__(self) -> str:
        return f"<ImportBatch {self.id} {self.filename!r} {self.rows_accepted}/{self.rows_total}>"


class Counterparty(Base):
    __tablename__ = "counterparties"
    __table_args__ = (
        one_of("language", LANGUAGES, "language"),
        sa.Index(None, "status", "segment"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(300))
    siren: Mapped[Optional[str]] = mapped_column(sa.String(9), index=True)
    siret: Mapped[Optional[str]] = mapped_column(sa.String(14), index=True)
    vat: Mapped[Optional[str]] = mapped_column(sa.String(32), index=True)
    gln: Mapped[Optional[str]] = mapped_column(sa.String(13), index=True)
    email: Mapped[Optional[str]] = mapped_column(sa.String(320), index=True)
    contact_name: Mapped[Optional[str]] = mapped_column(sa.String(200))
    segment: Mapped[str] = mapped_column(sa.String(64), default="", server_default=sa.text("''"))
    language: Mapped[str] = mapped_column(sa.String(2), default="fr", server_default="fr")
    dedupe_key: Mapped[str] = mapped_column(sa.String(400), unique=True)    # "0009:SIRET", "VAT:FR…", "EM:a@b"
    status: Mapped[str] = mapped_column(sa.String(24), default="new", server_default="new")
    status_at: Mapped[datetime] = mapped_column(default=utcnow)
    source: Mapped[str] = mapped_column(sa.String(16), default="import", server_default="import")
    partner_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("partners.id", ondelete="SET NULL"), index=True)
    network_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("networks.id", ondelete="SET NULL"))
    import_batch_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("onboarding_imports.id", ondelete="SET NULL"))
    opted_out_at: Mapped[Optional[datetime]]
    bounced_at: Mapped[Optional[datetime]]
    bounce_reason: Mapped[Optional[str]] = mapped_column(sa.Text)
    enrolled_at: Mapped[Optional[datetime]]
    # How it sends us its invoices (a supplier's answer, ``SENDING_CHANNELS``), and the details it
    # gave (its sending address, AS2 id, Peppol participant, platform…: strings only).
    sends_by: Mapped[Optional[str]] = mapped_column(sa.String(16))
    sends_detail: Mapped[Optional[dict[str, Any]]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    partner: Mapped[Optional[Partner]] = relationship()
    network: Mapped[Optional[Network]] = relationship()
    invitations: Mapped[list[Invitation]] = relationship(back_populates="counterparty", order_by="Invitation.id")

    @validates("status")
    def _check_status(self, key: str, value: str) -> str:
        return require_one_of(value, COUNTERPARTY_STATUSES, "counterparty status")

    @validates("source")
    def _check_source(self, key: str, value: str) -> str:
        return require_one_of(value, COUNTERPARTY_SOURCES, "counterparty source")

    @property
    def invitable(self) -> bool:
        """Whether a campaign may write to it at all."""
        return bool(self.email) and self.status in ("new", "invited", "registering") \
            and self.opted_out_at is None and self.bounced_at is None

    def __repr__(self) -> str:
        return f"<Counterparty {self.id} {self.name!r} {self.status}>"


class Campaign(Base):
    __tablename__ = "campaigns"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200), unique=True)
    description: Mapped[Optional[str]] = mapped_column(sa.Text)
    status: Mapped[str] = mapped_column(sa.String(16), default="draft", server_default="draft")
    # An information mail first, the invitation this many days later (None: no information step).
    information_lead_days: Mapped[Optional[int]]
    reminder_count: Mapped[int] = mapped_column(default=3, server_default=sa.text("3"))
    reminder_interval_days: Mapped[int] = mapped_column(default=5, server_default=sa.text("5"))
    link_valid_days: Mapped[int] = mapped_column(default=30, server_default=sa.text("30"))
    mail_rate_per_minute: Mapped[Optional[int]]                 # None: the gateway's EDIGATE_MAIL_RATE
    from_address: Mapped[Optional[str]] = mapped_column(sa.String(320))   # None: EDIGATE_MAIL_FROM
    # Who invites: the From display name (a person or a team) and the company named in the wording
    # (None: our organisation's name).
    sender_name: Mapped[Optional[str]] = mapped_column(sa.String(200))
    inviter: Mapped[Optional[str]] = mapped_column(sa.String(200))
    kind: Mapped[str] = mapped_column(sa.String(16), default="customers", server_default="customers")
    created_by: Mapped[Optional[str]] = mapped_column(sa.String(150))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    waves: Mapped[list[Wave]] = relationship(back_populates="campaign", cascade="all, delete-orphan",
                                             order_by="(Wave.send_at, Wave.id)")
    templates: Mapped[list[CampaignTemplate]] = relationship(back_populates="campaign",
                                                             cascade="all, delete-orphan")

    @validates("status")
    def _check_status(self, key: str, value: str) -> str:
        return require_one_of(value, CAMPAIGN_STATUSES, "campaign status")

    @validates("kind")
    def _check_kind(self, key: str, value: str) -> str:
        return require_one_of(value, CAMPAIGN_KINDS, "campaign kind")

    def __repr__(self) -> str:
        return f"<Campaign {self.id} {self.name!r} {self.status}>"


class Wave(Base):
    __tablename__ = "campaign_waves"
    __table_args__ = (sa.UniqueConstraint("campaign_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(sa.ForeignKey("campaigns.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(sa.String(200))
    segment: Mapped[str] = mapped_column(sa.String(64), default="", server_default=sa.text("''"))     # "": every segment
    send_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(sa.String(16), default="scheduled", server_default="scheduled")
    started_at: Mapped[Optional[datetime]]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    campaign: Mapped[Campaign] = relationship(back_populates="waves")
    invitations: Mapped[list[Invitation]] = relationship(back_populates="wave", order_by="Invitation.id")

    @validates("status")
    def _check_status(self, key: str, value: str) -> str:
        return require_one_of(value, WAVE_STATUSES, "wave status")

    def __repr__(self) -> str:
        return f"<Wave {self.id} {self.name!r} {self.status}>"


class CampaignTemplate(Base):
    __tablename__ = "campaign_templates"
    __table_args__ = (
        sa.UniqueConstraint("campaign_id", "step", "language", "segment"),
        one_of("step", STEPS, "step"),
        one_of("language", LANGUAGES, "language"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(sa.ForeignKey("campaigns.id", ondelete="CASCADE"))
    step: Mapped[str] = mapped_column(sa.String(16))
    language: Mapped[str] = mapped_column(sa.String(2))
    segment: Mapped[str] = mapped_column(sa.String(64), default="", server_default=sa.text("''"))     # "": any segment
    subject: Mapped[str] = mapped_column(sa.Text)          # Jinja2
    body_text: Mapped[str] = mapped_column(sa.Text)        # Jinja2, plain text
    body_html: Mapped[Optional[str]] = mapped_column(sa.Text)   # Jinja2, autoescaped
    updated_by: Mapped[Optional[str]] = mapped_column(sa.String(150))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    campaign: Mapped[Campaign] = relationship(back_populates="templates")

    def __repr__(self) -> str:
        return f"<CampaignTemplate {self.campaign_id} {self.step}/{self.language}/{self.segment or '*'}>"


class Invitation(Base):
    __tablename__ = "invitations"
    __table_args__ = (sa.UniqueConstraint("campaign_id", "counterparty_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(sa.ForeignKey("campaigns.id", ondelete="CASCADE"))
    wave_id: Mapped[int] = mapped_column(sa.ForeignKey("campaign_waves.id", ondelete="CASCADE"), index=True)
    counterparty_id: Mapped[int] = mapped_column(sa.ForeignKey("counterparties.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(sa.String(16), default="pending", server_default="pending")
    status_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The registration link is signed over (invitation id, nonce, expiry): a new nonce revokes old links.
    token_nonce: Mapped[str] = mapped_column(sa.String(64), unique=True)
    expires_at: Mapped[datetime]
    used_at: Mapped[Optional[datetime]]                 # single use: set when the registration is submitted
    first_opened_at: Mapped[Optional[datetime]]
    first_clicked_at: Mapped[Optional[datetime]]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    campaign: Mapped[Campaign] = relationship()
    wave: Mapped[Wave] = relationship(back_populates="invitations")
    counterparty: Mapped[Counterparty] = relationship(back_populates="invitations")
    mails: Mapped[list[CampaignMail]] = relationship(back_populates="invitation", order_by="CampaignMail.id")

    @validates("status")
    def _check_status(self, key: str, value: str) -> str:
        return require_one_of(value, INVITATION_STATUSES, "invitation status")

    def __repr__(self) -> str:
        return f"<Invitation {self.id} campaign={self.campaign_id} to={self.counterparty_id} {self.status}>"


class CampaignMail(Base):
    """One step of one invitation: at most one mail ever, whatever the workers do."""
    __tablename__ = "campaign_mails"
    __table_args__ = (
        sa.UniqueConstraint("invitation_id", "step"),
        sa.Index(None, "status", "due_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    invitation_id: Mapped[int] = mapped_column(sa.ForeignKey("invitations.id", ondelete="CASCADE"))
    step: Mapped[str] = mapped_column(sa.String(32))            # information, invitation, reminder-1, …
    status: Mapped[str] = mapped_column(sa.String(16), default="scheduled", server_default="scheduled")
    due_at: Mapped[datetime]
    attempts: Mapped[int] = mapped_column(default=0, server_default=sa.text("0"))
    next_attempt_at: Mapped[Optional[datetime]]
    claimed_at: Mapped[Optional[datetime]]
    claimed_by: Mapped[Optional[str]] = mapped_column(sa.String(100))
    message_id: Mapped[Optional[str]] = mapped_column(sa.String(255), unique=True)
    sent_at: Mapped[Optional[datetime]]
    smtp_reply: Mapped[Optional[str]] = mapped_column(sa.Text)
    error: Mapped[Optional[str]] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    invitation: Mapped[Invitation] = relationship(back_populates="mails")

    @validates("status")
    def _check_status(self, key: str, value: str) -> str:
        return require_one_of(value, MAIL_STATUSES, "mail status")

    def __repr__(self) -> str:
        return f"<CampaignMail {self.id} {self.step} {self.status}>"


class TrackingEvent(Base):
    __tablename__ = "tracking_events"
    __table_args__ = (
        sa.Index(None, "campaign_id", "kind"),
        sa.Index(None, "counterparty_id", "at"),
        sa.Index(None, "wave_id", "kind"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    counterparty_id: Mapped[int] = mapped_column(sa.ForeignKey("counterparties.id", ondelete="CASCADE"))
    campaign_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("campaigns.id", ondelete="CASCADE"))
    wave_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("campaign_waves.id", ondelete="CASCADE"))
    invitation_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("invitations.id", ondelete="CASCADE"))
    mail_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("campaign_mails.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(sa.String(24))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)

    @validates("kind")
    def _check_kind(self, key: str, value: str) -> str:
        return require_one_of(value, EVENT_KINDS, "tracking event")

    def __repr__(self) -> str:
        return f"<TrackingEvent {self.kind} counterparty={self.counterparty_id} {self.at.isoformat()}>"


class Registration(Base):
    __tablename__ = "registrations"

    id: Mapped[int] = mapped_column(primary_key=True)
    invitation_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("invitations.id", ondelete="SET NULL"),
                                                         unique=True)
    counterparty_id: Mapped[int] = mapped_column(sa.ForeignKey("counterparties.id", ondelete="CASCADE"), index=True)
    partner_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("partners.id", ondelete="SET NULL"))
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)       # what was submitted (no secrets)
    submitted_at: Mapped[datetime] = mapped_column(default=utcnow)
    remote_addr: Mapped[Optional[str]] = mapped_column(sa.String(64))

    counterparty: Mapped[Counterparty] = relationship()
    partner: Mapped[Optional[Partner]] = relationship()

    def __repr__(self) -> str:
        return f"<Registration {self.id} counterparty={self.counterparty_id} partner={self.partner_id}>"
