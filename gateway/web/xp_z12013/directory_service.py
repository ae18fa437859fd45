"""AFNOR's Directory Service (XP Z12-013 Annex B, 1.3.0), served to our members' ERPs at
``/xp-z12-013/directory-service/v1/…``: companies (SIREN), establishments (SIRET), routing codes
and directory lines, searched (``POST …/search``: ``filters`` with their operators ``strict``,
``contains``, ``startWith``; ``sorting``; ``fields``; ``include``; ``limit``, default 50, at most
``MAX_LIMIT``; ``ignore``) or read one by one (``GET …/code-insee:{siren}`` …).

The answers come from ``directory_lines``: our members' own lines, then the PPF directory's
local mirror when there is one. What we do not know (addresses, entity types, the public
buyers' B2G data) is left out, as the specification allows: every property is optional.
Every caller with a valid token may ask (the directory is public information).
"""
from __future__ import annotations

from typing import Any, Callable, Iterable, Optional

from flask import Blueprint, Response, jsonify, request

from ..kit.current import gateway
from . import common, spec
from .common import Refused, authenticated
from .directory_lines import Line, directory_line, facilities, legal_units, lines, routing_code

PREFIX = "/directory-service"
DEFAULT_LIMIT, MAX_LIMIT = 50, 1000

bp = Blueprint("xp_directory", __name__, url_prefix=PREFIX)

# a filter's name -> where its value is in a resource (a nested key for addresses)
FILTER_FIELDS = {"addressLines": ("address", "addressLine1"), "postalCode": ("address", "postalCode"),
                 "countrySubdivision": ("address", "countrySubdivision"), "locality": ("address", "locality")}


# --- the request's parts ---------------------------------------------------------------------------

def _query_list(name: str, allowed: Iterable[str]) -> list[str]:
    """A query parameter of the form ``a,b,c`` (``explode: false``), each value one of ``allowed``."""
    raw = request.args.get(name)
    if not raw:
        return []
    values = raw.split(",")
    allowed = tuple(allowed)
    wrong = [v for v in values if v not in allowed]
    if wrong:
        raise Refused(400, f"{name}: {wrong[0][:50]!r} is not one of {', '.join(allowed)}", code="INVALID_REQUEST")
    return values


def _path(value: str, pattern_digits: int, name: str) -> str:
    if len(value) != pattern_digits or not value.isdigit() or not value.isascii():
        raise Refused(400, f"{name} is {pattern_digits} digits", code="INVALID_REQUEST")
    return value


def _value(resource: dict[str, Any], key: str) -> Optional[str]:
    where = FILTER_FIELDS.get(key, (key,))
    value: Any = resource
    for part in where:
        value = value.get(part) if isinstance(value, dict) else None
    return value if isinstance(value, str) else None


def _matches(resource: dict[str, Any], filters: dict[str, Any]) -> bool:
    for key, f in filters.items():
        if not isinstance(f, dict) or not f.get("value"):
            continue                            # a filter without a value constrains nothing
        wanted, op = str(f["value"]), f.get("op") or "strict"
        actual = _value(resource, key)
        if actual is None:
            return False
        if op == "strict" and actual != wanted:
            return False
        if op == "contains" and wanted.casefold() not in actual.casefold():
            return False
        if op == "startWith" and not actual.casefold().startswith(wanted.casefold()):
            return False
    return True


def _sorted(items: list[dict[str, Any]], sorting: list[dict[str, Any]], default: str) -> list[dict[str, Any]]:
    items = sorted(items, key=lambda r: str(r.get(default) or ""))
    for crit in reversed(sorting or []):
        field = crit.get("field")
        if not field:
            continue
        present = [r for r in items if r.get(field) is not None]
        absent = [r for r in items if r.get(field) is None]
        present.sort(key=lambda r: str(r[field]), reverse=crit.get("order") == "descending")
        items = present + absent                # missing values last, whatever the order
    return items


def _fields(resource: dict[str, Any], fields: list[str], keep: tuple[str, ...]) -> dict[str, Any]:
    if not fields:
        return resource
    return {k: v for k, v in resource.items() if k in fields or k in keep}


def _narrowing(filters: dict[str, Any]) -> dict[str, str]:
    out = {}
    for key in ("siren", "siret"):
        f = filters.get(key)
        if isinstance(f, dict) and f.get("op", "strict") == "strict" and f.get("value"):
            out[key] = str(f["value"])
    return out


def _search(schema: dict[str, Any], default: str, build: Callable[[list[Line], list[str]], list[dict[str, Any]]],
            relations: tuple[str, ...] = (), *, required: bool = False) -> Response:
    """A search: ``required`` when the operation's request body is (the routing codes')."""
    params = common.json_body(schema, required=required)
    filters = params.get("filters") or {}
    include = list(dict.fromkeys(params.get("include") or []))
    limit = min(max(int(params.get("limit", DEFAULT_LIMIT)), 0), MAX_LIMIT)
    ignore = max(int(params.get("ignore", 0)), 0)
    with gateway().session() as s:
        found = build(lines(s, _narrowing(filters)), include)
    found = [r for r in found if _matches(r, filters)]
    found = _sorted(found, params.get("sorting") or [], default)
    page = [_fields(r, params.get("fields") or [], relations) for r in found[ignore:ignore + limit]]
    return jsonify({"search": params, "totalNumberOfResults": len(found), "results": page})


# --- resources with their relations ---------------------------------------------------------------

