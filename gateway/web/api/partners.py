"""The API's partners: list, read, create and change them (``/api/v1/partners``).

Creating and changing apply a body ``schemas.PartnerInput`` has loaded through the
partner service (``gateway.partners.service``, as the CLI and the registration do: clashes,
the AS2 identity, a usable channel; identifiers' check digits are not the API's business,
an ERP's record is what it is); writing them needs the role admin or operator.
"""
from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import Response, g, url_for

from ...db import Partner
from ...partners.service import PartnerService
from ..kit.current import gateway
from ..kit.roles import require_permission
from . import params, schemas
from .blueprint import answer, bp, get_or_404, paged


@bp.get("/partners")
@bp.authenticated
@bp.arguments(schemas.PageArgs, location="query")
@bp.response(200, schemas.PartnerPage)
@bp.errors(400)
def list_partners(args: dict[str, Any]) -> Response:
    """Partners with their identifiers and AS2 settings, by name"""
    page = params.search(args)[1]
    with gateway().session() as s:
        q = sa.select(Partner).order_by(Partner.name, Partner.id)
        return answer(schemas.PartnerPage, paged(s, q, page))


@bp.get("/partners/<int:partner_id>")
@bp.authenticated
@bp.response(200, schemas.PartnerDetail)
@bp.errors(404)
def get_partner(partner_id: int) -> Response:
    """One partner, with its certificates"""
    with gateway().session() as s:
        return answer(schemas.PartnerDetail, get_or_404(s, Partner, partner_id, "partner"))


@bp.post("/partners")
@bp.authenticated
@bp.arguments(schemas.PartnerCreate, error_status_code=422)
@bp.response(201, schemas.PartnerDetail, headers={"Location": {"schema": {"type": "string"}}})
@bp.errors(400, 409, 422)
def create_partner(values: dict[str, Any]) -> Response:
    """Create a partner (roles admin, operator)"""
    require_permission("partners.write")
    with gateway().session() as s:
        values = dict(values)
        partner = PartnerService(s, actor=f"api:{g.user.username}").create(values, identifiers=values.pop("identifiers", None) or (),
                                           check_digits=False)
        response = answer(schemas.PartnerDetail, partner, 201)
        response.headers["Location"] = url_for("api.get_partner", partner_id=partner.id)
    return response


@bp.patch("/partners/<int:partner_id>")
@bp.authenticated
@bp.arguments(schemas.PartnerInput, error_status_code=422)
@bp.response(200, schemas.PartnerDetail)
@bp.errors(400, 404, 409, 422)
def update_partner(values: dict[str, Any], partner_id: int) -> Response:
    """Change a partner (roles admin, operator); `identifiers`, when given, is the whole list"""
    require_permission("partners.write")
    with gateway().session() as s:
        partner, values = get_or_404(s, Partner, partner_id, "partner"), dict(values)
        PartnerService(s, actor=f"api:{g.user.username}").update(partner, values, identifiers=values.pop(
            "identifiers", None), check_digits=False)
        return answer(schemas.PartnerDetail, partner)


