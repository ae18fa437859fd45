"""The approval trail on an operator's document page: the rule that made the invoice wait, whom
it waits for, and every decision (who, on behalf of whom, when, why). ``document_approval.html``
draws it from ``approval_trail(document_id)``, read in its own short session as plain values."""
from __future__ import annotations

from typing import Any, Optional

from ...approvals import queue
from ..kit.current import gateway
from .views import bp


def approval_trail(document_id: int) -> Optional[dict[str, Any]]:
    """The document's approval as the page shows it (None: it never waited for one)."""
    with gateway().session() as s:
        item = queue.trail(s, document_id)
        if item is None:
            return None
        return {"rule": item.rule_name, "state": item.state, "mode": item.mode, "required": item.required,
                "approvers": item.approvers, "awaited": item.awaited, "escalate_to": item.escalate_to,
                "opened_at": item.opened_at, "closed_at": item.closed_at, "escalated_at": item.escalated_at,
                "matched": dict(item.matched or {}),
                "decisions": [{"at": d.at, "decision": d.decision, "username": d.username,
                               "on_behalf_of": d.on_behalf_of, "capacity": d.capacity, "reason": d.reason,
                               "reason_code": d.reason_code, "waiting_since": d.waiting_since}
                              for d in item.decisions]}


@bp.context_processor
def _approval_helpers() -> dict[str, Any]:
    return {"approval_trail": approval_trail}
