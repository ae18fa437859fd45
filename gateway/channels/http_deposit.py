"""``http``: depositing invoices on a buyer's own portal, described as data, no code per portal.

Large buyers ask their suppliers to deposit invoices on their procurement portal. Each
portal is one partner whose ``channel_settings.http`` say, as data (checked when saved,
described by ``settings_schema`` for the API):

* ``url`` (a ``{name}`` template, ``gateway.channels.http_deposit_template``), ``method``
  (POST, PUT), ``headers`` (name → template), ``allow_private`` (loopback / private
  addresses, for this partner only), ``timeout_seconds``;
* ``auth``: ``{"type": "none"}``, ``{"type": "api_key", "header": "X-API-Key", "key": ref}``,
  ``{"type": "basic", "username": …, "password": ref}`` or ``{"type": "oauth2", "token_url":
  …, "client_id": …, "client_secret": ref, "scope": …}``; every secret a reference
  (``env:NAME``, ``file:PATH``) read at use;
* ``body``: ``{"type": "multipart", "file_field": "file", "file_name": template, "fields":
  {name: template}}``, ``{"type": "raw", "content_type": …}`` or ``{"type": "json",
  "document": pointer, "fields": {pointer: template or a JSON literal}}`` (the file in
  base64 at ``document``);
* ``deposit_id``: the JSON pointer of the portal's deposit id in its answer;
* ``status`` (optional): ``pointer`` (where the status is, in the deposit's answer and in the
  status answer), ``url`` (a template with ``{deposit_id}``; absent: the status is only in
  the deposit's answer), ``accepted``, ``rejected``, ``paid`` (the values meaning each),
  ``error`` (the pointer of the portal's own error text);
* idempotency: ``idempotency_header`` (the portal dedups on a key we send: our reference),
  and ``lookup`` (``url`` template with ``{reference}``, ``deposit_id`` pointer: finding a
  deposit by our reference);
* ``ack_timeout_minutes``, ``follow_days``.

Sending: a 2xx answer gives the deposit id (``Exchange.mdn_message_id``); its status, read
at once when the answer carries one, then by the sweep from ``status.url`` with backoff:
``rejected`` fails the exchange with the portal's error text; ``accepted`` or ``paid``
acknowledge it (the life cycle moves to accepted, then payment sent); any other value is
pending. Without a status URL, a deposit with nothing final in its answer is acknowledged
(the portal has it; there is nothing more to ask). An answer 408, 429 or 5xx is retried
with the partner's backoff; other 4xx fail with the portal's text.

Never two deposits of the same content (``gateway.channels.http_deposit_parts``): after an
attempt that may have reached the portal (a timeout after the request was written), the
next attempt sends again only when the portal dedups (``idempotency_header``) or when
``lookup`` finds nothing under our reference (it finds the deposit: we follow that one).
A portal with neither: the exchange fails as ``uncertain`` for an operator, who looks at
the portal and retries (only then is it posted again).
"""
from __future__ import annotations

import base64
import hashlib
import json
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Callable, Mapping, Optional

from gateway.channels import http_deposit_parts as parts
from gateway.channels import http_deposit_template as tpl
from gateway.channels import settings as checks
from gateway.channels.settings import ChannelConfigError as DepositConfigError
from gateway.db import Exchange, Partner, compare_and_set, utcnow
from gateway.delivery.attempts import settle_failure
from gateway.delivery.channel import ChannelSettingsError, DeliveryPlan
from gateway.delivery.outbound import FileChannel
from gateway.delivery.state import set_status
from gateway.transports import http_deposit as transport
from gateway.transports.http_deposit import DepositHttpError

log = logging.getLogger("edigate.http_deposit")

NAME = "http"
METHODS = ("POST", "PUT")
AUTH_TYPES = ("none", "api_key", "basic", "oauth2")
BODY_TYPES = ("multipart", "raw", "json")
DEFAULT_TIMEOUT = 60
DEFAULT_ACK_TIMEOUT = 7 * 24 * 60        # minutes a deposit may stay pending
DEFAULT_FOLLOW_DAYS = 120                # how long an accepted deposit is followed until paid
FIRST_POLL = timedelta(seconds=30)
POLL = (timedelta(minutes=1), timedelta(hours=6))
MAX_FIELDS = 30
MAX_VALUES = 50
_HEADER = r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,100}$"
RESERVED_HEADERS = {"authorization", "content-type", "content-length", "host", "transfer-encoding"}


