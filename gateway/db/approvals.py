"""The approval workflow's records (``gateway.approvals`` decides; these remember).

* ``ApprovalRuleSet``: one organisation's (a recipient partner's) rule document, as data: the
  text as it was given (YAML or JSON) and its checked form, who changed it and when.
* ``ApprovalCase``: one received invoice a rule made wait for approval: a snapshot of the
  rule (approvers by user id, in order or any of, how many, the delays), where it stands
  (``waiting``, ``on_hold``, ``approved``, ``refused``) and since when the current step waits
  (reminders and escalation count from there). While a case is not ``approved`` its invoice's
  delivery to the organisation waits (``withholding``, ``gateway.flow.release``) and it is
  kept from the ERP pull (``withheld_document_ids``).
* ``ApprovalDecision``: every decision on record: who, on behalf of whom (a delegation), in
  which capacity, when, why (reason and reason code), the step it was taken at, since when
  that step waited (the approval time), and the life-cycle event it caused.
* ``ApprovalDelegation``: a user away for a period, and who decides for them meanwhile.
* ``ApprovalNotice``: what an approver is told (an invoice waits, a reminder, an escalation):
  a notification record shown in the portal queue and the API, since users have no mail
  address on record; its kind and parameters, worded in each reader's language when shown.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any, Optional

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, one_of, utcnow

CASE_STATES = ("waiting", "on_hold", "approved", "refused")
OPEN_STATES = ("waiting", "on_hold")
DECISIONS = ("approved", "refused", "on_hold")
CAPACITIES = ("approver", "delegate", "escalation")
NOTICE_KINDS = ("waiting", "reminder", "escalation")
MODES = ("in_order", "any_of")


class ApprovalRuleSet(Base):
    __tablename__ = "approval_rule_sets"

    id: Mapped[int] = mapped_column(primary_key=True)
    partner_id: Mapped[int] = mapped_column(sa.ForeignKey("partners.id", ondelete="CASCADE"), unique=True)
    source: Mapped[str] = mapped_column(sa.Text)                              # as given (YAML or JSON)
    document: Mapped[dict[str, Any]] = mapped_column(default=dict)            # checked: {"rules": [...]}
    version: Mapped[int] = mapped_column(default=1)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_by: Mapped[Optional[str]] = mapped_column(sa.String(200))

    def __repr__(self) -> str:
        return f"<ApprovalRuleSet partner={self.partner_id} v{self.version}>"


class ApprovalCase(Base):
    __tablename__ = "approval_cases"
    __table_args__ = (one_of("state", CASE_STATES, "state"), one_of("mode", MODES, "mode"),
                      sa.Index(None, "state", "step_since"), sa.Index(None, "organisation_id", "state"),
                      sa.Index(None, "closed_at"))                 # indicators: approvals ended in a period

    id: Mapped[int] = mapped_column(primary_key=True)
    document_id: Mapped[int] = mapped_column(sa.ForeignKey("documents.id", ondelete="CASCADE"), unique=True)
    organisation_id: Mapped[int] = mapped_column(sa.ForeignKey("partners.id", ondelete="CASCADE"))
    rule_name: Mapped[str] = mapped_column(sa.String(100))
    matched: Mapped[dict[str, Any]] = mapped_column(default=dict)             # the invoice's values the rule saw
    mode: Mapped[str] = mapped_column(sa.String(16))
    approvers: Mapped[list[Any]] = mapped_column(default=list)                # user ids, in order
    required: Mapped[int] = mapped_column(default=1)
    remind_after_hours: Mapped[Optional[float]]
    escalate_after_hours: Mapped[Optional[float]]
    escalate_to: Mapped[list[Any]] = mapped_column(default=list)              # user ids
    state: Mapped[str] = mapped_column(sa.String(16), default="waiting")
    step: Mapped[int] = mapped_column(default=0)                              # approvals given so far
    step_since: Mapped[datetime] = mapped_column(default=utcnow)
    reminded_at: Mapped[Optional[datetime]]
    escalated_at: Mapped[Optional[datetime]]
    opened_at: Mapped[datetime] = mapped_column(default=utcnow)
    closed_at: Mapped[Optional[datetime]]

    decisions: Mapped[list[ApprovalDecision]] = relationship(
        back_populates="case", cascade="all, delete-orphan", order_by="(ApprovalDecision.at, ApprovalDecision.id)")

    @staticmethod
    def withheld_document_ids() -> sa.Select[tuple[int]]:
        """Documents an approval keeps from the ERP pull: a case not (yet) approved."""
        return sa.select(ApprovalCase.document_id).where(ApprovalCase.state != "approved")

    @staticmethod
    def withholding(document_id: int, organisation_id: int) -> sa.Select[tuple[str]]:
        """The rule of a case not (yet) approved that holds the document's delivery to
        ``organisation_id`` (no row: nothing holds it)."""
        return sa.select(ApprovalCase.rule_name).where(ApprovalCase.document_id == document_id,
                                                       ApprovalCase.organisation_id == organisation_id,
                                                       ApprovalCase.state != "approved")

    @staticmethod
    def open_document_ids() -> sa.Select[tuple[int]]:
        """Documents waiting for an approval decision (their life cycle is the workflow's)."""
        return sa.select(ApprovalCase.document_id).where(ApprovalCase.state.in_(OPEN_STATES))

    def __repr__(self) -> str:
        return f"<ApprovalCase doc={self.document_id} {self.rule_name!r} {self.state} step={self.step}>"


class ApprovalDecision(Base):
    __tablename__ = "approval_decisions"
    __table_args__ = (one_of("decision", DECISIONS, "decision"), one_of("capacity", CAPACITIES, "capacity"),
                      sa.Index(None, "at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("approval_cases.id", ondelete="CASCADE"), index=True)
    document_id: Mapped[int] = mapped_column(sa.ForeignKey("documents.id", ondelete="CASCADE"), index=True)
    decision: Mapped[str] = mapped_column(sa.String(16))
    user_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    username: Mapped[str] = mapped_column(sa.String(150))                     # kept if the user goes
    on_behalf_of_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    on_behalf_of: Mapped[Optional[str]] = mapped_column(sa.String(150))
    capacity: Mapped[str] = mapped_column(sa.String(16))
    step: Mapped[int]
    reason: Mapped[Optional[str]] = mapped_column(sa.String(1000))
    reason_code: Mapped[Optional[str]] = mapped_column(sa.String(16))
    waiting_since: Mapped[datetime]                                           # the step's start: approval time
    at: Mapped[datetime] = mapped_column(default=utcnow)
    status_event_id: Mapped[Optional[int]] = mapped_column(
        sa.ForeignKey("document_status_events.id", ondelete="SET NULL"))

    case: Mapped[ApprovalCase] = relationship(back_populates="decisions")

    def __repr__(self) -> str:
        return f"<ApprovalDecision case={self.case_id} {self.decision} by {self.username!r}>"


class ApprovalDelegation(Base):
    __tablename__ = "approval_delegations"
    __table_args__ = (sa.CheckConstraint("user_id <> delegate_id", name="not_self"),
                      sa.CheckConstraint("ends_at > starts_at", name="period"),
                      sa.Index(None, "delegate_id", "ends_at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    delegate_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    reason: Mapped[Optional[str]] = mapped_column(sa.String(500))
    created_by: Mapped[str] = mapped_column(sa.String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    ended_at: Mapped[Optional[datetime]]                                      # cut short

    def __repr__(self) -> str:
        return f"<ApprovalDelegation {self.user_id}→{self.delegate_id} {self.starts_at:%Y-%m-%d}..{self.ends_at:%Y-%m-%d}>"


class ApprovalNotice(Base):
    __tablename__ = "approval_notices"
    __table_args__ = (one_of("kind", NOTICE_KINDS, "kind"), sa.Index(None, "user_id", "at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("approval_cases.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(sa.String(16))
    params: Mapped[Optional[dict[str, Any]]]                                 # what its words name (None: older)
    message: Mapped[str] = mapped_column(sa.String(500))                      # its English text
    at: Mapped[datetime] = mapped_column(default=utcnow)

    def __repr__(self) -> str:
        return f"<ApprovalNotice case={self.case_id} {self.kind} to {self.user_id}>"
