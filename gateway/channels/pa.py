"""Another certified platform (PA), reached through its XP Z12-013 Flow Service, both directions.

In the French reform each company receives through one certified platform. A partner on
this channel is such a platform as edigate sees it: our account on its Flow Service, the
companies it receives for (the partner's identifiers, or the directory's lines naming it).
Towards it edigate acts as a company's ERP does (``gateway.transports.xp_z12013``).

Out (``send``): an outbound exchange is submitted as one flow. Its ``trackingId`` is fixed
and committed before the first request (``Exchange.message_id``); an attempt after one that
may have reached the platform (a timeout, a worker that died) first searches for that
``trackingId`` and follows the flow found instead of submitting again, so a flow is never
submitted twice. The ``flowId`` is kept (``Exchange.mdn_message_id``) and the flow followed
(``awaiting_mdn``): ``GET /v1/flows/{flowId}`` by the sweep (``due`` → ``pa_follow``), sooner
when the platform's webhook tells of it, until its acknowledgement is ``Ok`` (the exchange
``acknowledged``, the delivery with it) or ``Error`` (``failed``, with the platform's details
as the reason), or ``ack_timeout_minutes`` pass. The platform's answers are in the
exchange's history; the final ``Flow`` JSON in the payload store (``mdn_payload_key``).
The channel carries status messages: a CDAR for an invoice that came from the platform goes
back to it as a flow of syntax ``CDAR``.

In (``wsgi_mounts``: ``/pa/webhook/<partner id>``): the platform calls us with a ``Flow``
JSON, signed with the key it gave when we subscribed (``edigate partner pa-subscribe``). An
unsigned, badly signed or stale callback is refused (401) and nothing is stored. A flow
addressed to us (``In``, acknowledged ``Ok``) is fetched (``docType=Original``), its SHA-256
checked when given, and enters the one path as received from that partner
(``gateway.flow.receive.receive_file``), keyed by its ``flowId``: a callback delivered twice
stores once. A CDAR then moves our document's life cycle, an invoice for a member is
processed like any other. A callback about one of our own flows (``Out``) has it followed now.
A lost callback loses nothing: the sweep also searches the platform's In flows updated since
the last search and takes those it has not got (``gateway.channels.pa_catchup``).

Settings (``channel_settings.pa``): ``flow_url`` (the Flow Service's base URL, ``/v1/…``
appended), ``token`` (where the bearer token is: ``env:NAME`` or ``file:PATH``) or OAuth2
client credentials (``client_id``, ``client_secret`` as such a reference, ``token_url``),
``platform_id`` (its matricule: 4 digits), ``organization_id`` (sent as ``Organization-Id``),
``allow_private`` (its URLs may be on a private or loopback address), ``syntax`` (UBL, CII or
Factur-X: what it takes; UBL by default), ``profile`` (Basic, CIUS, Extended-CTC-FR),
``timeout_seconds``, ``ack_timeout_minutes``, and what ``pa-subscribe`` records: ``webhook_id``
and ``webhook_secret`` (where the signing key is kept, never the key). Secrets are never in the
settings themselves, so the API and the command line can show the settings as they are.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Callable, Mapping, Optional
from urllib.parse import urlsplit

import sqlalchemy as sa

from gateway.channels import pa_catchup
from gateway.channels.settings import ChannelConfigError as PaConfigError  # noqa: F401 - the name its callers use
from gateway.channels.settings import bounded, flag, resolve_secret, secret_reference, text
from gateway.db import Exchange, Partner, compare_and_set, utcnow
from gateway.delivery.attempts import settle_failure
from gateway.delivery.channel import ChannelSettingsError, DeliveryPlan
from gateway.delivery.outbound import FileChannel
from gateway.delivery.state import set_status
from gateway.transports.safe_http import url_problem
from gateway.transports.xp_z12013 import (PROFILES, BearerToken, ClientCredentials, FlowClient, FlowServiceError,
                                          WebhookSignatureError, acknowledgement, check_id, is_uuid,
                                          verify_webhook_signature)

log = logging.getLogger("edigate.pa")

NAME = "pa"
PATH = "/pa/webhook"
SYNTAX_CHOICES = ("UBL", "CII", "Factur-X")
# The flavour we write for (syntax, profile); a profile without its own flavour takes the syntax's.
FORMATS = {("UBL", None): "ubl", ("CII", None): "cii", ("Factur-X", None): "facturx",
           ("CII", "Basic"): "cii-basic", ("Factur-X", "Basic"): "facturx-basic",
           ("CII", "Extended-CTC-FR"): "cii-extended-ctc-fr",
           ("Factur-X", "Extended-CTC-FR"): "facturx-extended-ctc-fr"}
DEFAULT_TIMEOUT = 60                     # seconds, a request's read timeout (connect: 10)
DEFAULT_ACK_TIMEOUT = 2 * 24 * 60        # minutes a submitted flow may stay Pending
FIRST_POLL = timedelta(seconds=5)
POLL_MIN, POLL_MAX = timedelta(seconds=10), timedelta(minutes=15)
FOLLOW_LEASE = timedelta(minutes=2)      # a prompted follow not done by then is prompted again
MAX_CALLBACK = 256 * 1024                # a Flow JSON is a few hundred bytes
MESSAGE_PREFIX = "pa-flow:"              # inbound exchanges' idempotency key: the platform's flowId
_MATRICULE = re.compile(r"^\d{4}$")
SECRETS = ("token", "client_secret", "webhook_secret")



# --- settings -------------------------------------------------------------------------------------

def _url(value: Any, setting: str, allow_private: bool) -> str:
    if not isinstance(value, str) or len(value) > 1000:
        raise ChannelSettingsError(setting, "expected an http(s) URL")
    url = value.strip().rstrip("/")
    problem = url_problem(url, allow_private=allow_private)
    if problem:
        hint = " (allow_private=true allows a private or loopback address for this partner)" \
            if "address" in problem or "host" in problem else ""
        raise ChannelSettingsError(setting, f"{problem}{hint}")
    parts = urlsplit(url)
    if parts.query or parts.fragment:
        raise ChannelSettingsError(setting, "expected a base URL without a query or fragment")
    return url







@dataclass(frozen=True)
class PaProfile:
    """How a platform receives from us: the syntax and profile it takes, the flavour we write."""
    syntax: str = "UBL"
    profile: Optional[str] = None
    format: str = "ubl"
    why: str = ""
    channel: str = field(default=NAME, init=False)


def client_for(settings: Mapping[str, Any], certs_dir: Path) -> FlowClient:
    """The Flow Service client for a partner's validated settings (secrets read now)."""
    if settings.get("token"):
        auth: Any = BearerToken(resolve_secret(settings["token"], certs_dir))
    elif settings.get("client_id"):
        auth = ClientCredentials(settings["token_url"], settings["client_id"],
                                 resolve_secret(settings["client_secret"], certs_dir),
                                 allow_private=bool(settings.get("allow_private")))
    else:
        raise PaConfigError("no token and no client credentials")
    return FlowClient(settings["flow_url"], auth, allow_private=bool(settings.get("allow_private")),
                      timeout=(10.0, float(settings.get("timeout_seconds") or DEFAULT_TIMEOUT)),
                      organization_id=settings.get("organization_id"))


