"""The approval workflow for received invoices: designated people approve an invoice before it
goes on to be paid.

One module per job:

* ``rules``: each organisation's (a recipient partner's) rules as data, a YAML/JSON document
  stored per organisation, checked with every error named by its field;
* ``cases``: ``screen``, the pipeline's one call, opens a case when a rule matches; who is
  awaited and who may decide (approver, delegate, escalation);
* ``decide``: approve, refuse (the life-cycle refusal 210 told to the supplier), put on hold
  (disputed 207); the last approval makes the invoice accepted (205) and available to the ERP
  pull;
* ``delegation``: someone away for a period, and their delegate;
* ``notices``: what approvers are told (notification records, shown in the portal and the API);
* ``queue``: an approver's queue, a case's trail;
* ``sweep``: reminders and escalations after their delays.

While a case is not approved its invoice's delivery to the organisation waits, whatever its
channel (``pending_approval``: ``gateway.flow.plan`` and ``gateway.flow.release``; the ERP pull
also filters on ``ApprovalCase.withheld_document_ids``), and the recipient's own status buttons
leave its life cycle to the workflow (``cases.is_open``).
"""
from __future__ import annotations

from .cases import screen

__all__ = ["screen"]
