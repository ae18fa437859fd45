"""What XP Z12-013 (AFNOR, version 1.3.0) says a request may hold, as data: the enumerations and
the JSON Schemas of the request bodies we accept, transcribed from its Annex A (Flow Service)
and Annex B (Directory Service) descriptions.

The official descriptions are not part of the code (they judge it: the schemathesis tests load
them from the shared corpus). Where the description leaves a number unbounded we bound it as
its declared format does (``int32``) and say so; nothing here accepts what the description
refuses, or refuses what it accepts, except where noted.
"""
from __future__ import annotations

from typing import Any

# --- Annex A: Flow Service ------------------------------------------------------------------------

PROCESSING_RULES = ("B2B", "B2BInt", "B2C", "B2G", "B2GInt", "OutOfScope", "B2GOutOfScope", "ArchiveOnly",
                    "NotApplicable", "Undefined")
FLOW_SYNTAXES = ("CII", "UBL", "Factur-X", "CDAR", "FRR")
FLOW_PROFILES = ("Basic", "CIUS", "Extended-CTC-FR", "Undefined")
FLOW_TYPES = ("CustomerInvoice", "SupplierInvoice", "CustomerInvoiceLC", "SupplierInvoiceLC", "StateCustomerInvoiceLC",
              "StateSupplierInvoiceLC", "AggregatedCustomerTransactionReport", "UnitaryCustomerTransactionReport",
              "AggregatedCustomerPaymentReport", "UnitaryCustomerPaymentReport", "UnitarySupplierTransactionReport",
              "MultiFlowReport", "StateCustomerInvoice", "StateSupplierInvoice", "StateTransactionReport",
              "StateTransactionReportLC", "StatePaymentReport", "StatePaymentReportLC", "Undefined")
FLOW_DIRECTIONS = ("In", "Out")
ACK_STATUSES = ("Pending", "Ok", "Error")
DOC_TYPES = ("Metadata", "Original", "Converted", "ReadableView")
MAX_ID = 64                      # NotOnlyUuid
DEFAULT_LIMIT, MAX_LIMIT = 25, 100

_NOT_ONLY_UUID = {"type": "string", "maxLength": MAX_ID}

FLOW_INFO: dict[str, Any] = {
    "type": "object", "required": ["flowSyntax", "name"],
    "properties": {
        "trackingId": _NOT_ONLY_UUID,
        "name": {"type": "string", "maxLength": 255},
        "processingRule": {"enum": list(PROCESSING_RULES)},
        "flowSyntax": {"enum": list(FLOW_SYNTAXES)},
        "flowProfile": {"enum": list(FLOW_PROFILES)},
        "sha256": {"type": "string", "pattern": "^[a-f0-9]{64}$"},
    },
}

SEARCH_FLOWS: dict[str, Any] = {
    "type": "object", "required": ["where"],
    "properties": {
        "limit": {"type": "integer", "maximum": MAX_LIMIT},
        "cursor": {"type": "string"},
        "where": {"type": "object", "properties": {
            "updatedAfter": {"type": "string"},          # date-time: read by our own parser
            "updatedBefore": {"type": "string"},
            "processingRule": {"type": "array", "items": {"enum": list(PROCESSING_RULES)}},
            "flowType": {"type": "array", "items": {"enum": list(FLOW_TYPES)}},
            "flowDirection": {"type": "array", "items": {"enum": list(FLOW_DIRECTIONS)}},
            "trackingId": _NOT_ONLY_UUID,
            "ackStatus": {"enum": list(ACK_STATUSES)},
        }},
    },
}

WEBHOOK: dict[str, Any] = {
    "type": "object", "required": ["callbackUrl"],
    "properties": {
        "callbackUrl": {"type": "string"},              # format uri: read by safe_http.url_problem
        "flowTypes": {"type": "array", "items": {"enum": list(FLOW_TYPES)}},
        "flowDirection": {"enum": list(FLOW_DIRECTIONS)},
        "ackStatus": {"enum": list(ACK_STATUSES)},
    },
}

# --- Annex B: Directory Service -------------------------------------------------------------------

INT32 = {"type": "integer", "minimum": -2 ** 31, "maximum": 2 ** 31 - 1}
SORTING_ORDERS = ("ascending", "descending")
SIREN_FIELDS = ("siren", "businessName", "entityType", "administrativeStatus", "instructions")
SIRET_FIELDS = ("siret", "siren", "name", "facilityType", "administrativeStatus", "siretInstructions", "address",
                "pmStatus", "pmOnly", "managesPaymentStatus", "managesLegalCommitment",
                "managesLegalCommitmentOrService", "serviceCodeStatus")