def partner_settings(partner: Optional[Partner]) -> Optional[dict[str, Any]]:
    """A partner's pa settings, validated; None when it has none (or they cannot be used)."""
    if partner is None:
        return None
    mine = (partner.channel_settings or {}).get(NAME)
    if not mine:
        return None
    try:
        return channel.validate_settings(mine)
    except ChannelSettingsError:
        return None


def webhook_key_path(certs_dir: Path, partner_id: int) -> Path:
    return Path(certs_dir).expanduser().resolve() / "pa" / f"partner-{partner_id}-webhook.key"


def store_webhook_key(certs_dir: Path, partner_id: int, key: str) -> str:
    """Keep a webhook's signing key in a file only we can read (written whole, then renamed);
    returns the reference the settings hold (``file:…``)."""
    path = webhook_key_path(certs_dir, partner_id)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(key)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return f"file:{path}"


# --- out --------------------------------------------------------------------------------------------

def flow_syntax(data: bytes) -> str:
    """The flowSyntax of a file we submit: CDAR, Factur-X (a PDF), CII or UBL."""
    from gateway.flow.cdar_status import is_cdar_bytes
    if is_cdar_bytes(data):
        return "CDAR"
    if data.lstrip()[:5] == b"%PDF-":
        return "Factur-X"
    head = data[:4096]
    return "CII" if b"CrossIndustryInvoice" in head else "UBL"