# --- settings -------------------------------------------------------------------------------------

def _object(value: Any, setting: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ChannelSettingsError(setting, "expected an object")
    return value


def _unknown(value: Mapping[str, Any], setting: str, known: tuple[str, ...]) -> None:
    for k in value:
        if k not in known:
            raise ChannelSettingsError(f"{setting}.{k}", f"unknown setting (known: {', '.join(known)})")


def _header_name(value: Any, setting: str) -> str:
    import re
    if not isinstance(value, str) or not re.match(_HEADER, value.strip()):
        raise ChannelSettingsError(setting, "expected an HTTP header name")
    if value.strip().lower() in RESERVED_HEADERS:
        raise ChannelSettingsError(setting, f"{value.strip()} is set by the gateway itself")
    return value.strip()


def _values(value: Any, setting: str) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or len(value) > MAX_VALUES or \
            not all(isinstance(v, (str, int)) and not isinstance(v, bool) and len(str(v)) <= 100 for v in value):
        raise ChannelSettingsError(setting, f"expected a list of at most {MAX_VALUES} status values")
    return [str(v) for v in value]


def _auth(value: Any, private: bool) -> dict[str, Any]:
    a = _object(value, "http.auth")
    kind = a.get("type", "none")
    if kind not in AUTH_TYPES:
        raise ChannelSettingsError("http.auth.type", f"expected one of {', '.join(AUTH_TYPES)}")
    known = {"none": ("type",), "api_key": ("type", "header", "key"), "basic": ("type", "username", "password"),
             "oauth2": ("type", "token_url", "client_id", "client_secret", "scope")}[kind]
    _unknown(a, "http.auth", known)
    out: dict[str, Any] = {"type": kind}
    for k in known[1:]:
        if k not in a and k != "scope":
            raise ChannelSettingsError(f"http.auth.{k}", f"{kind} authentication needs {k}")
    if kind == "api_key":
        out["header"] = _header_name(a["header"], "http.auth.header")
        out["key"] = checks.secret_reference(a["key"], "http.auth.key")
    elif kind == "basic":
        out["username"] = checks.text(a["username"], "http.auth.username", 200)
        if ":" in out["username"]:
            raise ChannelSettingsError("http.auth.username", "a basic user name has no ':'")
        out["password"] = checks.secret_reference(a["password"], "http.auth.password")
    elif kind == "oauth2":
        out["token_url"] = checks.url_setting(a["token_url"], "http.auth.token_url", private)
        out["client_id"] = checks.text(a["client_id"], "http.auth.client_id", 200)
        out["client_secret"] = checks.secret_reference(a["client_secret"], "http.auth.client_secret")
        if a.get("scope"):
            out["scope"] = checks.text(a["scope"], "http.auth.scope", 500)
    return out


def _body(value: Any) -> dict[str, Any]:
    b = _object(value, "http.body")
    kind = b.get("type")
    if kind not in BODY_TYPES:
        raise ChannelSettingsError("http.body.type", f"expected one of {', '.join(BODY_TYPES)}")
    known = {"multipart": ("type", "file_field", "file_name", "fields"), "raw": ("type", "content_type"),
             "json": ("type", "document", "fields")}[kind]
    _unknown(b, "http.body", known)
    out: dict[str, Any] = {"type": kind}
    if kind == "multipart":
        out["file_field"] = checks.text(b.get("file_field", "file"), "http.body.file_field", 100)
        out["file_name"] = tpl.check_template(b.get("file_name", "{filename}"), "http.body.file_name")
    if kind == "raw" and b.get("content_type"):
        out["content_type"] = checks.text(b["content_type"], "http.body.content_type", 200)
    if kind == "json":
        out["document"] = tpl.check_pointer(b.get("document", "/document"), "http.body.document")
    fields = _object(b.get("fields", {}), "http.body.fields") if kind != "raw" else {}
    if len(fields) > MAX_FIELDS:
        raise ChannelSettingsError("http.body.fields", f"at most {MAX_FIELDS} fields")
    checked = {}
    for name, template in fields.items():
        where = f"http.body.fields.{name}"
        key = tpl.check_pointer(name, where) if kind == "json" else checks.text(name, where, 100)
        if kind == "json" and not isinstance(template, str):
            if not isinstance(template, (int, float, bool)) and template is not None:
                raise ChannelSettingsError(where, "expected a template or a number, true, false or null")
            checked[key] = template
        else:
            checked[key] = tpl.check_template(template, where, allowed=set(tpl.NAMES) - {"deposit_id"})
    if fields:
        out["fields"] = checked
    return out


def _status(value: Any, private: bool) -> dict[str, Any]:
    s = _object(value, "http.status")
    _unknown(s, "http.status", ("pointer", "url", "accepted", "rejected", "paid", "error"))
    if "pointer" not in s:
        raise ChannelSettingsError("http.status.pointer", "where the status is in the portal's answers")
    out: dict[str, Any] = {"pointer": tpl.check_pointer(s["pointer"], "http.status.pointer")}
    if s.get("url"):
        out["url"] = checks.url_setting(tpl.check_template(s["url"], "http.status.url"), "http.status.url", private,
                                       template=True)
    for k in ("accepted", "rejected", "paid"):
        out[k] = _values(s.get(k, []), f"http.status.{k}")
    if not out["accepted"] and not out["paid"]:
        raise ChannelSettingsError("http.status.accepted", "say which status values mean accepted (or paid)")
    if s.get("error"):
        out["error"] = tpl.check_pointer(s["error"], "http.status.error")
    return out


def _lookup(value: Any, private: bool) -> dict[str, Any]:
    lk = _object(value, "http.lookup")
    _unknown(lk, "http.lookup", ("url", "deposit_id"))
    if "url" not in lk or "deposit_id" not in lk:
        raise ChannelSettingsError("http.lookup", "a lookup needs url (a template with {reference}) and deposit_id")
    url = tpl.check_template(lk["url"], "http.lookup.url")
    if "{reference}" not in url:
        raise ChannelSettingsError("http.lookup.url", "a lookup finds a deposit by {reference}")
    return {"url": checks.url_setting(url, "http.lookup.url", private, template=True),
            "deposit_id": tpl.check_pointer(lk["deposit_id"], "http.lookup.deposit_id")}


def partner_settings(partner: Optional[Partner]) -> Optional[dict[str, Any]]:
    if partner is None:
        return None
    mine = (partner.channel_settings or {}).get(NAME)
    if not mine:
        return None
    try:
        return channel.validate_settings(mine)
    except ChannelSettingsError:
        return None


def auth_for(settings: Mapping[str, Any], certs_dir: Any) -> transport.Auth:
    """The authentication of a portal's validated settings (secrets read now)."""
    a = settings.get("auth") or {"type": "none"}
    private = bool(settings.get("allow_private"))
    if a["type"] == "api_key":
        return transport.ApiKey(a["header"], checks.resolve_secret(a["key"], certs_dir))
    if a["type"] == "basic":
        return transport.Basic(a["username"], checks.resolve_secret(a["password"], certs_dir))
    if a["type"] == "oauth2":
        return transport.oauth2(a["token_url"], a["client_id"], checks.resolve_secret(a["client_secret"], certs_dir),
                                scope=a.get("scope"), allow_private=private)
    return transport.NoAuth()


# --- what a deposit carries -------------------------------------------------------------------------

def values_of(ex: Exchange, doc: Any, data: bytes) -> dict[str, Any]:
    """The values templates may use (``http_deposit_template.NAMES``)."""
    out: dict[str, Any] = {"filename": ex.filename or f"invoice-{ex.id}.xml", "media_type": ex.content_type,
                           "sha256": hashlib.sha256(data).hexdigest(), "size": len(data),
                           "reference": ex.message_id, "deposit_id": ex.mdn_message_id}
    if doc is not None:
        for name in ("number", "issue_date", "due_date", "type_code", "currency", "seller_name", "seller_vat_id",
                     "seller_id", "buyer_name", "buyer_vat_id", "buyer_id", "buyer_endpoint_id", "total_without_vat",
                     "total_vat", "total_with_vat", "amount_due"):
            value = getattr(doc, name, None)
            out[name] = value.isoformat() if hasattr(value, "isoformat") else None if value is None else str(value)
    return out


def build_request(settings: Mapping[str, Any], values: Mapping[str, Any], data: bytes,
                  content_type: Optional[str]) -> dict[str, Any]:
    """The request's keyword arguments (``headers`` and ``data`` or ``files``) for a deposit."""
    body = settings["body"]
    headers = {k: tpl.render(v, values) for k, v in (settings.get("headers") or {}).items()}
    if settings.get("idempotency_header"):
        headers[settings["idempotency_header"]] = str(values["reference"])
    headers.setdefault("Accept", "application/json")
    if body["type"] == "raw":
        headers["Content-Type"] = body.get("content_type") or content_type or "application/octet-stream"
        return {"headers": headers, "data": data}
    if body["type"] == "json":
        doc: dict[str, Any] = {}
        for pointer, template in (body.get("fields") or {}).items():
            tpl.place(doc, pointer, tpl.render(template, values) if isinstance(template, str) else template)
        tpl.place(doc, body["document"], base64.b64encode(data).decode("ascii"))
        headers["Content-Type"] = "application/json"
        return {"headers": headers, "data": json.dumps(doc).encode("utf-8")}
    fields = {k: tpl.render(v, values) for k, v in (body.get("fields") or {}).items()}
    name = tpl.render(body["file_name"], values) or "invoice"
    return {"headers": headers, "data": fields,
            "files": {body["file_field"]: (name, data, content_type or "application/octet-stream")}}


@dataclass
class Reading:
    """A portal's status as we read it: its value, what it means, its own error text."""
    value: Optional[str]
    meaning: str                         # accepted, rejected, paid, pending, none
    error: Optional[str] = None
    answer: Any = field(default=None, repr=False)


def read_status(settings: Mapping[str, Any], answer: Any) -> Reading:
    status = settings.get("status")
    if not status:
        return Reading(None, "none", answer=answer)
    raw = tpl.resolve(answer, status["pointer"])
    value = None if raw is None or isinstance(raw, (dict, list)) else str(raw)
    meaning = "pending"
    for k in ("rejected", "paid", "accepted"):
        if value is not None and value in status[k]:
            meaning = k
            break
    error = None
    if status.get("error"):
        said = tpl.resolve(answer, status["error"])
        if isinstance(said, list):
            said = "; ".join(str(x.get("message", x)) if isinstance(x, dict) else str(x) for x in said[:20])
        error = str(said)[:500] if said not in (None, "", []) else None
    return Reading(value, meaning, error, answer)


# --- out -----------------------------------------------------------------------------------------------

def _json(answer: transport.Answer) -> Any:
    try:
        return answer.json() if answer.content else None
    except ValueError:
        return None


def send_deposit(gw: Any, exchange_id: int) -> str:
    """One attempt at a claimed outbound exchange (see the module docstring)."""
    opened = parts.open_deposit(gw, exchange_id, settings_of=partner_settings, connect=auth_for, setting="http",
                                peer="the portal",
                                read=lambda s, ex, data: (values_of(ex, parts.document_of(s, ex), data),
                                                          ex.content_type))
    if isinstance(opened, str):
        return opened
    # committed: our reference is on record before any request carries it
    settings, auth, uncertain, by_operator, data = (opened.settings, opened.connection, opened.uncertain,
                                                     opened.by_operator, opened.data)
    values, content_type = opened.read
    private, timeout = bool(settings.get("allow_private")), float(settings.get("timeout_seconds") or DEFAULT_TIMEOUT)
    found = None
    try:
        if uncertain and settings.get("lookup"):
            lk = settings["lookup"]
            got = transport.request("GET", tpl.render(lk["url"], values, url=True), auth=auth, allow_private=private,
                                    timeout=timeout, headers={"Accept": "application/json"})
            if got.status == 200 and tpl.resolve(_json(got), lk["deposit_id"]) not in (None, ""):
                found = (str(tpl.resolve(_json(got), lk["deposit_id"])), _json(got))
            elif got.status not in (200, 404):
                raise transport.failure(got, "portal lookup")
        elif uncertain and not (settings.get("idempotency_header") or by_operator):
            return _uncertain(gw, exchange_id, "no lookup and no idempotency key to tell whether the portal has it")
        if found is None:
            kwargs = build_request(settings, values, data, content_type)
            answer = transport.request(settings.get("method", "POST"), tpl.render(settings["url"], values),
                                       auth=auth, allow_private=private, timeout=timeout, **kwargs)
    except DepositHttpError as e:
        if e.reached is None:
            if settings.get("lookup") or settings.get("idempotency_header"):
                with gw.session() as s:
                    ex = s.get(Exchange, exchange_id)
                    ex.mdn_disposition = parts.UNCERTAIN
                    ex.note(f"the attempt may have reached the portal ({e.message}); the next one "
                            + ("looks it up by our reference first" if settings.get("lookup")
                               else "sends it with the same idempotency key"))
                return settle_failure(gw, exchange_id, f"portal: {e.message} (uncertain)", retryable=True)
            return _uncertain(gw, exchange_id, e.message)
        return settle_failure(gw, exchange_id, f"portal: {e.message}", retryable=e.retryable)
    if found is not None:
        deposit_id, body = found
        how = f"found deposit {deposit_id} made by an earlier attempt (lookup by {values['reference']}); not deposited again"
        return _deposited(gw, exchange_id, settings, deposit_id, body, how, status_answer=False)
    body = _json(answer)
    if not 200 <= answer.status < 300:
        reading = read_status(settings, body) if body is not None else Reading(None, "none")
        e = transport.failure(answer, "portal deposit", reading.error)
        with gw.session() as s:
            ex = s.get(Exchange, exchange_id)
            ex.note(f"the portal answered HTTP {answer.status}: {parts.answer_text(body) if body is not None else answer.excerpt()}")
            if not e.retryable:
                ex.mdn_disposition = parts.disposition(f"HTTP {answer.status}", reading.error or answer.excerpt(200))
        return settle_failure(gw, exchange_id, e.message, retryable=e.retryable)
    deposit_id = tpl.resolve(body, settings["deposit_id"]) if body is not None else None
    if deposit_id in (None, "") or isinstance(deposit_id, (dict, list)):
        return _uncertain(gw, exchange_id, f"the portal answered HTTP {answer.status} without a deposit id at "
                                           f"{settings['deposit_id']}: {answer.excerpt(300)}")
    how = f"deposited as {deposit_id} (our reference {values['reference']})"
    return _deposited(gw, exchange_id, settings, str(deposit_id), body, how, status_answer=True)


def _uncertain(gw: Any, exchange_id: int, why: str) -> str:
    with gw.session() as s:
        ex = s.get(Exchange, exchange_id)
        ex.mdn_disposition = parts.UNCERTAIN
        ex.next_attempt_at = None
        set_status(ex, "failed", f"uncertain: the portal may have this deposit ({why}); not posted again "
                                 "without an operator: look at the portal, then retry or not")
        return ex.status


def _deposited(gw: Any, exchange_id: int, settings: Mapping[str, Any], deposit_id: str, body: Any, how: str,
               *, status_answer: bool) -> str:
    now = utcnow()
    reading = read_status(settings, body) if status_answer else Reading(None, "none")
    status_url = (settings.get("status") or {}).get("url")
    doc_id = None
    with gw.session() as s:
        ex = s.get(Exchange, exchange_id)
        ex.mdn_message_id = deposit_id
        ex.mdn_disposition = parts.disposition(reading.value or "deposited", reading.error)
        ex.mdn_at = None
        ex.mdn_due_at = now + timedelta(minutes=int(settings.get("ack_timeout_minutes") or DEFAULT_ACK_TIMEOUT))
        ex.note(f"{how}; the portal answered {parts.answer_text(body)}", at=now)
        set_status(ex, "awaiting_mdn", f"{how}; awaiting the portal's status", at=now)
        following = reading.meaning in ("pending", "none") and bool(status_url)
        if following:
            ex.next_attempt_at = now + FIRST_POLL
            status = ex.status
        else:
            ex.next_attempt_at = None
            status, doc_id = _settle(s, ex, settings, reading, now, deposit_id)
    if doc_id is not None:
        _report(gw, doc_id)
    if following:
        gw.jobs.prompt("http_follow", exchange_id, at=now + FIRST_POLL)
    return status


def _settle(s: Any, ex: Exchange, settings: Mapping[str, Any], reading: Reading, now: datetime,
            deposit_id: str) -> tuple[str, Optional[int]]:
    """Settle an awaiting deposit by a status (or by its absence: acknowledged); the exchange's
    status, and the document whose life cycle moved (to tell its sender)."""
    ex.mdn_at = now
    if reading.meaning == "rejected":
        ex.next_attempt_at = None
        set_status(ex, "failed", f"the portal rejected deposit {deposit_id} ({reading.value})"
                   + (f": {reading.error}" if reading.error else ""), at=now)
        return ex.status, None
    said = f" ({reading.value})" if reading.value else ""
    set_status(ex, "acknowledged", f"the portal has deposit {deposit_id}{said}", at=now)
    moved = _life_cycle(s, ex, reading, now)
    follow = reading.meaning == "accepted" and (settings.get("status") or {}).get("url") and \
        (settings.get("status") or {}).get("paid")
    ex.mdn_due_at = now + timedelta(days=int(settings.get("follow_days") or DEFAULT_FOLLOW_DAYS)) if follow else None
    ex.next_attempt_at = now + POLL[0] if follow else None
    return ex.status, moved


def _life_cycle(s: Any, ex: Exchange, reading: Reading, now: datetime) -> Optional[int]:
    target = {"accepted": ("accepted", ()), "paid": ("payment_sent", ("accepted",)),
              "rejected": ("refused", ())}.get(reading.meaning)
    doc = parts.document_of(s, ex)
    if target is None or doc is None:
        return None
    partner = ex.partner.name if ex.partner is not None else NAME
    moved, why = parts.move_life_cycle(s, doc, target[0], via=target[1], reason=f"the portal says {reading.value}"
                                       + (f": {reading.error}" if reading.error else ""), by=f"partner:{partner}",
                                       at=now)
    if why:
        ex.note(f"portal status {reading.value}: the life cycle cannot follow ({why})", at=now)
    return doc.id if moved else None


def _report(gw: Any, document_id: int) -> None:
    from gateway.flow import lifecycle
    lifecycle.report_pending(gw, document_id=document_id)


def follow_deposit(gw: Any, exchange_id: int) -> Optional[str]:
    """Read a deposit's status once (``status.url``) and settle or move the exchange by it."""
    following = parts.open_follow(gw, exchange_id, channel=NAME, settings_of=partner_settings, scheduled_only=True,
                                  read=lambda s, ex: values_of(ex, parts.document_of(s, ex), b""))
    if not isinstance(following, parts.Following):
        return following
    settings, phase, deposit_id, values = following.settings, following.phase, following.deposit_id, following.read
    reading, error = None, None
    url = ((settings or {}).get("status") or {}).get("url")
    if not url:
        error = "the partner's http settings have no status URL any more"
    else:
        try:
            auth = auth_for(settings, gw.settings.certs_dir)
            got = transport.request("GET", tpl.render(url, values, url=True), auth=auth,
                                    allow_private=bool(settings.get("allow_private")),
                                    timeout=float(settings.get("timeout_seconds") or DEFAULT_TIMEOUT),
                                    headers={"Accept": "application/json"})
            if 200 <= got.status < 300:
                reading = read_status(settings, _json(got))
            else:
                error = transport.failure(got, "portal status").message
        except (DepositConfigError, DepositHttpError) as e:
            error = getattr(e, "message", str(e))
    now = utcnow()
    doc_id = None
    with gw.session() as s:
        ex = s.get(Exchange, exchange_id)
        if ex.status != phase or ex.mdn_message_id != deposit_id:
            return ex.status
        if reading is not None and parts.disposition(reading.value or "", reading.error) != ex.mdn_disposition:
            ex.mdn_disposition = parts.disposition(reading.value or "unknown", reading.error)
            ex.note(f"deposit {deposit_id}: the portal says {parts.answer_text(reading.answer)}", at=now)
        meaning = reading.meaning if reading is not None else "pending"
        if phase == "awaiting_mdn" and meaning in ("accepted", "paid", "rejected"):
            if compare_and_set(s, Exchange, Exchange.id == exchange_id, Exchange.status == "awaiting_mdn",
                               Exchange.mdn_at.is_(None), mdn_at=now) != 1:
                s.rollback()
                return s.get(Exchange, exchange_id).status
            status, doc_id = _settle(s, ex, settings, reading, now, deposit_id)
        elif phase == "acknowledged" and meaning in ("paid", "rejected"):
            doc_id = _life_cycle(s, ex, reading, now)
            ex.next_attempt_at = None
            status = ex.status
        elif ex.mdn_due_at is not None and now >= ex.mdn_due_at:
            ex.next_attempt_at = None
            if phase == "awaiting_mdn":
                set_status(ex, "failed", f"no final status of deposit {deposit_id} by "
                           f"{ex.mdn_due_at:%Y-%m-%d %H:%M:%S}Z" + (f" (last answer: {error})" if error else ""), at=now)
            else:
                ex.note(f"deposit {deposit_id}: no longer followed (follow_days passed)", at=now)
            status = ex.status
        else:
            ex.next_attempt_at = parts.next_poll(now, ex.status_at, *POLL)
            if error:
                ex.note(f"deposit {deposit_id}: cannot read its status now ({error}); next look at "
                        f"{ex.next_attempt_at:%Y-%m-%d %H:%M:%S}Z", at=now)
            status = ex.status
    if doc_id is not None:
        _report(gw, doc_id)
    return status


# --- the channel ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class HttpProfile:
    format: str = "ubl"
    why: str = ""
    channel: str = field(default=NAME, init=False)


class HttpDepositChannel(FileChannel):
    name = NAME
    label = "Buyer's portal (HTTP deposit)"
    labels = {"en": "Buyer's portal (HTTP deposit)", "fr": "Portail de l'acheteur (dépôt HTTP)"}
    settings_keys = ("url", "method", "headers", "allow_private", "timeout_seconds", "auth", "body", "deposit_id",
                     "status", "idempotency_header", "lookup", "ack_timeout_minutes", "follow_days")

    def validate_settings(self, settings: Mapping[str, Any], *, session: Any = None) -> dict[str, Any]:
        super().validate_settings(settings)
        given = {k: v for k, v in settings.items() if v is not None and v != ""}
        if not given:
            return {}
        out: dict[str, Any] = {}
        private = checks.flag(given.get("allow_private", False), "http.allow_private")
        if private:
            out["allow_private"] = True
        if "url" in given:
            out["url"] = checks.url_setting(tpl.check_template(given["url"], "http.url",
                                                              allowed=set(tpl.NAMES) - {"deposit_id"}),
                                           "http.url", private, template=True)
        method = str(given.get("method", "POST")).upper()
        if method not in METHODS:
            raise ChannelSettingsError("http.method", f"expected one of {', '.join(METHODS)}")
        if method != "POST":
            out["method"] = method
        if "headers" in given:
            headers = _object(given["headers"], "http.headers")
            if len(headers) > MAX_FIELDS:
                raise ChannelSettingsError("http.headers", f"at most {MAX_FIELDS} headers")
            out["headers"] = {_header_name(k, f"http.headers.{k}"): tpl.check_template(
                v, f"http.headers.{k}", allowed=set(tpl.NAMES) - {"deposit_id"}) for k, v in headers.items()}
        out["auth"] = _auth(given.get("auth", {"type": "none"}), private)
        if "body" in given:
            out["body"] = _body(given["body"])
        if "deposit_id" in given:
            out["deposit_id"] = tpl.check_pointer(given["deposit_id"], "http.deposit_id")
        if "status" in given:
            out["status"] = _status(given["status"], private)
        if "idempotency_header" in given:
            out["idempotency_header"] = _header_name(given["idempotency_header"], "http.idempotency_header")
        if "lookup" in given:
            out["lookup"] = _lookup(given["lookup"], private)
        for k, low, high in (("timeout_seconds", 1, 600), ("ack_timeout_minutes", 1, 43200), ("follow_days", 1, 730)):
            if k in given:
                out[k] = checks.bounded(given[k], f"http.{k}", low, high)
        return out

    def settings_schema(self) -> dict[str, Any]:
        pointer = {"type": "string", "pattern": "^/", "maxLength": tpl.MAX_POINTER,
                   "description": "a JSON pointer (RFC 6901)"}
        template = {"type": "string", "maxLength": tpl.MAX_TEMPLATE,
                    "description": "text with {name} values: " + ", ".join(sorted(tpl.NAMES))}
        values = {"type": "array", "items": {"type": "string", "maxLength": 100}, "maxItems": MAX_VALUES}
        secret = checks.SECRET_SCHEMA
        header = {"type": "string", "pattern": _HEADER}
        return {
            "type": "object", "additionalProperties": False,
            "properties": {
                "url": {**template, "description": "where to deposit (a template: " + template["description"] + ")"},
                "method": {"type": "string", "enum": list(METHODS), "default": "POST"},
                "headers": {"type": "object", "additionalProperties": template, "maxProperties": MAX_FIELDS},
                "allow_private": {"type": "boolean"},
                "timeout_seconds": {"type": "integer", "minimum": 1, "maximum": 600, "default": DEFAULT_TIMEOUT},
                "auth": {"oneOf": [
                    {"type": "object", "additionalProperties": False, "required": ["type"],
                     "properties": {"type": {"const": "none"}}},
                    {"type": "object", "additionalProperties": False, "required": ["type", "header", "key"],
                     "properties": {"type": {"const": "api_key"}, "header": header, "key": secret}},
                    {"type": "object", "additionalProperties": False, "required": ["type", "username", "password"],
                     "properties": {"type": {"const": "basic"}, "username": {"type": "string", "maxLength": 200},
                                    "password": secret}},
                    {"type": "object", "additionalProperties": False,
                     "required": ["type", "token_url", "client_id", "client_secret"],
                     "properties": {"type": {"const": "oauth2"}, "token_url": {"type": "string", "format": "uri"},
                                    "client_id": {"type": "string", "maxLength": 200}, "client_secret": secret,
                                    "scope": {"type": "string", "maxLength": 500}}},
                ]},
                "body": {"oneOf": [
                    {"type": "object", "additionalProperties": False, "required": ["type"],
                     "properties": {"type": {"const": "multipart"}, "file_field": {"type": "string", "maxLength": 100},
                                    "file_name": template,
                                    "fields": {"type": "object", "additionalProperties": template,
                                               "maxProperties": MAX_FIELDS}}},
                    {"type": "object", "additionalProperties": False, "required": ["type"],
                     "properties": {"type": {"const": "raw"}, "content_type": {"type": "string", "maxLength": 200}}},
                    {"type": "object", "additionalProperties": False, "required": ["type"],
                     "properties": {"type": {"const": "json"}, "document": pointer,
                                    "fields": {"type": "object", "maxProperties": MAX_FIELDS,
                                               "description": "JSON pointer -> template, or a number, boolean, null"}}},
                ]},
                "deposit_id": pointer,
                "status": {"type": "object", "additionalProperties": False, "required": ["pointer"],
                           "properties": {"pointer": pointer, "url": template, "accepted": values, "rejected": values,
                                          "paid": values, "error": pointer}},
                "idempotency_header": {**header, "description": "the portal dedups on this header (our reference)"},
                "lookup": {"type": "object", "additionalProperties": False, "required": ["url", "deposit_id"],
                           "properties": {"url": template, "deposit_id": pointer},
                           "description": "finding a deposit by {reference} before depositing again after an "
                                          "attempt that may have reached the portal"},
                "ack_timeout_minutes": {"type": "integer", "minimum": 1, "maximum": 43200,
                                        "default": DEFAULT_ACK_TIMEOUT},
                "follow_days": {"type": "integer", "minimum": 1, "maximum": 730, "default": DEFAULT_FOLLOW_DAYS},
            },
        }

    def readiness(self, settings: Mapping[str, Any], contact_email: Optional[str]) -> Optional[str]:
        missing = [k for k in ("url", "body", "deposit_id") if not settings.get(k)]
        if missing:
            return f"the http channel needs {', '.join('http.' + k for k in missing)}"
        return None

    def profile(self, partner: Any, settings: Mapping[str, Any], *, gateway_settings: Any,
                invoice: Any = None, why: str = "") -> HttpProfile:
        problem = self.readiness(settings, None)
        if problem:
            raise ChannelSettingsError("http.url", problem)
        return HttpProfile(format=partner.preferred_format or "ubl", why=why)

    def plan(self, session: Any, plan: DeliveryPlan, partner: Any, invoice: Any) -> DeliveryPlan:
        plan.format, plan.syntaxes, plan.transport = plan.profile.format, (plan.profile.format,), NAME
        return plan

    def record(self, session: Any, gw: Any, rec: Any, delivery: Any, plan: DeliveryPlan, now: datetime,
               *, fallback_name: str) -> list[int]:
        ids = super().record(session, gw, rec, delivery, plan, now, fallback_name=fallback_name)
        for ex_id in ids:
            session.get(Exchange, ex_id).mdn_mode = parts.DEPOSIT
        return ids

    def send(self, gw: Any, exchange_id: int) -> str:
        return send_deposit(gw, exchange_id)

    def lease_expired(self, session: Any, exchange: Any) -> Optional[str]:
        exchange.mdn_disposition = parts.UNCERTAIN
        return None

    def tasks(self) -> dict[str, Callable[..., Any]]:
        return {"http_follow": follow_deposit}

    def due(self, gw: Any, now: datetime) -> dict[str, int]:
        ids = parts.claim_follows(gw, NAME, now)
        for exchange_id in ids:
            gw.jobs.prompt("http_follow", exchange_id)
        return {"http_follows": len(ids)}

    deposit_view = staticmethod(parts.deposit_view)


channel = HttpDepositChannel()
