"""The REST API's shapes, once: what each route reads (query strings, bodies) and what it answers.

These marshmallow schemas are the single description of the API. flask-smorest
(``gateway.web.api``) uses them to validate every request before a view runs, to
write every JSON answer, and to generate the OpenAPI document served at
``/api/v1/openapi.json``; the operator pages and the recipient portal read their
search forms with the same fields (``params``, ``gateway.web.portal.search``), so
an id, an offset, a limit, a date or an amount means the same everywhere.

Conventions the fields carry: datetimes are ISO 8601 in UTC with ``Z``; dates are
``YYYY-MM-DD``; amounts are decimal strings (no client reads one through a float);
ids are ``1..2^63-1`` (``bounds``). Query values are strict (``limit=`` is refused,
not read as absent); text filters treat an empty value as no filter.
"""
from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any, Callable, Iterable, Mapping, Optional

from marshmallow import EXCLUDE, RAISE, Schema, ValidationError, fields, post_load, validate
from marshmallow.utils import missing

from gateway.partners import checks as checks
from ... import channels
from ...db import BUSINESS_STATUSES, DIRECTIONS, DOCUMENT_STATUSES, normalise_identifier
from ...db.documents import DELIVERY_STATUSES
from ...db.exchanges import STATUSES as EXCHANGE_STATUSES
from ...db.partners import MDN_MODES, MICALG_SPELLINGS, STATUS_SYNTAXES, TRANSFER_ENCODINGS
from ...rules.profiles import profile_names
from ...syntaxes import writable
from gateway.flow.lifecycle import MAX_REASON, MAX_REASON_CODE, RECIPIENT_STATUSES
from .. import bounds
from .serialise import EXPIRY_WARNING, iso
from .finding_words import Findings
from gateway.channels.http_deposit_parts import deposit_view

DEFAULT_LIMIT, MAX_LIMIT = 50, 500
ERP_DEFAULT_LIMIT, ERP_MAX_LIMIT = 20, 100
MAX_ACK_IDS = 1000
MAX_TEXT = 200


def writable_formats() -> tuple[str, ...]:
    return writable()


# --- fields --------------------------------------------------------------------------------

_DIGITS = re.compile(r"-?[0-9]+")


class BoundedInt(fields.Integer):
    """A whole number within ``[minimum, maximum]``: a JSON integer (never a boolean, ``1.5`` or
    ``"1"``), or with ``text`` (query strings, forms) ASCII digits only (no ``+``, blanks, ``_``
    or other scripts' digits)."""

    def __init__(self, minimum: int, maximum: int, *, text: bool = True, **kwargs: Any) -> None:
        self.minimum, self.maximum, self.text = minimum, maximum, text
        super().__init__(strict=True, validate=validate.Range(minimum, maximum, error=f"out of range: give {minimum} to {maximum}"),
                         error_messages={"invalid": "not a whole number"}, **kwargs)

    def _deserialize(self, value: Any, attr: Optional[str], data: Any, **kwargs: Any) -> int:
        if isinstance(value, str):
            if not self.text or not _DIGITS.fullmatch(value):
                raise self.make_error("invalid")
            value = int(value)
        elif isinstance(value, float) and value.is_integer() and abs(value) < 2 ** 63:
            value = int(value)             # JSON's 7.0 is the integer 7 (JSON Schema says so too)
        return super()._deserialize(value, attr, data, **kwargs)


def Id(**kwargs: Any) -> BoundedInt:
    """A record id: ``1..2^63-1``."""
    return BoundedInt(1, bounds.MAX_ID, **kwargs)


def Offset(**kwargs: Any) -> BoundedInt:
    return BoundedInt(0, bounds.MAX_OFFSET, load_default=0,
                      metadata={"description": "How many items to skip"}, **kwargs)


def Limit(default: int, maximum: int, **kwargs: Any) -> BoundedInt:
    return BoundedInt(1, maximum, load_default=default, metadata={"description": "Items per page"}, **kwargs)


class Text(fields.String):
    """A string, stripped; empty means absent (a filter not given)."""

    def __init__(self, max_length: int = MAX_TEXT, **kwargs: Any) -> None:
        self.max_length = max_length
        metadata = {"maxLength": max_length, **kwargs.pop("metadata", {})}
        super().__init__(error_messages={"invalid": "expected a string"}, metadata=metadata, **kwargs)

    def _deserialize(self, value: Any, attr: Optional[str], data: Any, **kwargs: Any) -> Optional[str]:
        text = super()._deserialize(value, attr, data, **kwargs)
        if len(text) > self.max_length:
            raise ValidationError(f"at most {self.max_length} characters")
        return text.strip() or None


def Choice(choices: Iterable[str], **kwargs: Any) -> fields.String:
    choices = tuple(choices)
    return fields.String(validate=validate.OneOf(choices, error="{input!r} is not one of: " + ", ".join(choices)),
                         error_messages={"invalid": "expected a string"}, **kwargs)