def _answer(flow: Any) -> str:
    """A platform's answer as kept in the exchange's history (bounded)."""
    text = json.dumps(flow, ensure_ascii=False, sort_keys=True, default=str)
    return text if len(text) <= 2000 else text[:2000] + "…"


def _next_poll(now: datetime, since: Optional[datetime]) -> datetime:
    age = now - (since or now)
    return now + min(max(age / 4, POLL_MIN), POLL_MAX)


def tracking_id(ex: Exchange) -> str:
    """A new trackingId for an exchange: ours, unique, at most 64 characters."""
    return f"edigate-{ex.id}-{os.urandom(6).hex()}"


def send_flow(gw: Any, exchange_id: int) -> str:
    """One attempt at a claimed outbound exchange (see the module docstring)."""
    now = utcnow()
    with gw.session() as s:
        ex = s.get(Exchange, exchange_id)
        settings = partner_settings(ex.partner)
        if settings is None or ex.partner is None or not ex.partner.active:
            set_status(ex, "failed", "the partner has no usable pa settings (flow_url, token or client "
                                     "credentials), or is disabled", at=now)
            return ex.status
        try:
            client = client_for(settings, gw.settings.certs_dir)
        except PaConfigError as e:
            set_status(ex, "failed", f"cannot reach the platform's Flow Service: {e}", at=now)
            return ex.status
        earlier = ex.message_id          # set: an earlier attempt may have reached the platform
        if earlier is None:
            ex.message_id = tracking_id(ex)
        track, seen_flow, seen_ack = ex.message_id, ex.mdn_message_id, ex.mdn_disposition
        data = gw.payloads.get(ex.content_sha256)
        name = ex.filename or f"flow-{ex.id}.xml"
        content_type = ex.content_type
        profile = settings.get("profile")
    # committed: the trackingId is on record before any request carries it
    syntax = flow_syntax(data)
    found = None
    try:
        if earlier is not None:
            found = client.find_by_tracking_id(track)
            if found is not None and acknowledgement(found)[0] == "Error" and found.get("flowId") == seen_flow \
                    and (seen_ack or "").startswith("Error"):
                # the platform refused it and we knew: an operator asked to submit it again
                found = None
                with gw.session() as s:
                    ex = s.get(Exchange, exchange_id)
                    ex.message_id = track = tracking_id(ex)
                    ex.note(f"flow {seen_flow} was refused by the platform; submitting anew as {track}")
        if found is None:
            answer = client.submit_flow(data, name=name[:255], syntax=syntax,
                                        profile=profile if syntax != "CDAR" else None, tracking_id=track,
                                        content_type=content_type if syntax == "Factur-X" else None)
    except FlowServiceError as e:
        return settle_failure(gw, exchange_id, f"Flow Service: {e}", retryable=e.retryable)
    now = utcnow()
    with gw.session() as s:
        ex = s.get(Exchange, exchange_id)
        flow = found if found is not None else answer
        ex.mdn_message_id = flow["flowId"]
        ex.mdn_due_at = now + timedelta(minutes=int(settings.get("ack_timeout_minutes") or DEFAULT_ACK_TIMEOUT))
        ex.mdn_disposition, ex.mdn_at = None, None
        ex.next_attempt_at = now + FIRST_POLL
        how = (f"found flow {flow['flowId']} submitted by an earlier attempt (trackingId {track}); not submitted again"
               if found is not None else f"submitted as flow {flow['flowId']} ({syntax}, trackingId {track})")
        ex.note(f"{how}; the platform answered {_answer(flow)}", at=now)
        set_status(ex, "awaiting_mdn", f"{how}; awaiting the platform's acknowledgement", at=now)
        status = ex.status
    gw.jobs.prompt("pa_follow", exchange_id, at=now + FIRST_POLL)
    return status