ROUTING_CODE_FIELDS = ("siret", "routingIdentifierType", "routingCodeName", "routingIdentifier",
                       "managesLegalCommitmentCode", "administrativeStatus", "address")
DIRECTORY_LINE_FIELDS = ("addressingIdentifier", "siren", "siret", "routingIdentifier", "addressingSuffix")
SIREN_PATTERN, SIRET_PATTERN = "^([0-9]{9})$", "^([0-9]{14})$"


def _filter(ops: tuple[str, ...], value: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "properties": {"op": {"enum": list(ops)}, "value": value}}


STRICT, CONTAINS_STRICT = ("strict",), ("contains", "strict")
CONTAINS_START, ANY_OP = ("contains", "startWith"), ("contains", "strict", "startWith")
STRICT_START = ("startWith", "strict")
_SIREN_FILTER = _filter(STRICT, {"type": "string", "maxLength": 9, "pattern": "[0-9]*"})
_SIRET_FILTER = _filter(STRICT, {"type": "string", "maxLength": 14, "pattern": "[0-9]*"})
_ADDRESS_LINES = _filter(CONTAINS_START, {"type": "string", "maxLength": 600})
_POSTAL_CODE = _filter(STRICT_START, {"type": "string", "maxLength": 5, "pattern": "[0-9]*"})
_LOCALITY = _filter(ANY_OP, {"type": "string", "maxLength": 100})
_ROUTING_ID = _filter(CONTAINS_STRICT, {"type": "string", "maxLength": 100, "pattern": "^$|^(?!\\s*$).+"})


def _search(filters: dict[str, Any], fields: tuple[str, ...], includes: tuple[str, ...] = ()) -> dict[str, Any]:
    props: dict[str, Any] = {
        "filters": {"type": "object", "properties": filters},
        "sorting": {"type": "array", "items": {"type": "object", "properties": {
            "field": {"enum": list(fields)}, "order": {"enum": list(SORTING_ORDERS)}}}},
        "fields": {"type": "array", "items": {"enum": list(fields)}},
        "limit": INT32, "ignore": INT32,
    }
    if includes:
        props["include"] = {"type": "array", "items": {"enum": list(includes)}}
    return {"type": "object", "properties": props}


SEARCH_SIREN = _search({
    "siren": _SIREN_FILTER,
    "businessName": _filter(ANY_OP, {"type": "string", "maxLength": 150}),
    "entityType": _filter(STRICT, {"enum": ["Public", "PrivateVatRegistered"], "maxLength": 20}),
    "administrativeStatus": _filter(STRICT, {"enum": ["A", "C"], "maxLength": 1}),
}, SIREN_FIELDS)
SEARCH_SIRET = _search({
    "siret": _SIRET_FILTER, "siren": _SIREN_FILTER,
    "facilityType": _filter(STRICT, {"enum": ["P", "S"], "maxLength": 1}),
    "name": _filter(ANY_OP, {"type": "string", "maxLength": 100}),
    "addressLines": _ADDRESS_LINES, "postalCode": _POSTAL_CODE,
    "countrySubdivision": _filter(STRICT, {"type": "string", "maxLength": 255}),
    "locality": _LOCALITY,
    "administrativeStatus": _filter(STRICT, {"enum": ["A", "C"], "maxLength": 1}),
}, SIRET_FIELDS, ("siren",))
SEARCH_ROUTING_CODE = _search({
    "routingIdentifier": _ROUTING_ID, "siret": _SIRET_FILTER,
    "routingCodeName": _filter(CONTAINS_STRICT, {"type": "string", "maxLength": 100, "pattern": "^$|^(?!\\s*$).+"}),
    "administrativeStatus": _filter(STRICT, {"enum": ["A", "C"], "maxLength": 1}),
    "addressLines": _ADDRESS_LINES, "postalCode": _POSTAL_CODE, "locality": _LOCALITY,
}, ROUTING_CODE_FIELDS, ("siren", "siret"))
SEARCH_DIRECTORY_LINE = _search({
    "addressingIdentifier": _filter(CONTAINS_STRICT, {"type": "string", "maxLength": 125}),
    "siren": _SIREN_FILTER, "siret": _SIRET_FILTER, "routingIdentifier": _ROUTING_ID,
    "addressingSuffix": _filter(CONTAINS_STRICT, {"type": "string", "maxLength": 100}),
}, DIRECTORY_LINE_FIELDS, ("siren", "siret", "routingCode"))