class Day(fields.Date):
    """``YYYY-MM-DD``, nothing else (Python alone would also take ``20250105`` or ``2025-W01-1``)."""

    _SHAPE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(format="iso", **kwargs)

    def _deserialize(self, value: Any, attr: Optional[str], data: Any, **kwargs: Any) -> date:
        if isinstance(value, str) and self._SHAPE.fullmatch(value):
            try:
                return date.fromisoformat(value)
            except ValueError:
                pass
        raise ValidationError(f"{value!r} is not a date (YYYY-MM-DD)")


_MOMENT = re.compile(r"([0-9]{4}-[0-9]{2}-[0-9]{2})[Tt ]([0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]+)?)?)"
                     r"([Zz]|[+-][0-9]{2}:[0-9]{2})?")
_UTC_MIN = datetime.min.replace(tzinfo=timezone.utc)
_UTC_MAX = datetime.max.replace(tzinfo=timezone.utc)


def _to_utc(moment: datetime) -> datetime:
    """``moment`` in UTC; the ends of the calendar stay at its ends instead of overflowing."""
    try:
        return moment.astimezone(timezone.utc)
    except OverflowError:
        return _UTC_MIN if moment.year == 1 else _UTC_MAX


class Moment(fields.Field):
    """A date (``2025-01-07``) or an RFC 3339 / ISO 8601 date-time (``2025-01-07T09:00:00Z``; no zone:
    UTC), as an aware UTC datetime. With ``end_of_day``, a bare date means the end of that day."""

    def __init__(self, *, end_of_day: bool = False, **kwargs: Any) -> None:
        self.end_of_day = end_of_day
        kwargs.setdefault("metadata", {})
        kwargs["metadata"].setdefault("anyOf", [{"type": "string", "format": "date"},
                                                {"type": "string", "format": "date-time"}])
        super().__init__(**kwargs)

    def _deserialize(self, value: Any, attr: Optional[str], data: Any, **kwargs: Any) -> datetime:
        problem = ValidationError(f"{value!r} is not an ISO 8601 date or date-time")
        if not isinstance(value, str):
            raise problem
        try:
            if Day._SHAPE.fullmatch(value):
                day = date.fromisoformat(value)
                start = datetime.combine(day, time(), tzinfo=timezone.utc)
                if self.end_of_day:
                    return start + timedelta(days=1) if day < date.max else _UTC_MAX
                return start
            m = _MOMENT.fullmatch(value)
            if not m:
                raise problem
            day, clock, zone = m.groups()
            if clock.count(":") == 2 and clock[6:8] == "60":           # a leap second: the last instant of its minute
                clock = clock[:6] + "59.999999"
            if "." in clock:
                whole, fraction = clock.split(".")
                clock = f"{whole}.{fraction[:6]:0<6}"
            zone = "+00:00" if zone in (None, "Z", "z") else zone
            return _to_utc(datetime.fromisoformat(f"{day}T{clock}{zone}"))
        except ValueError:
            raise problem from None


class StrictBoolean(fields.Boolean):
    """true or false: a JSON boolean, or in a query string ``true``/``false`` (also ``1``/``0``,
    ``yes``/``no``, as the pages' forms send)."""

    truthy = {True, "true", "1", "yes"}
    falsy = {False, "false", "0", "no"}

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(error_messages={"invalid": "{input!r} is not true or false"}, **kwargs)

    def _deserialize(self, value: Any, attr: Optional[str], data: Any, **kwargs: Any) -> bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in self.truthy | self.falsy:
            return value.lower() in self.truthy
        raise self.make_error("invalid", input=value)


class Amount(fields.Field):
    """A search amount (``1250.00``, ``1 250,00``): finite, below 10^15, at most 6 decimals."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("metadata", {"type": "string", "pattern": r"^-?[0-9 ]{1,15}([.,][0-9]{1,6})?$"})
        super().__init__(**kwargs)

    def _deserialize(self, value: Any, attr: Optional[str], data: Any, **kwargs: Any) -> Decimal:
        amount = bounds.amount(value) if isinstance(value, str) else None
        if amount is None:
            raise ValidationError(f"{value!r} is not an amount (e.g. 1250.00)")
        return amount


class UtcDateTime(fields.DateTime):
    """Written as ISO 8601 in UTC with ``Z``."""

    def _serialize(self, value: Any, attr: Optional[str], obj: Any, **kwargs: Any) -> Optional[str]:
        return None if value is None else iso(value)


class DecimalString(fields.Decimal):
    """An amount written as a decimal string (``"1250.0000"``), never a float."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(as_string=True, **kwargs)

    def _serialize(self, value: Any, attr: Optional[str], obj: Any, **kwargs: Any) -> Optional[str]:
        return None if value is None else str(value)


class ObjectOrEmpty(fields.Dict):
    """A JSON object; a missing one (NULL in the database) is written ``{}``."""

    def _serialize(self, value: Any, attr: Optional[str], obj: Any, **kwargs: Any) -> Any:
        return super()._serialize(value or {}, attr, obj, **kwargs)