def follow_flow(gw: Any, exchange_id: int) -> Optional[str]:
    """Read a submitted flow's acknowledgement once and settle the exchange by it: Ok →
    ``acknowledged``, Error → ``failed`` (the platform's details as the reason), Pending → polled
    again later, or ``failed`` once ``mdn_due_at`` has passed. Returns the status (None: not
    awaiting an acknowledgement)."""
    with gw.session() as s:
        ex = s.get(Exchange, exchange_id)
        if ex is None or ex.channel != NAME or ex.status != "awaiting_mdn" or not ex.mdn_message_id:
            return None
        settings = partner_settings(ex.partner)
        flow_id, submitted = ex.mdn_message_id, ex.status_at
    flow, error, final, client = None, None, False, None
    if settings is None:
        error = "the partner has no usable pa settings any more"
    else:
        try:
            client = client_for(settings, gw.settings.certs_dir)
        except PaConfigError as e:
            error = str(e)
    if client is not None:
        try:
            flow = client.get_flow(flow_id)
        except FlowServiceError as e:
            error, final = str(e), e.http_status == 404
    now = utcnow()
    with gw.session() as s:
        ex = s.get(Exchange, exchange_id)
        if ex.status != "awaiting_mdn" or ex.mdn_message_id != flow_id:
            return ex.status
        status, said = acknowledgement(flow) if flow is not None else ("Pending", "")
        if status in ("Ok", "Error"):
            # one follower settles it, whatever the number of workers polling at once
            if compare_and_set(s, Exchange, Exchange.id == exchange_id, Exchange.status == "awaiting_mdn",
                               Exchange.mdn_at.is_(None), mdn_at=now) != 1:
                s.rollback()
                return s.get(Exchange, exchange_id).status
            ex.mdn_at = now
            ex.mdn_payload_key = gw.payloads.put(json.dumps(flow, ensure_ascii=False).encode("utf-8")).key
            ex.mdn_disposition = f"{status}{': ' + said if said else ''}"[:500]
            ex.next_attempt_at = None
            ex.note(f"flow {flow_id}: the platform answered {_answer(flow)}", at=now)
            if status == "Ok":
                set_status(ex, "acknowledged", f"the platform acknowledged flow {flow_id} (Ok)", at=now)
            else:
                set_status(ex, "failed", f"the platform refused flow {flow_id}: {said or 'Error, without details'}",
                           at=now)
            return ex.status
        if final or (ex.mdn_due_at is not None and now >= ex.mdn_due_at):
            ex.next_attempt_at = None
            why = (f"the platform does not know flow {flow_id}: {error}" if final else
                   f"no acknowledgement of flow {flow_id} by {ex.mdn_due_at:%Y-%m-%d %H:%M:%S}Z"
                   + (f" (last answer: {error})" if error else " (still Pending)"))
            set_status(ex, "failed", why, at=now)
            return ex.status
        ex.next_attempt_at = _next_poll(now, submitted)
        if error:
            ex.note(f"flow {flow_id}: cannot read its acknowledgement now ({error}); next look at "
                    f"{ex.next_attempt_at:%Y-%m-%d %H:%M:%S}Z", at=now)
        return ex.status


def due_follows(gw: Any, *, now: datetime) -> list[int]:
    """Submitted flows whose acknowledgement is due to be read; each claimed for ``FOLLOW_LEASE``."""
    out = []
    with gw.session() as s:
        ids = list(s.scalars(sa.select(Exchange.id).where(
            Exchange.direction == "out", Exchange.channel == NAME, Exchange.status == "awaiting_mdn",
            Exchange.next_attempt_at.is_not(None), Exchange.next_attempt_at <= now).limit(500)))
        for ex_id in ids:
            if compare_and_set(s, Exchange, Exchange.id == ex_id, Exchange.status == "awaiting_mdn",
                               Exchange.next_attempt_at <= now, next_attempt_at=now + FOLLOW_LEASE) == 1:
                out.append(ex_id)
    return out


# --- in ----------------------------------------------------------------------------------------------

@dataclass
class Answer:
    status: int
    body: dict[str, Any]


def _refuse(status: int, code: str, message: str) -> Answer:
    return Answer(status, {"errorCode": code, "errorMessage": message})


