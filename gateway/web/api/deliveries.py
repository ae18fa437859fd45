"""The API's deliveries: plan a failed one again (``/api/v1/deliveries/<id>/redeliver``)."""
from __future__ import annotations

from flask import Response, g
from werkzeug.exceptions import NotFound

from ...db import Delivery
from ...flow import redeliver as redelivery
from ..kit.current import gateway
from ..kit.roles import require_permission
from . import schemas
from .blueprint import answer, bp, get_or_404


@bp.post("/deliveries/<int:delivery_id>/redeliver")
@bp.authenticated
@bp.response(202, schemas.Delivery, description="Planned again; its status and history tell the outcome")
@bp.errors(404, 409)
def redeliver(delivery_id: int) -> Response:
    """Plan a failed delivery again with its recipient's current channel profile (roles admin, operator)

    Once the partner is fixed; 409 when the delivery is not failed.
    """
    require_permission("retry")
    gw = gateway()
    try:
        redelivery.redeliver(gw, delivery_id, by=g.user.username)
    except LookupError:
        raise NotFound(f"no delivery {delivery_id}") from None
    with gw.session() as s:
        return answer(schemas.Delivery, get_or_404(s, Delivery, delivery_id, "delivery"), 202)
