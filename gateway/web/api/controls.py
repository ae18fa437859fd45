"""The anomaly and fraud controls in the API (``/api/v1/controls``): what they hold and its evidence,
an operator's confirmation of a changed bank account (the invoice is then delivered), and each
control's switch and thresholds for the gateway or one organisation (``gateway.controls``)."""
from __future__ import annotations

from typing import Any

from flask import Response, g
from marshmallow import Schema, fields, validate
from werkzeug.exceptions import Forbidden, NotFound

from ...controls import confirm
from ...controls.settings import SettingError, definitions, effective, set_control
from ...controls.wording import hold_worded
from ...db import Partner
from ..kit.current import gateway
from ..kit.errors import INVALID_VALUES, ApiError
from .blueprint import answer, bp
from .finding_words import caller_language
from .schemas import StrictBool

MAX_ID = 2 ** 63 - 1


class Hold(Schema):
    document = fields.Integer(attribute="document_id")
    control = fields.String()
    supplier = fields.String(attribute="supplier_key")
    evidence = fields.Dict()
    message = fields.Function(lambda h: hold_worded(h, caller_language()),
                              metadata={"description": "Why it is held, in the caller's language"})
    opened_at = fields.DateTime()


class Holds(Schema):
    items = fields.List(fields.Nested(Hold))


class Released(Schema):
    supplier = fields.String()
    accounts = fields.List(fields.String())
    released = fields.List(fields.Integer())
    delivered = fields.List(fields.Integer())


class SettingsArgs(Schema):
    partner = fields.Integer(validate=validate.Range(1, MAX_ID), metadata={"description": "an organisation (a recipient partner); none: the gateway's level"})


class ControlView(Schema):
    name = fields.String()
    rules = fields.List(fields.String())
    action = fields.String()
    enabled = fields.Boolean()
    thresholds = fields.Dict(keys=fields.String(), values=fields.Float())
    source = fields.Dict(keys=fields.String(), values=fields.String())


class ControlList(Schema):
    partner = fields.Integer(allow_none=True)
    items = fields.List(fields.Nested(ControlView))


class ControlChange(Schema):
    enabled = StrictBool(allow_none=True)
    thresholds = fields.Dict(keys=fields.String(), values=fields.Float(),
                             validate=validate.Length(max=10), metadata={
                                 "description": "The control's own thresholds by name (see GET /controls); "
                                                "another name or a value out of its bounds is a 422"})
    clear = StrictBool(load_default=False)


def _require_operator() -> None:
    if g.user.role not in confirm.CONFIRM_ROLES:
        raise Forbidden("confirming or changing the controls needs the role admin or operator")


def _controls(s, partner_id: Any) -> dict[str, Any]:
    if partner_id is not None and s.get(Partner, partner_id) is None:
        raise NotFound(f"no partner {partner_id}")
    rows = effective(s, partner_id)
    return {"partner": partner_id, "items": [
        {"name": d.name, "rules": list(d.rules), "action": d.action, "enabled": rows[d.name].enabled,
         "thresholds": rows[d.name].thresholds, "source": rows[d.name].source} for d in definitions().values()]}


@bp.get("/controls/holds")
@bp.authenticated
@bp.response(200, Holds)
def list_control_holds() -> Response:
    """Invoices a control holds until an operator confirms, oldest first, with the evidence"""
    with gateway().session() as s:
        return answer(Holds, {"items": confirm.open_holds(s)})


@bp.post("/controls/holds/<int:document_id>/confirm")
@bp.authenticated
@bp.response(200, Released)
@bp.errors(404, 409)
def confirm_control_hold(document_id: int) -> Response:
    """Confirm the new bank account a held invoice names: it goes on record, and every invoice of
    that supplier held for it is released and delivered"""
    _require_operator()
    gw = gateway()
    try:
        release = confirm.confirm_account(gw, document_id, by=f"user:{g.user.username}")
    except confirm.ControlError as e:
        raise ApiError(409 if e.done else 404, str(e)) from None
    return answer(Released, release.__dict__)


@bp.get("/controls")
@bp.authenticated
@bp.arguments(SettingsArgs, location="query")
@bp.response(200, ControlList)
@bp.errors(400, 404)
def list_controls(args: dict[str, Any]) -> Response:
    """Each control as it applies to the gateway, or to one organisation's invoices"""
    with gateway().session() as s:
        return answer(ControlList, _controls(s, args.get("partner")))


# only the controls' own names: /controls/holds is another resource, not a control called "holds"
@bp.patch(f"/controls/<any({', '.join(definitions())}):name>")
@bp.authenticated
@bp.arguments(SettingsArgs, location="query")
@bp.arguments(ControlChange)
@bp.response(200, ControlList)
@bp.errors(400, 404, 422)
def change_control(args: dict[str, Any], body: dict[str, Any], name: str) -> Response:
    """Switch a control or set its thresholds for the gateway or one organisation (`clear`: back to the level above)"""
    _require_operator()
    if name not in definitions():
        raise NotFound(f"no control {name}")
    partner_id = args.get("partner")
    with gateway().session() as s:
        if partner_id is not None and s.get(Partner, partner_id) is None:
            raise NotFound(f"no partner {partner_id}")
        try:
            set_control(s, name, partner_id=partner_id, enabled=body.get("enabled"),
                        thresholds=body.get("thresholds"), clear=body.get("clear", False),
                        by=f"user:{g.user.username}")
        except SettingError as e:
            raise ApiError(422, INVALID_VALUES, {"thresholds": str(e)}) from None
        return answer(ControlList, _controls(s, partner_id))