def handle_callback(gw: Any, partner_id: int, body: bytes, headers: Mapping[str, str]) -> Answer:
    """One webhook call from a platform (see the module docstring)."""
    with gw.session() as s:
        partner = s.get(Partner, partner_id)
        settings = partner_settings(partner) if partner is not None and partner.active else None
        secret = settings.get("webhook_secret") if settings is not None else None
    if not secret:
        return _refuse(401, "UNKNOWN_WEBHOOK", "no webhook of ours at this address")
    try:
        key = resolve_secret(secret, gw.settings.certs_dir)
        verify_webhook_signature(body, headers, key)
    except (PaConfigError, WebhookSignatureError) as e:
        log.warning("pa webhook for partner %s refused: %s", partner_id, e)
        return _refuse(401, "INVALID_SIGNATURE", "the callback's signature could not be verified")
    try:
        flow = json.loads(body)
        flow_id = check_id(flow.get("flowId")) if isinstance(flow, dict) else None
    except (ValueError, FlowServiceError):
        flow_id = None
    if flow_id is None:
        return _refuse(400, "INVALID_FLOW", "expected a Flow object with its flowId")
    direction, (ack, _) = flow.get("flowDirection"), acknowledgement(flow)
    if direction == "Out":                         # one of ours: read its acknowledgement now
        with gw.session() as s:
            ex_id = s.scalar(sa.select(Exchange.id).where(
                Exchange.direction == "out", Exchange.channel == NAME, Exchange.partner_id == partner_id,
                Exchange.mdn_message_id == flow_id))
        if ex_id is not None:
            gw.jobs.prompt("pa_follow", ex_id)
        return Answer(200, {"flowId": flow_id, "taken": "followed" if ex_id is not None else "unknown flow"})
    if direction != "In" or ack != "Ok":
        return Answer(200, {"flowId": flow_id, "taken": f"nothing to fetch ({direction}, {ack})"})
    return take_flow(gw, partner_id, settings, flow)


def take_flow(gw: Any, partner_id: int, settings: Mapping[str, Any], flow: Mapping[str, Any]) -> Answer:
    """Fetch an In flow (acknowledged Ok) the platform has for us and receive it into the one path,
    once per ``flowId`` (a webhook call, or the catch-up search, ``gateway.channels.pa_catchup``)."""
    from gateway.flow.receive import DuplicateUpload, receive_file

    flow_id = flow["flowId"]
    message_id = MESSAGE_PREFIX + flow_id
    with gw.session() as s:
        seen = s.scalar(sa.select(Exchange.id).where(
            Exchange.direction == "in", Exchange.channel == NAME, Exchange.partner_id == partner_id,
            Exchange.message_id == message_id))
    if seen is not None:
        return Answer(200, {"flowId": flow_id, "taken": f"already received as exchange {seen}"})
    try:
        data, filename, content_type = client_for(settings, gw.settings.certs_dir).get_flow_file(
            flow_id, "Original", max_bytes=gw.settings.max_inbound_size)
    except PaConfigError as e:
        log.error("pa webhook for partner %s: %s", partner_id, e)
        return _refuse(503, "RESOURCE_ERROR", "the flow cannot be fetched now")
    except FlowServiceError as e:
        log.warning("pa webhook for partner %s: fetching flow %s failed: %s", partner_id, flow_id, e)
        return _refuse(502 if e.retryable or e.http_status is None else 422, "FETCH_FAILED",
                       f"fetching flow {flow_id} failed (HTTP {e.http_status or 'none'})")
    expected = flow.get("sha256")
    if isinstance(expected, str) and expected and hashlib.sha256(data).hexdigest() != expected.lower():
        log.warning("pa webhook for partner %s: flow %s's file does not match its sha256", partner_id, flow_id)
        return _refuse(422, "CHECKSUM_MISMATCH", f"the file of flow {flow_id} does not match its sha256")
    name = filename or (flow.get("name") if isinstance(flow.get("name"), str) else None) or f"{flow_id}.xml"
    try:
        ex = receive_file(gw, data, channel=NAME, partner_id=partner_id, filename=name[:255],
                          message_id=message_id, content_type=content_type)
    except DuplicateUpload as dup:
        return Answer(200, {"flowId": flow_id, "taken": f"already received as exchange {dup.exchange_id}"})
    log.info("pa flow %s from partner %s received as exchange %s (%d bytes)", flow_id, partner_id, ex.id, len(data))
    return Answer(200, {"flowId": flow_id, "taken": f"received as exchange {ex.id}"})


CATCH_UP = pa_catchup.Parts(settings=partner_settings, client=client_for, take=take_flow,
                            config_errors=(PaConfigError,))


def catch_up(gw: Any, partner_id: int, now: Optional[datetime] = None) -> dict[str, int]:
    """The sweep's search of a platform's In flows that no webhook brought (``pa_catchup``)."""
    return pa_catchup.catch_up(gw, CATCH_UP, partner_id, now)


