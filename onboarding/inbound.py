"""A supplier's way of sending us its invoices, recorded and set up at enrolment where it can be.

``set_up(session, partner, counterparty, sends_by, detail, ssh_keys)`` writes the answer on the
counterparty (``sends_by``, ``sends_detail``: staff see it on its page) and prepares the
inbound side, in the enrolment's transaction:

* **peppol**: its participant identifier becomes one of the partner's identifiers, so what it
  sends over Peppol is known as its;
* **pa** (its certified platform, the French reform): the partner is marked subject to the
  reform (its invoices meet the French rules), and its address at the platform (0225) is one
  of its identifiers;
* **as2**: its AS2 id on the partner, when it has none yet (its certificate comes with it when
  it also receives over AS2; otherwise staff exchange certificates: ``setup`` says so);
* **sftp**: an SFTP account with its key, when it does not fetch from us over SFTP already
  (then it drops its invoices in that account's inbound folder);
* **email** and **portal**: recorded (the address it sends from; the portal login it has when
  it receives on the portal).

What was set up, or could not be, is said in ``detail["setup"]`` (codes, ``SETUP``: the staff
pages word them), never silently dropped. An identifier another partner holds is not taken (left
to staff, said so).
"""
from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from gateway.db import Partner, PartnerIdentifier, SftpAccount, User

SETUP = ("participant_added", "participant_taken", "platform_address_added", "platform_address_taken",
         "french_reform", "as2_id_set", "as2_id_taken", "as2_same", "as2_other", "sftp_account", "sftp_to_create",
         "portal_login", "portal_to_create", "address_recorded")


def _identifier(session: Session, partner: Partner, scheme: str, value: str) -> bool:
    """Add (scheme, value) to the partner unless someone holds it; True when it is the partner's."""
    owner = session.scalar(Partner.by_identifier(scheme, value))
    if owner is not None:
        return owner.id == partner.id
    session.add(PartnerIdentifier(partner_id=partner.id, scheme=scheme, value=value))
    session.flush()
    return True


def set_up(session: Session, partner: Partner, counterparty: Any, sends_by: str, detail: dict[str, str],
           ssh_keys: tuple[str, ...] = (), *, sftp_username: Any = None) -> dict[str, str]:
    """Record and set up (see the module); returns the detail as recorded."""
    detail = dict(detail)
    notes: list[str] = []
    if sends_by == "peppol" and detail.get("participant"):
        scheme, _sep, value = detail["participant"].partition(":")
        notes.append("participant_added" if _identifier(session, partner, scheme, value) else "participant_taken")
    elif sends_by == "pa":
        partner.french_reform = True
        if detail.get("routing"):
            notes.append("platform_address_added" if _identifier(session, partner, "0225", detail["routing"])
                         else "platform_address_taken")
        notes.append("french_reform")
    elif sends_by == "as2":
        if partner.as2_id is None:
            if session.scalar(sa.select(Partner.id).where(Partner.as2_id == detail.get("as2_id"))) is None:
                partner.as2_id = detail.get("as2_id")
                notes.append("as2_id_set")
            else:
                notes.append("as2_id_taken")
        elif partner.as2_id == detail.get("as2_id"):
            notes.append("as2_same")
        else:
            notes.append("as2_other")
    elif sends_by == "sftp":
        account = session.scalar(sa.select(SftpAccount).where(SftpAccount.partner_id == partner.id))
        if account is None and ssh_keys and sftp_username is not None:
            account = SftpAccount(partner_id=partner.id, username=sftp_username(session, partner.name),
                                  authorized_keys="\n".join(ssh_keys) + "\n")
            session.add(account)
            session.flush()
        if account is not None:
            detail["sftp_account"] = account.username
        notes.append("sftp_account" if account is not None else "sftp_to_create")
    elif sends_by == "portal":
        login = session.scalar(sa.select(User.username).where(User.partner_id == partner.id))
        if login:
            detail["portal_login"] = login
        notes.append("portal_login" if login else "portal_to_create")
    elif sends_by == "email":
        notes.append("address_recorded")
    detail["setup"] = " ".join(notes)
    counterparty.sends_by, counterparty.sends_detail = sends_by, detail
    return detail