class SortedById(fields.List):
    """A relationship written in id order."""

    def _serialize(self, value: Any, attr: Optional[str], obj: Any, **kwargs: Any) -> Any:
        return super()._serialize(sorted(value or [], key=lambda r: r.id), attr, obj, **kwargs)


class Whole(fields.Nested):
    """A nested object written from the same record (``as2`` from a partner's ``as2_*`` columns),
    or from one of its attributes (``source``) that other fields are written from too."""

    def __init__(self, nested: Any, *, source: Optional[str] = None, **kwargs: Any) -> None:
        self.source = source
        super().__init__(nested, **kwargs)

    def get_value(self, obj: Any, attr: str, accessor: Any = None, default: Any = missing) -> Any:
        return obj if self.source is None else getattr(obj, self.source)


def Str(**kwargs: Any) -> fields.String:
    return fields.String(**kwargs)


def Null(field: type[fields.Field] = fields.String, **kwargs: Any) -> fields.Field:
    """A field that may be null."""
    return field(allow_none=True, **kwargs)


def Computed(func: Callable[[Any], Any], json_type: Any, **metadata: Any) -> fields.Function:
    """A value the record computes (``retryable``), with its JSON type for the description."""
    return fields.Function(func, metadata={"type": json_type, **metadata})


# --- errors --------------------------------------------------------------------------------

class Error(Schema):
    """Every error the API answers: 400 unusable query or body, 401 no valid token, 403 role,
    404 no such record (or URL), 405 method, 409 conflict with the current state, 413 too large,
    422 well-formed but invalid values, 500 the gateway's fault (logged)."""

    error = fields.String(required=True, metadata={"description": "What went wrong, for a person"})
    details = fields.Dict(required=True, allow_none=True,
                          metadata={"description": "Per-field messages (`as2.url`, `identifiers[0]`, a query "
                                                   "parameter's name), or facts about a conflict; null when "
                                                   "there is nothing more to say"})


def flatten(messages: Any, prefix: str = "") -> dict[str, str]:
    """marshmallow's nested error messages as ``{"as2.url": "…", "ids[3]": "…"}``: one string per
    field, named the way a client names it."""
    out: dict[str, str] = {}
    if isinstance(messages, Mapping):
        for key, value in messages.items():
            if key == "_schema":
                name = prefix or "body"
            elif isinstance(key, int):
                name = f"{prefix}[{key}]"
            else:
                name = f"{prefix}.{key}" if prefix else str(key)
            for k, v in flatten(value, name).items():
                out[k] = f"{out[k]}; {v}" if k in out else v
    elif isinstance(messages, (list, tuple)) and all(isinstance(m, str) for m in messages):
        out[prefix or "body"] = "; ".join(messages)
    elif isinstance(messages, (list, tuple)):
        for item in messages:
            out.update(flatten(item, prefix))
    else:
        out[prefix or "body"] = str(messages)
    return out


# --- query strings -------------------------------------------------------------------------

class Query(Schema):
    """Query parameters: unknown ones are ignored (a client may add its own)."""

    class Meta:
        unknown = EXCLUDE


class PageArgs(Query):
    limit = Limit(DEFAULT_LIMIT, MAX_LIMIT)
    offset = Offset()


class ExchangeArgs(PageArgs):
    partner = Id(metadata={"description": "Partner id"})
    status = Choice(EXCHANGE_STATUSES)
    direction = Choice(DIRECTIONS)
    channel = Choice(channels.names())
    message_id = Text(998)
    since = Moment(metadata={"description": "Created at or after (a date, or a date-time; UTC when no zone)"})
    until = Moment(end_of_day=True, metadata={"description": "Created before; a bare date includes that whole day"})


class DocumentArgs(PageArgs):
    number = Text(metadata={"description": "Invoice number (BT-1), exactly"})
    partner = Id(metadata={"description": "Sent by or addressed to this partner"})
    status = Choice(DOCUMENT_STATUSES)
    issued_from = Day(metadata={"description": "Issue date (BT-2) from, inclusive"})
    issued_to = Day(metadata={"description": "Issue date (BT-2) to, inclusive"})
    since = Moment(metadata={"description": "Created at or after (a date, or a date-time; UTC when no zone)"})
    until = Moment(end_of_day=True, metadata={"description": "Created before; a bare date includes that whole day"})
    valid = StrictBoolean()


class UploadArgs(Query):
    partner = Id(metadata={"description": "The sending partner's id"})
    filename = Text(500, metadata={"description": "The file's name (only its last part is kept)"})


class UploadHeaders(Query):
    idempotency_key = fields.String(
        data_key="Idempotency-Key",
        validate=[validate.Length(1, 200), validate.Regexp(r"^[!-~](?:[ -~]*[!-~])?$", error="1 to 200 visible "
                                                           "ASCII characters (blanks inside only)")],
        metadata={"description": "The same key again answers 200 with the first exchange"})