def _facilities(all_lines: list[Line], include: list[str]) -> list[dict[str, Any]]:
    units = legal_units(all_lines)
    out = []
    for siret, f in facilities(all_lines).items():
        if "siren" in include:
            f = {**f, "legalUnit": units[siret[:9]]}
        out.append(f)
    return out


def _routing_codes(all_lines: list[Line], include: list[str]) -> list[dict[str, Any]]:
    units, sites = legal_units(all_lines), facilities(all_lines)
    out = []
    for line in all_lines:
        if not (line.siret and line.routing_ok):
            continue
        r = routing_code(line)
        if "siren" in include:
            r["legalUnit"] = units[line.siren]
        if "siret" in include:
            r["facility"] = sites[line.siret]
        out.append(r)
    return out


def _routing_nested(line: Line) -> dict[str, Any]:
    return {"routingIdentifier": line.routing_code, "administrativeStatus": "A"}


def _directory_lines(all_lines: list[Line], include: list[str]) -> list[dict[str, Any]]:
    units, sites = legal_units(all_lines), facilities(all_lines)
    out = []
    for line in all_lines:
        d = directory_line(line)
        if "siren" in include:
            d["legalUnit"] = units[line.siren]
        if "siret" in include and line.siret:
            d["facility"] = sites[line.siret]
        if "routingCode" in include and line.routing_code and line.routing_ok:
            d["routingCode"] = _routing_nested(line)
        out.append(d)
    return out


# --- routes ----------------------------------------------------------------------------------------

@bp.post("/v1/siren/search")
@authenticated
def search_sirens() -> Response:
    return _search(spec.SEARCH_SIREN, "siren", lambda ls, inc: list(legal_units(ls).values()))


@bp.get("/v1/siren/code-insee:<siren>")
@authenticated
def get_siren(siren: str) -> Response:
    siren = _path(siren, 9, "siren")
    fields = _query_list("fields", spec.SIREN_FIELDS)
    with gateway().session() as s:
        unit = legal_units(lines(s, {"siren": siren})).get(siren)
    if unit is None:
        raise Refused(404, f"no company {siren} in the directory")
    return jsonify(_fields(unit, fields, ()))


@bp.post("/v1/siret/search")
@authenticated
def search_sirets() -> Response:
    return _search(spec.SEARCH_SIRET, "siret", _facilities, ("legalUnit",))


@bp.get("/v1/siret/code-insee:<siret>")
@authenticated
def get_siret(siret: str) -> Response:
    siret = _path(siret, 14, "siret")
    fields, include = _query_list("fields", spec.SIRET_FIELDS), _query_list("include", ("siren",))
    with gateway().session() as s:
        found = [f for f in _facilities(lines(s, {"siret": siret}), include) if f["siret"] == siret]
    if not found:
        raise Refused(404, f"no establishment {siret} in the directory")
    return jsonify(_fields(found[0], fields, ("legalUnit",)))


@bp.post("/v1/routing-code/search")
@authenticated
def search_routing_codes() -> Response:
    return _search(spec.SEARCH_ROUTING_CODE, "routingIdentifier", _routing_codes, ("legalUnit", "facility"),
                   required=True)


@bp.get("/v1/routing-code/siret:<siret>/code:<path:routing_identifier>")
@authenticated
def get_routing_code(siret: str, routing_identifier: str) -> Response:
    siret = _path(siret, 14, "siret")
    if not 0 < len(routing_identifier) <= 100:
        raise Refused(400, "a routing identifier is 1 to 100 characters", code="INVALID_REQUEST")
    include = _query_list("include", ("siren", "siret"))
    fields = _query_list("fields", spec.ROUTING_CODE_FIELDS)
    with gateway().session() as s:
        found = [r for r in _routing_codes(lines(s, {"siret": siret}), include)
                 if r["siret"] == siret and r["routingIdentifier"] == routing_identifier]
    if not found:
        raise Refused(404, f"no routing code {routing_identifier[:100]} for {siret} in the directory")
    return jsonify(_fields(found[0], fields, ("legalUnit", "facility")))


@bp.post("/v1/directory-line/search")
@authenticated
def search_directory_lines() -> Response:
    return _search(spec.SEARCH_DIRECTORY_LINE, "addressingIdentifier", _directory_lines,
                   ("legalUnit", "facility", "routingCode", "platformType", "directoryLineStatus"))


@bp.get("/v1/directory-line/code:<path:addressing_identifier>")
@authenticated
def get_directory_line(addressing_identifier: str) -> Response:
    if not 0 < len(addressing_identifier) <= 125:
        raise Refused(400, "an addressing identifier is 1 to 125 characters", code="INVALID_REQUEST")
    include = _query_list("include", ("siren", "siret", "routingCode"))
    fields = _query_list("fields", spec.DIRECTORY_LINE_FIELDS)
    with gateway().session() as s:
        found = [d for d in _directory_lines(lines(s, {"address": addressing_identifier}), include)
                 if d["addressingIdentifier"] == addressing_identifier]
    if not found:
        raise Refused(404, f"no directory line {addressing_identifier[:125]}")
    line = found[0]
    if line["directoryLineStatus"] == "Upcoming":       # this answer says only whether it is enabled now
        line["directoryLineStatus"] = "Disabled"
    return jsonify(_fields(line, fields, ("legalUnit", "facility", "routingCode", "platformType",
                                          "directoryLineStatus")))


@bp.get("/v1/healthcheck")
@authenticated
def health() -> Response:
    return Response(status=200)


common.catch_all(bp)