class WebhookApp:
    """The callbacks' endpoint, beside the web app (``/pa/webhook/<partner id>``, POST only)."""

    def __init__(self, gw: Any):
        self.gw = gw

    def __call__(self, environ: dict, start_response: Callable) -> Any:
        from werkzeug.exceptions import RequestEntityTooLarge
        from werkzeug.wrappers import Request, Response

        request = Request(environ)
        request.max_content_length = MAX_CALLBACK
        m = re.fullmatch(r"/(\d{1,18})", request.path)
        if m is None:
            answer = _refuse(404, "MISSING_RESOURCE", "no such webhook")
        elif request.method != "POST":
            answer = _refuse(405, "METHOD_NOT_ALLOWED", "callbacks are POSTed")
        else:
            try:
                body = request.get_data(cache=False)
                answer = handle_callback(self.gw, int(m.group(1)), body, dict(request.headers))
            except RequestEntityTooLarge:
                answer = _refuse(413, "FILE_SIZE_EXCEEDED", f"a callback is at most {MAX_CALLBACK} bytes")
        response = Response(json.dumps(answer.body), status=answer.status, mimetype="application/json")
        return response(environ, start_response)


# --- the channel ---------------------------------------------------------------------------------------

class PaChannel(FileChannel):
    name = NAME
    label = "Certified platform (XP Z12-013)"
    labels = {"en": "Certified platform (XP Z12-013)", "fr": "Plateforme agréée (XP Z12-013)"}
    public_paths = (PATH,)
    carries_status = True
    settings_keys = ("flow_url", "token", "client_id", "client_secret", "token_url", "platform_id",
                     "organization_id", "allow_private", "syntax", "profile", "timeout_seconds",
                     "ack_timeout_minutes", "webhook_id", "webhook_secret")

    def validate_settings(self, settings: Mapping[str, Any], *, session: Any = None) -> dict[str, Any]:
        super().validate_settings(settings)
        out: dict[str, Any] = {}
        given = {k: v for k, v in settings.items() if v is not None and v != ""}
        private = flag(given.get("allow_private", False), "pa.allow_private")
        if private:
            out["allow_private"] = True
        if "flow_url" in given:
            out["flow_url"] = _url(given["flow_url"], "pa.flow_url", private)
        if "token" in given:
            out["token"] = secret_reference(given["token"], "pa.token")
        oauth = [k for k in ("client_id", "client_secret", "token_url") if k in given]
        if oauth:
            if "token" in out:
                raise ChannelSettingsError("pa.token", "give a token or client credentials, not both")
            missing = [k for k in ("client_id", "client_secret", "token_url") if k not in given]
            if missing:
                raise ChannelSettingsError(f"pa.{missing[0]}", "OAuth2 client credentials need client_id, "
                                                               "client_secret and token_url")
            out["client_id"] = text(given["client_id"], "pa.client_id", 200)
            out["client_secret"] = secret_reference(given["client_secret"], "pa.client_secret")
            out["token_url"] = _url(given["token_url"], "pa.token_url", private)
        if "platform_id" in given:
            value = str(given["platform_id"]).strip()
            if not _MATRICULE.match(value):
                raise ChannelSettingsError("pa.platform_id", "expected the platform's matricule, 4 digits (e.g. 0145)")
            out["platform_id"] = value
        if "organization_id" in given:
            out["organization_id"] = text(given["organization_id"], "pa.organization_id", 100)
        syntax = given.get("syntax", "UBL")
        match = next((c for c in SYNTAX_CHOICES if isinstance(syntax, str) and c.lower() == syntax.strip().lower()),
                     None)
        if match is None:
            raise ChannelSettingsError("pa.syntax", f"expected one of {', '.join(SYNTAX_CHOICES)}")
        if match != "UBL" or "syntax" in given:
            out["syntax"] = match
        if "profile" in given:
            profile = next((p for p in PROFILES if p != "Undefined" and isinstance(given["profile"], str)
                            and p.lower() == given["profile"].strip().lower()), None)
            if profile is None:
                raise ChannelSettingsError("pa.profile", "expected one of Basic, CIUS, Extended-CTC-FR")
            out["profile"] = profile
        if "timeout_seconds" in given:
            out["timeout_seconds"] = bounded(given["timeout_seconds"], "pa.timeout_seconds", 1, 600)
        if "ack_timeout_minutes" in given:
            out["ack_timeout_minutes"] = bounded(given["ack_timeout_minutes"], "pa.ack_timeout_minutes", 1, 43200)
        if "webhook_id" in given:
            if not is_uuid(given["webhook_id"]):
                raise ChannelSettingsError("pa.webhook_id", "expected the webhook's id the platform gave (a UUID)")
            out["webhook_id"] = given["webhook_id"].lower()
        if "webhook_secret" in given:
            out["webhook_secret"] = secret_reference(given["webhook_secret"], "pa.webhook_secret")
        return out

    def settings_schema(self) -> dict[str, Any]:
        reference = {"type": "string", "pattern": r"^(env:[A-Za-z_][A-Za-z0-9_]{0,127}|file:.{1,500})$",
                     "description": "where the secret is kept: env:NAME or file:PATH (never the secret itself)"}
        return {
            "type": "object", "additionalProperties": False,
            "properties": {
                "flow_url": {"type": "string", "format": "uri", "maxLength": 1000,
                             "description": "the platform's Flow Service base URL (/v1/flows is appended)"},
                "token": reference, "client_id": {"type": "string", "maxLength": 200},
                "client_secret": reference, "token_url": {"type": "string", "format": "uri", "maxLength": 1000},
                "platform_id": {"type": "string", "pattern": r"^\d{4}$", "description": "the platform's matricule"},
                "organization_id": {"type": "string", "maxLength": 100},
                "allow_private": {"type": "boolean"},
                "syntax": {"type": "string", "enum": list(SYNTAX_CHOICES), "default": "UBL"},
                "profile": {"type": "string", "enum": [p for p in PROFILES if p != "Undefined"]},
                "timeout_seconds": {"type": "integer", "minimum": 1, "maximum": 600, "default": DEFAULT_TIMEOUT},
                "ack_timeout_minutes": {"type": "integer", "minimum": 1, "maximum": 43200,
                                        "default": DEFAULT_ACK_TIMEOUT},
                "webhook_id": {"type": "string", "format": "uuid"},
                "webhook_secret": reference,
            },
        }

    def readiness(self, settings: Mapping[str, Any], contact_email: Optional[str]) -> Optional[str]:
        if not settings.get("flow_url"):
            return "the pa channel needs the platform's Flow Service URL (pa.flow_url)"
        if not settings.get("token") and not settings.get("client_id"):
            return "the pa channel needs a token (pa.token) or OAuth2 client credentials (pa.client_id…)"
        return None

    def profile(self, partner: Any, settings: Mapping[str, Any], *, gateway_settings: Any,
                invoice: Any = None, why: str = "") -> PaProfile:
        problem = self.readiness(settings, None)
        if problem:
            raise ChannelSettingsError("pa.flow_url" if "URL" in problem else "pa.token", problem)
        syntax, profile = settings.get("syntax", "UBL"), settings.get("profile")
        fmt = FORMATS.get((syntax, profile)) or FORMATS[(syntax, None)]
        return PaProfile(syntax=syntax, profile=profile, format=fmt, why=why)

    def plan(self, session: Any, plan: DeliveryPlan, partner: Any, invoice: Any) -> DeliveryPlan:
        plan.format, plan.syntaxes, plan.transport = plan.profile.format, (plan.profile.format,), NAME
        return plan

    def send(self, gw: Any, exchange_id: int) -> str:
        return send_flow(gw, exchange_id)

    def tasks(self) -> dict[str, Callable[..., Any]]:
        return {"pa_follow": follow_flow, "pa_catch_up": catch_up}

    def due(self, gw: Any, now: datetime) -> dict[str, int]:
        ids = due_follows(gw, now=now)
        for exchange_id in ids:
            gw.jobs.prompt("pa_follow", exchange_id)
        partners = pa_catchup.due_catch_ups(gw, CATCH_UP, now=now)
        for partner_id in partners:
            gw.jobs.prompt("pa_catch_up", partner_id)
        return {"pa_follows": len(ids), "pa_catch_ups": len(partners)}

    def wsgi_mounts(self, gw: Any) -> dict[str, Callable]:
        return {PATH: WebhookApp(gw)}

    def reaches(self, session: Any, partner: Any) -> bool:
        settings = partner_settings(partner)
        return bool(partner.active and settings and not self.readiness(settings, None))


channel = PaChannel()