class ErpArgs(Query):
    partner = Id(metadata={"description": "The partner whose invoices these are. A recipient login's token acts for "
                                          "its own partner (this may be left out, or must be that partner: else "
                                          "403). An admin's or operator's token must name it (else 400)."})


class ErpListArgs(ErpArgs):
    cursor = fields.String(validate=validate.Length(max=1000),
                           metadata={"description": "next_cursor of the previous page, unchanged"})
    limit = Limit(ERP_DEFAULT_LIMIT, ERP_MAX_LIMIT)


class ErpContentArgs(ErpArgs):
    format = fields.String(
        validate=validate.OneOf(("json", "original", "csv", *writable_formats()),
                                error="{input!r} is not one of: {choices}"),
        metadata={"description": "json, original, csv (the recipient's CSV dialect, else csv-lines), or any syntax "
                                 "the gateway writes; default: the recipient's own format"})


# --- bodies --------------------------------------------------------------------------------

class Body(Schema):
    """A JSON object: unknown fields are refused, each named."""

    error_messages = {"unknown": "unknown field", "type": "expected a JSON object"}

    class Meta:
        unknown = RAISE


class _Checked(fields.String):
    """A string (or null) put through one of ``gateway.partners.checks``'s checks, as the CLI does."""

    def __init__(self, check: Callable[[str], str], max_length: int = 128, **kwargs: Any) -> None:
        self.check = check
        super().__init__(allow_none=True,
                         error_messages={"invalid": f"expected a string of at most {max_length} characters, or null"},
                         **kwargs)

    def _deserialize(self, value: Any, attr: Optional[str], data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        try:
            return self.check(text)
        except ValueError as e:
            raise ValidationError(str(e)) from None


class EmailAddress(fields.String):
    def _deserialize(self, value: Any, attr: Optional[str], data: Any, **kwargs: Any) -> str:
        try:
            return channels.email_address(value)
        except ValueError as e:
            raise ValidationError(str(e)) from None


class StrictBool(fields.Boolean):
    """true or false, and only those (not ``"yes"``, not 1)."""

    def _deserialize(self, value: Any, attr: Optional[str], data: Any, **kwargs: Any) -> bool:
        if not isinstance(value, bool):
            raise ValidationError("expected true or false")
        return value


class AS2Input(Body):
    id = _Checked(checks.as2_name, data_key="id", attribute="as2_id", metadata={
        "description": "Its AS2 name (AS2-From / AS2-To): printable ASCII, no quotes, backslashes or blanks at "
                       "either end", "pattern": r"^[!#-\[\]-~](?:[ !#-\[\]-~]{0,126}[!#-\[\]-~])?$"})
    url = _Checked(checks.as2_url, 1000, attribute="as2_url", metadata={
        "description": "Where it receives AS2 messages", "maxLength": 1000,
        "pattern": r"^https?://[A-Za-z0-9](?:[A-Za-z0-9.-]{0,250}[A-Za-z0-9])?(?::[0-9]{1,5})?(?:/[!-~]*)?$"})
    identity_id = Id(text=False, allow_none=True, attribute="as2_identity_id",
                     metadata={"description": "Which of our AS2 identities talks to it"})
    signing_algorithm = _Checked(checks.signing_algorithm, attribute="as2_signing_algorithm", metadata={
        "enum": [*checks.STRONG_SIGNING, None], "description": "Also written SHA-256 and the like; SHA-1 and MD5 "
                                                               "are refused"})
    encryption_algorithm = _Checked(checks.encryption_algorithm, attribute="as2_encryption_algorithm", metadata={
        "enum": [*checks.ENCRYPTION_ALGORITHMS, None], "description": "Also written AES-256-CBC and the like; "
                                                                      "3DES, DES, RC2, RC4 are refused"})
    compress = StrictBool(attribute="as2_compress")
    mdn_mode = Choice(MDN_MODES, attribute="as2_mdn_mode")
    mdn_signed = StrictBool(attribute="as2_mdn_signed")
    require_signed = StrictBool(attribute="as2_require_signed")
    require_encrypted = StrictBool(attribute="as2_require_encrypted")
    micalg_spelling = Choice(MICALG_SPELLINGS, attribute="as2_micalg_spelling")
    compress_before_signing = StrictBool(attribute="as2_compress_before_signing")
    content_transfer_encoding = Choice(TRANSFER_ENCODINGS, attribute="as2_content_transfer_encoding")
    options = fields.Dict(attribute="as2_options", metadata={"description": "Interop switches (as the CLI's)"})


class IdentifierInput(Body):
    scheme = fields.String(required=True, metadata={"description": "ISO 6523 ICD / EAS code or its label, e.g. "
                                                                   "0009 or SIRET"})
    value = fields.String(required=True)
    label = fields.String(metadata={"description": "Ignored (answers carry it)"})


class IdentifierItem(fields.Nested):
    """One identifier, checked and normalised like the CLI's (``SIRET`` → ``0009``, blanks
    removed); every problem of item n is named ``identifiers[n]``."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(IdentifierInput, **kwargs)

    def _deserialize(self, value: Any, attr: Optional[str], data: Any, **kwargs: Any) -> tuple[str, str]:
        try:
            item = super()._deserialize(value, attr, data, **kwargs)
        except ValidationError:
            raise ValidationError('expected {"scheme": "0009", "value": "…"}') from None
        try:
            scheme, value_ = normalise_identifier(item["scheme"], item["value"])
        except ValueError as e:
            raise ValidationError(str(e)) from None
        if len(scheme) > 16 or len(value_) > 256:
            raise ValidationError("scheme at most 16 characters, value at most 256")
        return scheme, value_


def channel_settings_schemas() -> dict[str, dict[str, Any]]:
    """Each channel's settings as a JSON Schema, by channel name, for the description: the
    partner schema takes them from the channel registry (``gateway.delivery.channel``: each
    channel module in ``gateway/channels/`` describes its own settings); the channel checks them
    when a partner is created or changed."""
    return {channel.name: channel.settings_schema() for channel in channels.registry}


class ChannelSettings(fields.Dict):
    """``{channel: settings or null}``, each channel's settings checked by its channel (``gateway.channels``)."""

    def __init__(self, **kwargs: Any) -> None:
        metadata: dict[str, Any] = {
            "description": "Settings per channel (each channel's module in gateway/channels/); each channel "
                           "given replaces that channel's settings, null removes them. "
                           + "; ".join(f"{c.name}: {', '.join(c.settings_keys)}" for c in channels.registry
                                       if c.settings_keys)
                           + ". Refusals name the setting (`channel_settings.email.to[0]`)",
            "additionalProperties": {"type": ["object", "null"]}}
        described = channel_settings_schemas()
        if described:
            metadata["properties"] = {name: {"oneOf": [schema, {"type": "null"}]} for name, schema in described.items()}
        super().__init__(keys=fields.String(), values=fields.Raw(allow_none=True), metadata=metadata, **kwargs)

    def _deserialize(self, value: Any, attr: Optional[str], data: Any, **kwargs: Any) -> dict[str, Any]:
        given = super()._deserialize(value, attr, data, **kwargs)
        changes: dict[str, Any] = {}
        problems: dict[str, str] = {}
        for channel, settings in given.items():
            if channel not in channels.names():
                problems[channel] = f"not a channel; expected one of {', '.join(channels.names())}"
                continue
            try:
                changes[channel] = None if settings is None else channels.validate_channel_settings(channel, settings)
            except channels.ChannelSettingsError as e:
                problems[e.setting] = e.problem
        if problems:
            raise ValidationError(problems)
        return changes


class PartnerInput(Body):
    """A partner as created or changed; ``identifiers``, when given, is its whole list."""

    name = fields.String(validate=validate.Length(min=1, max=200, error="expected a non-empty string of at most "
                                                                        "200 characters"))
    active = StrictBool()
    preferred_format = Choice(writable_formats(), allow_none=True,
                              metadata={"description": "The syntax it receives (ubl, cii, facturx, edifact-d96a, …)"})
    preferred_channel = Choice(channels.names(), allow_none=True)
    validation_profile = Choice(profile_names(), allow_none=True, metadata={
        "description": "The rules its invoices are checked with (en16931, peppol, …); null: en16931"})
    status_syntax = Choice(STATUS_SYNTAXES, allow_none=True, metadata={
        "description": "How it is told of its invoices' statuses: aperak, cdar (the French CDAR messages), "
                       "invoice-response (Peppol BIS 3 Invoice Response) or none (the API only); null: APERAK to "
                       "an EDIFACT sender"})
    french_reform = StrictBool(metadata={
        "description": "Subject to the French e-invoicing reform: the invoices it sends or receives are checked "
                       "with the French rules (BR-FR) and refused, naming the rule, when they fail"})
    contact_email = EmailAddress(allow_none=True, metadata={
        "description": "Where to write to it about its invoices (also the e-mail fallback)", "maxLength": 254,
        "pattern": channels.EMAIL_PATTERN.pattern})
    identifiers = fields.List(IdentifierItem())
    as2 = fields.Nested(AS2Input)
    channel_settings = ChannelSettings()

    @post_load
    def _columns(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        if "name" in data:
            data["name"] = data["name"].strip()
            if not data["name"]:
                raise ValidationError("expected a non-empty string of at most 200 characters", "name")
        identifiers = data.get("identifiers")
        if identifiers is not None:
            seen: set[tuple[str, str]] = set()
            for n, pair in enumerate(identifiers):
                if pair in seen:
                    raise ValidationError({f"identifiers[{n}]": [f"{pair[0]}:{pair[1]} is listed twice"]})
                seen.add(pair)
        data.update(data.pop("as2", None) or {})
        return data


class PartnerCreate(PartnerInput):
    name = fields.String(required=True, validate=PartnerInput._declared_fields["name"].validate)


class StatusInput(Body):
    status = fields.String(
        required=True, error_messages={"invalid": "expected a string"},
        validate=validate.OneOf(BUSINESS_STATUSES, error="a recipient sets one of: " + ", ".join(RECIPIENT_STATUSES)
                                + " (an admin or operator also deposited, received)"),
        metadata={"description": "A recipient sets accepted, refused, disputed, payment_sent or paid"})
    reason = fields.String(allow_none=True, validate=validate.Length(max=MAX_REASON),
                           error_messages={"invalid": "expected a string"},
                           metadata={"description": "Required to refuse; told to the sender"})
    reason_code = fields.String(allow_none=True, validate=validate.Length(max=MAX_REASON_CODE),
                                error_messages={"invalid": "expected a string"})


class ErpAckInput(Body):
    ids = fields.List(Id(text=False), required=True, validate=validate.Length(1, MAX_ACK_IDS,
                                                                    error=f"acknowledge 1 to {MAX_ACK_IDS} ids at a time"),
                      metadata={"description": "Invoice ids (the items' id)"})


# --- answers: partners ---------------------------------------------------------------------

class Identifier(Schema):
    scheme = Str(metadata={"description": "ISO 6523 ICD / EAS code, e.g. 0009"})
    label = Null(metadata={"description": "What the scheme is called (SIRET, GLN, VAT (FR)…)"})
    value = Str()


class AS2Settings(Schema):
    id = Null(attribute="as2_id")
    url = Null(attribute="as2_url")
    identity_id = Null(fields.Integer, attribute="as2_identity_id")
    signing_algorithm = Null(attribute="as2_signing_algorithm")
    encryption_algorithm = Null(attribute="as2_encryption_algorithm")
    compress = fields.Boolean(attribute="as2_compress")
    mdn_mode = Str(attribute="as2_mdn_mode")
    mdn_signed = fields.Boolean(attribute="as2_mdn_signed")
    require_signed = fields.Boolean(attribute="as2_require_signed")
    require_encrypted = fields.Boolean(attribute="as2_require_encrypted")
    micalg_spelling = Str(attribute="as2_micalg_spelling")
    compress_before_signing = fields.Boolean(attribute="as2_compress_before_signing")
    content_transfer_encoding = Str(attribute="as2_content_transfer_encoding")
    options = ObjectOrEmpty(attribute="as2_options")


def _now() -> datetime:
    return datetime.now(timezone.utc)


class CertificateOut(Schema):
    class Meta:
        ordered = True

    id = fields.Integer()
    usage = Str()
    subject = Str()
    issuer = Str()
    serial = Str()
    fingerprint_sha256 = Str()
    not_before = UtcDateTime()
    not_after = UtcDateTime()
    active = fields.Boolean()
    valid_now = Computed(lambda c: c.valid_at(_now()), "boolean")
    expires_soon = Computed(lambda c: bool(c.active and c.not_after <= _now() + EXPIRY_WARNING), "boolean",
                            description="Active and ends within 30 days (or has ended)")


class Partner(Schema):
    id = fields.Integer()
    name = Str()
    active = fields.Boolean()
    preferred_format = Null()
    preferred_channel = Null()
    validation_profile = Null(metadata={"description": "The rules its invoices are checked with; null: en16931"})
    status_syntax = Null(metadata={"description": "How it is told of its invoices' statuses (aperak, cdar, invoice-response, none); "
                                                  "null: APERAK to an EDIFACT sender"})
    french_reform = fields.Boolean(metadata={"description": "Subject to the French e-invoicing reform (BR-FR on "
                                                            "what it sends and receives)"})
    identifiers = fields.List(fields.Nested(Identifier))
    as2 = Whole(AS2Settings)
    contact_email = Null()
    channel_settings = ObjectOrEmpty(metadata={"description": "{channel: settings}, as given (normalised)"})
    created_at = UtcDateTime()
    updated_at = UtcDateTime()


class PartnerDetail(Partner):
    certificates = SortedById(fields.Nested(CertificateOut))


# --- answers: exchanges, documents, deliveries -----------------------------------------------

class HistoryEntry(Schema):
    status = Str()
    at = UtcDateTime()
    reason = Null()


class Ref(Schema):
    id = fields.Integer()
    name = Str()


class Mdn(Schema):
    mode = Null(attribute="mdn_mode")
    message_id = Null(attribute="mdn_message_id")
    payload_key = Null(attribute="mdn_payload_key")
    disposition = Null(attribute="mdn_disposition")
    at = Null(UtcDateTime, attribute="mdn_at")
    due_at = Null(UtcDateTime, attribute="mdn_due_at")
    url = Null(attribute="mdn_url")


class Exchange(Schema):
    id = fields.Integer()
    direction = Str(metadata={"enum": list(DIRECTIONS)})
    channel = Str()
    partner = fields.Nested(Ref, allow_none=True)
    organisation_id = Null(fields.Integer)
    as2_from = Null()
    as2_to = Null()
    message_id = Null()
    filename = Null()
    content_type = Null()
    payload_key = Null()
    payload_size = Null(fields.Integer)
    content_sha256 = Null()
    content_size = Null(fields.Integer)
    mdn = Whole(Mdn)
    mic = Null()
    mic_algorithm = Null()
    status = Str()
    status_at = UtcDateTime()
    reason = Null()
    attempts = fields.Integer()
    next_attempt_at = Null(UtcDateTime)
    retryable = Computed(lambda ex: ex.retryable, "boolean", description="What a retry would accept now")
    created_at = UtcDateTime()
    updated_at = UtcDateTime()


class ExchangeDetail(Exchange):
    history = fields.List(fields.Nested(HistoryEntry))
    documents = fields.Pluck(Ref, "id", many=True, metadata={"description": "Ids of the documents read from it"})


class StatusEvent(Schema):
    """One step of an invoice's life cycle, and how its sender was told."""

    id = fields.Integer()
    status = Str()
    at = UtcDateTime()
    reason = Null()
    reason_code = Null()
    set_by = Null(metadata={"description": "gateway, portal:<user>, api:<user>"})
    reported_at = Null(UtcDateTime, metadata={"description": "When the sender was told (null: not yet)"})
    report_exchange_id = Null(fields.Integer, metadata={"description": "The outbound exchange that carried the APERAK"})


class Rendering(Schema):
    id = fields.Integer()
    syntax = Str()
    mapping = Str()
    size = fields.Integer()
    media_type = Str()
    dropped = fields.List(fields.Dict(), metadata={"description": "Business terms this syntax could not carry"})
    created_at = UtcDateTime()


class Delivery(Schema):
    id = fields.Integer()
    recipient = fields.Nested(Ref)
    format = Str()
    channel = Str()
    rendering_id = Null(fields.Integer)
    exchange_id = Null(fields.Integer)
    network_id = Null(fields.Integer)
    print_batch_id = Null(fields.Integer)
    status = Str(metadata={"enum": list(DELIVERY_STATUSES)})
    status_at = UtcDateTime()
    reason = Null()
    attempts = fields.Integer()
    next_attempt_at = Null(UtcDateTime)
    history = fields.List(fields.Nested(HistoryEntry))
    deposit = fields.Function(lambda d: deposit_view(d.exchange), metadata={
        "type": ["object", "null"], "properties": {
            "id": {"type": ["string", "null"], "description": "The platform's deposit id"},
            "status": {"type": ["string", "null"], "description": "The platform's last status (held, uncertain, "
                                                                  "deposited, or the platform's own word)"},
            "error": {"type": ["string", "null"], "description": "The platform's own error text"},
            "reference": {"type": ["string", "null"], "description": "Our reference of the deposit"}},
        "description": "A deposit on the recipient's platform (Chorus Pro, a buyer's portal); null otherwise"})


_SUMMARY_TEXT = ("number", "type_code", "currency", "seller_name", "seller_vat_id", "seller_id_scheme", "seller_id",
                 "seller_endpoint_scheme", "seller_endpoint_id", "buyer_name", "buyer_vat_id", "buyer_id_scheme",
                 "buyer_id", "buyer_endpoint_scheme", "buyer_endpoint_id")
_AMOUNTS = ("total_without_vat", "total_vat", "total_with_vat", "amount_due")

Document = Schema.from_dict({
    "id": fields.Integer(), "exchange_id": fields.Integer(), "position": fields.Integer(), "syntax": Str(),
    "mapping": Null(),
    **{name: Null() for name in _SUMMARY_TEXT},
    "issue_date": Null(fields.Date), "due_date": Null(fields.Date),
    **{name: Null(DecimalString, metadata={"description": "Decimal as a string"}) for name in _AMOUNTS},
    "line_count": Null(fields.Integer),
    "sender_partner_id": Null(fields.Integer), "recipient_partner_id": Null(fields.Integer),
    "valid": fields.Boolean(), "fatal_count": fields.Integer(), "warning_count": fields.Integer(),
    "validation_profile": Str(metadata={"description": "The profile it was checked with (en16931, peppol, …)"}),
    "duplicate_of_id": Null(fields.Integer), "status": Str(metadata={"enum": list(DOCUMENT_STATUSES)}),
    "business_status": Null(metadata={"enum": [*BUSINESS_STATUSES, None]}),
    "business_status_at": Null(UtcDateTime),
    "created_at": UtcDateTime(), "updated_at": UtcDateTime(),
}, name="Document")

Finding = {"type": "object", "properties": {
    "rule": {"type": "string"}, "severity": {"type": "string"}, "terms": {"type": "array", "items": {"type": "string"}},
    "message": {"type": "string"}, "path": {"type": ["string", "null"]}, "location": {"type": ["string", "null"]},
    "line": {"type": ["integer", "null"]},
    "rule_set": {"type": "string", "description": "The rule set of a business rule (en16931, peppol, …)"}}}


class DocumentDetail(Document):  # type: ignore[valid-type, misc]
    status_events = fields.List(fields.Nested(StatusEvent))
    findings = Findings(fields.Dict(metadata=Finding),
                        metadata={"description": "What the checks found: rule, business terms, where (a control's "
                                                 "finding said in the caller's language)"})
    renderings = fields.List(fields.Nested(Rendering))
    deliveries = fields.List(fields.Nested(Delivery))


class DocumentStatus(Schema):
    document_id = fields.Integer()
    number = Null()
    business_status = Null(metadata={"enum": [*BUSINESS_STATUSES, None]})
    business_status_at = Null(UtcDateTime)
    may_become = fields.List(Str(), metadata={"description": "What the caller may set now"})
    events = fields.List(fields.Nested(StatusEvent))


class Upload(Schema):
    exchange = fields.Integer(metadata={"description": "The exchange it became"})
    status = Str()
    duplicate = fields.Boolean(metadata={"description": "Seen before (same Idempotency-Key)"})
    location = Str()


def _page(name: str, item: type[Schema]) -> type[Schema]:
    return Schema.from_dict({
        "items": fields.List(fields.Nested(item), required=True),
        "total": fields.Integer(required=True, metadata={"description": "How many match, over every page"}),
        "limit": fields.Integer(required=True), "offset": fields.Integer(required=True),
    }, name=name)


PartnerPage = _page("PartnerPage", Partner)
ExchangePage = _page("ExchangePage", Exchange)
DocumentPage = _page("DocumentPage", Document)


# --- answers: ERP pull ---------------------------------------------------------------------

class ErpIdentifier(Schema):
    scheme = Null()
    value = Str()


def _identifier(scheme: Optional[str], value: Optional[str]) -> Optional[dict[str, Any]]:
    return {"scheme": scheme, "value": value} if value else None


class ErpSender(Schema):
    partner_id = Null(fields.Integer, attribute="sender_partner_id")
    partner_name = Computed(lambda d: d.sender.name if d.sender is not None else None, ["string", "null"])
    name = Null(attribute="seller_name")
    vat_id = Null(attribute="seller_vat_id")
    id = fields.Function(lambda d: _identifier(d.seller_id_scheme, d.seller_id),
                         metadata={"anyOf": [{"$ref": "#/components/schemas/ErpIdentifier"}, {"type": "null"}]})
    endpoint = fields.Function(lambda d: _identifier(d.seller_endpoint_scheme, d.seller_endpoint_id),
                               metadata={"anyOf": [{"$ref": "#/components/schemas/ErpIdentifier"}, {"type": "null"}]})


class ErpBuyer(Schema):
    name = Null(attribute="buyer_name")
    vat_id = Null(attribute="buyer_vat_id")


class ErpTotals(Schema):
    without_vat = Null(DecimalString, attribute="total_without_vat")
    vat = Null(DecimalString, attribute="total_vat")
    with_vat = Null(DecimalString, attribute="total_with_vat")
    amount_due = Null(DecimalString, attribute="amount_due")


class ErpLinks(Schema):
    self = Str()
    content = fields.Dict(keys=Str(), values=Str(), metadata={"description": "A link per format"})


class ErpInvoice(Schema):
    """``id`` is stable (the document id): de-duplicate by it. ``invoice`` is the EN 16931 model as
    JSON (gateway/model_json.py: the model's field names, amounts as decimal strings)."""

    id = fields.Integer(attribute="document.id")
    delivery_id = fields.Integer(attribute="delivery.id")
    status = Str(metadata={"enum": ["available", "acknowledged"]})
    available_at = Null(UtcDateTime)
    acknowledged_at = Null(UtcDateTime)
    received_at = UtcDateTime(attribute="document.created_at")
    number = Null(attribute="document.number")
    type_code = Null(attribute="document.type_code")
    issue_date = Null(fields.Date, attribute="document.issue_date")
    due_date = Null(fields.Date, attribute="document.due_date")
    currency = Null(attribute="document.currency")
    sender = Whole(ErpSender, source="document")
    buyer = Whole(ErpBuyer, source="document")
    totals = Whole(ErpTotals, source="document")
    format = Str(attribute="delivery.format", metadata={"description": "The recipient's own format"})
    links = fields.Nested(ErpLinks)
    model = Str(metadata={"enum": ["en16931-json/1"]})
    invoice = fields.Dict(allow_none=True)
    invoice_error = Str(metadata={"description": "Only when the original could not be read again"})


class ErpInvoicePage(Schema):
    items = fields.List(fields.Nested(ErpInvoice), required=True)
    next_cursor = fields.String(required=True, allow_none=True,
                                metadata={"description": "Pass it back for the next page; null on the last"})
    limit = fields.Integer(required=True)


class ErpRefused(Schema):
    id = fields.Integer()
    status = Str()
    reason = Str()


class ErpAck(Schema):
    acknowledged = fields.List(fields.Integer())
    already_acknowledged = fields.List(fields.Integer())
    unknown = fields.List(fields.Integer(), metadata={"description": "Not an invoice of this recipient"})
    refused = fields.List(fields.Nested(ErpRefused))


# schemas only named by a $ref in a field's description (not nested): registered by name
REFERENCED: tuple[type[Schema], ...] = (ErpIdentifier,)
