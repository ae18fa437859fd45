"""Peppol: invoices to participants found through the SML and their SMP, over AS4 with an SBDH.

**Out.** A recipient reached through Peppol has a participant identifier: its
``peppol.participant`` setting (``0208:123456789`` or ``iso6523-actorid-upis::…``),
else its first identifier under an ISO 6523 scheme. Its invoice is written as UBL
(Peppol BIS 3), the document type (Invoice or CreditNote) and the BIS 3 process
chosen from it; at send time discovery (``gateway.networks.peppol.discovery``)
names the access point: a final refusal (not registered, not served…) fails the
delivery with its reason, a passing one (DNS or SMP down, time-out) is retried.
The document goes in an SBDH (``gateway.syntaxes.sbdh``: sender and receiver,
document type, process, COUNTRY_C1 from the seller's address) over AS4
(``gateway.transports.as4``) to the endpoint's URL, encrypted to the endpoint's
certificate. The MessageId is fixed at the first attempt and reused by every
retry; the raw message and the Receipt are kept on the exchange, which is
``acknowledged`` only by a Receipt signed by that certificate, naming our
MessageId and the digests we sent.

**Anyone on Peppol.** A partner on this channel with ``peppol.network: true`` stands
for the Peppol network itself: routing (``gateway.flow.route``) sends it an invoice
whose buyer no member, directory line or interconnected network answers, when the
buyer's electronic address (BT-49) is under an ISO 6523 scheme, and the participant
is then the buyer's address; discovery at send time says whether it is registered.

**In.** ``/as4`` (``EDIGATE_PEPPOL_AS4_PATH``, public like ``/as2``) receives from
access points that are partners of ours: known by their AP certificate on record
(``Certificate`` rows of an active partner). An unknown access point is refused
(EBMS:0101) unless ``EDIGATE_PEPPOL_AS4_ALLOW_STRANGERS=true`` *and* its
certificate's whole chain leads to an anchor of ``EDIGATE_PEPPOL_AP_TRUST`` (PEM: the
network's root and AP CAs; ``gateway.networks.peppol.ap_trust``). The SBDH is
checked against the message (originalSender / finalRecipient) and the final
recipient must be one of our active members (else EBMS:0004 PEPPOL:NOT_SERVICED);
the business document inside enters the one path as received from that access
point, after the exchange (raw message, SBDH, Receipt) is committed.

A new message must be dated (its signed eb:Timestamp) within the acceptance window
(``EDIGATE_PEPPOL_AS4_MAX_AGE``, ``_AS4_CLOCK_SKEW``; ``as4.freshness``), else EBMS:0103;
one already received is answered with its first Receipt whatever its age (by MessageId,
in the database), and stored once.

**Answers.** An access point that sends us invoices is a partner known by its
certificate: it ``reaches`` its participants through the network, so a status of an
invoice it brought goes back as an Invoice Response addressed to the seller's participant
(the response's ReceiverParty), found by discovery like any recipient. That is the
default status syntax of a partner that stands for an access point (``is_access_point``:
an AP certificate, or ``peppol.network: true``; ``gateway.partners.defaults``), unless it
chose another. An Invoice Response received here (``relays_participants``)
moves the invoice we delivered over Peppol to the buyer it names.

Our access point signs and decrypts with ``EDIGATE_PEPPOL_AP_KEY`` (PEM) and the
certificate our SMP publishes (``EDIGATE_PEPPOL_AP_CERT``); without them, with the
SMP's key pair (what ``gateway.web.smp`` publishes then). A rollover adds
``EDIGATE_PEPPOL_AP_NEXT_CERT`` / ``_KEY`` and ``_AP_SWITCH_AT`` (``identity``).
"""
from __future__ import annotations

import copy
import logging
import os
import re
import threading
import weakref
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Mapping, Optional

import sqlalchemy as sa
from cryptography import x509
from lxml import etree
from sqlalchemy.exc import IntegrityError

from gateway.db import Certificate, Exchange, Partner, PartnerIdentifier, utcnow
from gateway.delivery.attempts import settle_failure
from gateway.delivery.channel import ChannelSettingsError, DeliveryPlan
from gateway.delivery.outbound import FileChannel
from gateway.delivery.state import set_status
from gateway.model.errors import InputError
from gateway.networks.peppol import identifiers as ids
from gateway.networks.peppol.refusal import Refusal
from gateway.transports import as4
from gateway.transports.as4.config import common_name, fingerprint

log = logging.getLogger("edigate.peppol")

NAME = "peppol"
UBL_NS = {"Invoice": "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2",
          "CreditNote": "urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2",
          "ApplicationResponse": "urn:oasis:names:specification:ubl:schema:xsd:ApplicationResponse-2"}
CAC = "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"
CBC = "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"
DOCTYPES = {"Invoice": ids.BIS3_INVOICE, "CreditNote": ids.BIS3_CREDIT_NOTE,
            "ApplicationResponse": ids.INVOICE_RESPONSE}
PROCESSES = {"Invoice": ids.BIS3_PROCESS, "CreditNote": ids.BIS3_PROCESS,
             "ApplicationResponse": ids.INVOICE_RESPONSE_PROCESS}
ENV = "EDIGATE_PEPPOL_"
#: BT-24 of a Peppol BIS Billing 3.0 invoice: the customization its document type names
BIS3_CUSTOMIZATION = ids.BIS3_INVOICE.split("##", 1)[1].rsplit("::", 1)[0]


def _flag(name: str) -> bool:
    return (os.environ.get(ENV + name) or "").strip().lower() in ("1", "true", "yes", "on")


def peppol_settings(gw: Any):
    from gateway.networks.peppol.settings import load
    return load(gw.settings)


# --- our access point -------------------------------------------------------------------------------

_identity_lock = threading.Lock()
_identities: dict[str, tuple[as4.As4Identity, Optional[as4.As4Identity]]] = {}     # (now, after a switch)


def identity(gw: Any, *, now: Optional[datetime] = None) -> as4.As4Identity:
    """Our access point's key and certificate (made once per process and settings). During a
    rollover (``EDIGATE_PEPPOL_AP_NEXT_CERT`` and ``_KEY``) both keys decrypt, and the one that
    signs is the current one until ``AP_SWITCH_AT`` (default: the next certificate's notBefore),
    the next one from then on: what our SMP publishes at each instant (``publish.Signer``)."""
    from gateway.certs import KeyPair, ensure_dev_keypair
    ps = peppol_settings(gw)
    key_env = (os.environ.get(ENV + "AP_KEY") or "").strip()
    now = now or utcnow()
    cache_key = f"{ps.certs_dir}|{ps.smp_key}|{ps.ap_cert}|{key_env}|{ps.ap_next_cert}|{ps.ap_next_key}"
    with _identity_lock:
        found = _identities.get(cache_key)
        if found is None:
            if key_env and ps.ap_cert:
                kp = KeyPair.load(Path(key_env), ps.ap_cert)
            elif ps.smp_key is not None:
                kp = KeyPair.load(ps.smp_key, ps.smp_cert)
            else:
                kp = ensure_dev_keypair(ps.certs_dir / "dev", "peppol-smp", common_name="edigate SMP")
            nxt = KeyPair.load(ps.ap_next_key, ps.ap_next_cert) if ps.ap_next_key and ps.ap_next_cert else None
            found = _identities[cache_key] = (as4.As4Identity(kp, previous_keys=(nxt,) if nxt else ()),
                                              as4.As4Identity(nxt, previous_keys=(kp,)) if nxt else None)
    current, after = found
    if after is None:
        return current
    switch = ps.ap_switch_at or after.certificate.not_valid_before_utc
    return after if now.astimezone(timezone.utc) >= switch.astimezone(timezone.utc) else current


# --- the SBDH (gateway.syntaxes.sbdh) and the UBL document -----------------------------------------

@dataclass
class UblFacts:
    """What the envelope needs from the invoice: its kind, the seller's participant and country,
    the buyer's participant."""
    root: str
    seller: Optional[str]
    buyer: Optional[str]
    country: Optional[str]


def ubl_facts(data: bytes) -> UblFacts:
    """For an invoice or credit note: its seller (the sender) and buyer; for an Invoice Response
    (T111): its SenderParty (the buyer answering) and ReceiverParty, the country C1 from the
    sender's scheme when it is one country's (``ids.ICD_COUNTRIES``), since a response has no address."""
    from gateway.xml import safe
    root = safe.parse(data)
    q = etree.QName(root)
    if q.localname not in UBL_NS or q.namespace != UBL_NS[q.localname]:
        raise ValueError(f"not a UBL Invoice, CreditNote or ApplicationResponse ({q.localname})")

    def endpoint(path: str) -> Optional[str]:
        el = root.find(path)
        if el is None or not (el.text or "").strip() or not el.get("schemeID"):
            return None
        return f"{el.get('schemeID').strip()}:{''.join(el.text.split())}"

    if q.localname == "ApplicationResponse":
        sender = endpoint(f"{{{CAC}}}SenderParty/{{{CBC}}}EndpointID")
        receiver = endpoint(f"{{{CAC}}}ReceiverParty/{{{CBC}}}EndpointID")
        country = ids.ICD_COUNTRIES.get(sender.split(":", 1)[0]) if sender else None
        return UblFacts(q.localname, sender, receiver, country)
    country = root.findtext(f"{{{CAC}}}AccountingSupplierParty/{{{CAC}}}Party/{{{CAC}}}PostalAddress/"
                            f"{{{CAC}}}Country/{{{CBC}}}IdentificationCode")
    return UblFacts(q.localname, endpoint(f"{{{CAC}}}AccountingSupplierParty/{{{CAC}}}Party/{{{CBC}}}EndpointID"),
                    endpoint(f"{{{CAC}}}AccountingCustomerParty/{{{CAC}}}Party/{{{CBC}}}EndpointID"),
                    (country or "").strip().upper() or None)


def wrap(document: bytes, sender: str, receiver: str, doctype: ids.DocumentTypeId, process: ids.ProcessId,
         country: str) -> bytes:
    from gateway.syntaxes.sbdh import Participant, Sbdh, build_sbdh
    return build_sbdh(Sbdh(sender=Participant(sender), receiver=Participant(receiver),
                           document_type=doctype.value, document_type_scheme=doctype.scheme,
                           process=process.value, process_scheme=process.scheme, country_c1=country), document)


def unwrap(data: bytes):
    from gateway.syntaxes.sbdh import read_sbdh
    return read_sbdh(data)


# --- recipients -----------------------------------------------------------------------------------

def is_network(partner: Any) -> bool:
    """Whether ``partner`` stands for the Peppol network (an active partner on this channel with
    ``peppol.network: true``): what routing sends invoices for unknown Peppol participants to."""
    mine = ((getattr(partner, "channel_settings", None) or {}).get(NAME) or {})
    return bool(getattr(partner, "active", False) and getattr(partner, "preferred_channel", None) == NAME
                and mine.get("network") is True)


#: the organisational units OpenPeppol's access point CAs write into an access point's certificate
AP_CERTIFICATE_UNITS = ("PEPPOL TEST AP", "PEPPOL PRODUCTION AP")
_UNIT = re.compile(r"(?:^|,)OU=([^,]*)(?:,|$)", re.IGNORECASE)


def is_access_point(partner: Any) -> bool:
    """Whether ``partner`` stands for another Peppol access point: it stands for the network
    (``is_network``), or one of its active certificates is an access point's (its OU is one of
    ``AP_CERTIFICATE_UNITS``): what ``Inbox.find_partner`` knows a sending access point by."""
    if is_network(partner):
        return True
    for cert in getattr(partner, "certificates", None) or ():
        if cert.active and any(unit.strip().upper() in AP_CERTIFICATE_UNITS
                               for unit in _UNIT.findall(cert.subject or "")):
            return True
    return False


def participant_of(partner: Any, settings: Mapping[str, Any]) -> Optional[ids.ParticipantId]:
    if settings.get("network"):
        return None                              # the network itself: the invoice's buyer is the participant
    if settings.get("participant"):
        return ids.ParticipantId.parse(settings["participant"])
    for ident in getattr(partner, "identifiers", None) or ():
        p = ids.from_partner(ident.scheme, ident.value)
        if p is not None:
            return p
    return None


@dataclass(frozen=True)
class PeppolProfile:
    participant: str = ""
    format: str = "ubl"
    why: str = ""
    channel: str = field(default=NAME, init=False)


# --- out ------------------------------------------------------------------------------------------

def send_message(gw: Any, exchange_id: int) -> str:
    """One attempt at a claimed outbound Peppol exchange (see the module docstring)."""
    from gateway.networks.peppol.discovery import find_endpoint
    with gw.session() as s:
        ex = s.get(Exchange, exchange_id)
        partner = ex.partner
        try:
            settings = channel.validate_settings((partner.channel_settings or {}).get(NAME) or {}) if partner else {}
            content = gw.payloads.get(ex.content_sha256)
            facts = ubl_facts(content)
            receiver = participant_of(partner, settings) or (
                ids.ParticipantId.parse(facts.buyer) if facts.buyer else None)
            if receiver is None:
                raise ValueError("the recipient has no Peppol participant identifier (peppol.participant, an "
                                 "ISO 6523 identifier, or the invoice's buyer EndpointID)")
            if not facts.seller:
                raise ValueError("the document names no sender EndpointID (an invoice's BT-34, a response's "
                                 "SenderParty): the SBDH needs the sender")
            if not facts.country:
                raise ValueError("the document names no sender country (an invoice's BT-40; a response's sender "
                                 "scheme of one country): the SBDH needs COUNTRY_C1")
            doctype = ids.DocumentTypeId(ids.DEFAULT_DOCTYPE_SCHEME, DOCTYPES[facts.root])
            process = ids.ProcessId.parse(PROCESSES[facts.root])
            ps = peppol_settings(gw)
            me = identity(gw)
        except (ValueError, InputError, ChannelSettingsError) as e:
            set_status(ex, "failed", f"cannot build the Peppol message: {e}")
            return ex.status
        message_id = ex.message_id or as4.message.new_message_id()
        ex.message_id = message_id
    answer = find_endpoint(ps, receiver, doctype, process)
    if isinstance(answer, Refusal):
        why = f"Peppol discovery of {receiver}: {answer.reason} ({answer.reason_fr})"
        return settle_failure(gw, exchange_id, why, retryable=not answer.final)
    try:
        sbd = wrap(content, facts.seller, receiver.value, doctype, process, facts.country)
        them = as4.As4Partner(common_name(answer.certificate) or "unknown", [answer.certificate],
                              url=answer.url, allow_private=ps.allow_private)
        outbound = as4.build(sbd, identity=me, partner=them, message_id=message_id, addressing=as4.Addressing(
            from_party=me.party_id, to_party=them.party_id, original_sender=facts.seller,
            final_recipient=receiver.value, process=process.value, process_scheme=process.scheme,
            action=doctype.uri))
    except ValueError as e:
        with gw.session() as s:
            ex = s.get(Exchange, exchange_id)
            set_status(ex, "failed", f"cannot build the Peppol message: {e}")
            return ex.status
    raw = gw.payloads.put(outbound.raw)
    with gw.session() as s:
        ex = s.get(Exchange, exchange_id)
        ex.payload_key, ex.payload_size = raw.key, raw.size
        ex.as2_from, ex.as2_to = me.party_id, them.party_id
        ex.mdn_mode = "sync"
        ex.note(f"to {receiver} at {answer.url} (access point {them.party_id}), MessageId {message_id}")
    try:
        result = as4.send(outbound)
    except as4.As4SendError as e:
        return settle_failure(gw, exchange_id, f"AS4 to {answer.url}: {e}", retryable=e.retryable)
    now = utcnow()
    with gw.session() as s:
        ex = s.get(Exchange, exchange_id)
        if result.raw:
            ex.mdn_payload_key = gw.payloads.put(result.raw).key
        ex.mdn_message_id = result.signal_message_id or None
        ex.mdn_at = now
        if result.delivered:
            ex.mdn_disposition = "receipt"
            set_status(ex, "acknowledged", f"AS4 receipt {result.signal_message_id} verified (signature, "
                                           "MessageId, digests)", at=now)
            return ex.status
        ex.mdn_disposition = (result.error_code or result.kind)[:500]
    if result.kind == "error":
        retry = result.error_code in as4.errors.RETRYABLE
        if not retry:
            with gw.session() as s:
                ex = s.get(Exchange, exchange_id)
                set_status(ex, "rejected", f"AS4 error signal {result.summary}", at=now)
                return ex.status
        return settle_failure(gw, exchange_id, f"AS4 error signal {result.summary}", retryable=True)
    return settle_failure(gw, exchange_id, f"AS4 answer not accepted: {result.summary}", retryable=True)


# --- in -------------------------------------------------------------------------------------------

class Inbox:
    """The database side of our AS4 endpoint: partners by certificate, duplicates, store, records."""

    def __init__(self, gw: Any):
        self.gw = gw
        self._read: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()    # payload -> its Sbdh
        self._lock = threading.Lock()

    def endpoint(self) -> as4.As4Endpoint:
        return as4.As4Endpoint(identity=lambda: identity(self.gw), find_partner=self.find_partner,
                               find_duplicate=self.find_duplicate, store=self.store, check=self.check,
                               on_inbound=self.on_inbound, max_bytes=self.gw.settings.max_inbound_size)

    def find_partner(self, party_id: Optional[str], cert: Optional[x509.Certificate]) -> Optional[as4.As4Partner]:
        if cert is None:
            return None
        fp = fingerprint(cert)
        with self.gw.session() as s:
            row = s.execute(sa.select(Certificate.pem, Partner.id, Partner.name).join(Partner, Certificate.partner_id == Partner.id)
                            .where(Certificate.fingerprint_sha256 == fp, Certificate.active.is_(True),
                                   Partner.active.is_(True)).limit(1)).first()
        if row is not None:
            return as4.As4Partner(party_id or common_name(cert) or "", [row[0].encode()], name=row[2], partner_id=row[1])
        if _flag("AS4_ALLOW_STRANGERS") and self._trusted(cert):
            return as4.As4Partner(party_id or common_name(cert) or "", [cert], name=f"access point {party_id}")
        return None

    @staticmethod
    def _trusted(cert: x509.Certificate) -> bool:
        """Its whole chain verified to an anchor of ``EDIGATE_PEPPOL_AP_TRUST``, valid now
        (``gateway.networks.peppol.ap_trust``)."""
        from gateway.networks.peppol import ap_trust
        path = (os.environ.get(ENV + "AP_TRUST") or "").strip()
        if not path:
            return False
        bundle = x509.load_pem_x509_certificates(Path(path).expanduser().read_bytes())
        why = ap_trust.verify(cert, bundle)
        if why is not None:
            log.warning("access point %s not trusted: %s", common_name(cert), why)
        return why is None

    def find_duplicate(self, message_id: str, partner: as4.As4Partner) -> Optional[bytes]:
        with self.gw.session() as s:
            q = sa.select(Exchange.mdn_payload_key).where(
                Exchange.direction == "in", Exchange.channel == NAME, Exchange.message_id == message_id,
                Exchange.refused.is_(False),
                Exchange.partner_id.is_(None) if partner.partner_id is None else Exchange.partner_id == partner.partner_id)
            key = s.scalar(q.limit(1))
        return self.gw.payloads.get(key) if key else None

    def check(self, payload, env: as4.Envelope, partner: as4.As4Partner) -> None:
        """A new message is within the acceptance window (``as4.freshness``: EBMS:0103 else), its
        SBDH agrees with the message, and its receiver is one of our members (``payload``: the
        transport's spooled payload)."""
        from gateway.transports.as4 import freshness
        ps = peppol_settings(self.gw)
        freshness.check(env.timestamp, freshness.Freshness(timedelta(seconds=ps.as4_max_age),
                                                           timedelta(seconds=ps.as4_clock_skew)))
        try:
            sbd = self._envelope(payload)
        except InputError as e:
            raise as4.As4Refusal("EBMS:0004", f"the payload is not a valid SBDH: {e}") from None
        from gateway.transports.as4 import ns
        for what, said, got in (("originalSender", env.prop(ns.ORIGINAL_SENDER), sbd.sender.value),
                                ("finalRecipient", env.prop(ns.FINAL_RECIPIENT), sbd.receiver.value)):
            if (said or "").lower() != (got or "").lower():
                raise as4.As4Refusal("EBMS:0003", f"the SBDH names {got!r} where {what} says {said!r}")
        if sbd.document_type_id != env.action or sbd.process != env.service:
            raise as4.As4Refusal("EBMS:0003", "the SBDH's document type or process is not the message's "
                                              "Action / Service")
        key = ids.partner_key(ids.ParticipantId.parse(sbd.receiver.value))
        with self.gw.session() as s:
            member = key is not None and s.scalar(
                sa.select(Partner.id).join(PartnerIdentifier).where(
                    PartnerIdentifier.scheme == key[0], PartnerIdentifier.value == key[1],
                    Partner.active.is_(True)).limit(1)) is not None
        if not member:
            raise as4.As4Refusal("EBMS:0004", f"{sbd.receiver.value} is not served by this access point",
                                 description=as4.PEPPOL_NOT_SERVICED)

    def _envelope(self, payload):
        """The SBDH of a spooled payload, read once for ``check`` and ``store`` (the header parsed,
        the business document located, not read: ``gateway.syntaxes.sbdh.read_header``)."""
        from gateway.syntaxes.sbdh import read_header
        with self._lock:
            found = self._read.get(payload)
        if found is None:
            found = read_header(payload)
            with self._lock:
                self._read[payload] = found
        return found

    def store(self, payload, meta: dict) -> None:
        """The raw message, the SBDH and the business document (streamed out of the spooled SBDH,
        byte for byte as it stands there: ``document_chunks``), then the exchange."""
        from gateway.syntaxes.sbdh import document_chunks
        sbd = self._envelope(payload)
        raw = self.gw.payloads.put(meta["raw_message"])          # read in chunks
        envelope = self.gw.payloads.put(payload.reader())
        content = self.gw.payloads.put(document_chunks(payload, sbd))
        with self._lock:
            self._read.pop(payload, None)
        receipt = self.gw.payloads.put(meta["receipt"])
        partner = meta["partner"]
        with self.gw.session() as s:
            ex = Exchange.inbound(NAME, partner_id=partner.partner_id, as2_from=meta["from_party"],
                                  as2_to=meta["to_party"], message_id=meta["message_id"],
                                  filename=f"{sbd.type or 'document'}.xml", content_type="application/xml",
                                  payload_key=raw.key, payload_size=raw.size,
                                  content_sha256=content.key, content_size=content.size,
                                  mdn_mode="sync", mdn_message_id=meta["receipt_id"], mdn_payload_key=receipt.key,
                                  mdn_disposition="receipt")
            ex.set_status("stored", f"{content.size} bytes from {sbd.sender.value} to {sbd.receiver.value} "
                                    f"({sbd.document_type_id[:200]}); SBDH kept as {envelope.key}; signed by "
                                    f"{meta['signer_sha256'][:16]}…, decrypted, decompressed")
            s.add(ex)
            try:
                s.flush()
            except IntegrityError:
                raise as4.DuplicateMessage(meta["message_id"]) from None

    def on_inbound(self, result: as4.InboundResult) -> None:
        if not result.message_id or result.status in ("store-failed", "too-large"):
            return
        now = utcnow()
        process_id = None
        partner_id = result.partner.partner_id if result.partner else None
        with self.gw.session() as s:
            if result.status in ("processed", "duplicate"):
                ex = s.scalar(sa.select(Exchange).where(
                    Exchange.direction == "in", Exchange.channel == NAME, Exchange.message_id == result.message_id,
                    Exchange.refused.is_(False),
                    Exchange.partner_id.is_(None) if partner_id is None else Exchange.partner_id == partner_id))
                if ex is None:
                    return
                if result.status == "duplicate":
                    ex.note("sent again (duplicate MessageId); answered with the same receipt", at=now)
                if ex.status == "stored":
                    ex.mdn_at = now
                    ex.set_status("acknowledged", "AS4 receipt returned", at=now)
                    process_id = ex.id
            elif result.status == "refused":
                ref = self.gw.payloads.put(result.raw_message) if result.raw_message else None
                rec = Exchange.inbound(NAME, partner_id=partner_id, as2_from=result.from_party,
                                       as2_to=result.to_party, message_id=result.message_id, refused=True,
                                       payload_key=ref.key if ref else None, payload_size=ref.size if ref else None,
                                       mdn_mode="sync", mdn_message_id=result.signal_id,
                                       mdn_disposition=result.error_code)
                rec.set_status("rejected", f"{result.error_code} {as4.errors.short(result.error_code or '')}: "
                                           f"{result.error} ({as4.errors.french(result.error_code or '')})", at=now)
                rec.mdn_payload_key = self.gw.payloads.put(result.response_body).key
                rec.mdn_at = now
                s.add(rec)
        if process_id is not None:
            self.gw.jobs.process(process_id)


# --- the channel ----------------------------------------------------------------------------------

class PeppolChannel(FileChannel):
    name = NAME
    label = "Peppol (AS4)"
    labels = {"en": "Peppol (AS4)", "fr": "Peppol (AS4)"}
    carries_status = True
    #: the partners of this channel are access points speaking for their participants: a status
    #: message received from one names the participant answering, not the partner (see
    #: ``gateway.flow.invoice_response_status``)
    relays_participants = True
    settings_keys = ("participant", "network")

    @property
    def public_paths(self) -> tuple[str, ...]:       # type: ignore[override]
        return ((os.environ.get(ENV + "AS4_PATH") or "/as4").rstrip("/") or "/as4",)

    def validate_settings(self, settings: Mapping[str, Any], *, session: Any = None) -> dict[str, Any]:
        super().validate_settings(settings)
        out: dict[str, Any] = {}
        if settings.get("participant"):
            try:
                out["participant"] = ids.ParticipantId.parse(str(settings["participant"])).uri
            except ids.IdentifierError as e:
                raise ChannelSettingsError("peppol.participant", str(e)) from None
        network = settings.get("network", False)
        if network not in (True, False):
            raise ChannelSettingsError("peppol.network", "expected true or false")
        if network:
            if "participant" in out:
                raise ChannelSettingsError("peppol.network", "the Peppol network itself has no participant "
                                                             "identifier of its own: give one or the other")
            out["network"] = True
        return out

    def default_status_syntax(self, partner: Any) -> Optional[str]:
        """Another access point hears of its invoices' statuses as Invoice Responses (BIS 3 T111),
        sent back over Peppol to the participant that sent each invoice, unless it chose otherwise
        (``gateway.partners.defaults``)."""
        return "invoice-response" if is_access_point(partner) else None

    def settings_schema(self) -> dict[str, Any]:
        return {"type": "object", "additionalProperties": False, "properties": {
            "participant": {"type": "string", "maxLength": 170,
                            "description": "the recipient's Peppol participant id, e.g. 0208:0123456789"},
            "network": {"type": "boolean",
                        "description": "this partner stands for the Peppol network: invoices to buyers found "
                                       "nowhere else go to their electronic address (BT-49) through it"}}}

    def profile(self, partner: Any, settings: Mapping[str, Any], *, gateway_settings: Any,
                invoice: Any = None, why: str = "") -> PeppolProfile:
        p = participant_of(partner, settings)
        return PeppolProfile(participant=p.uri if p else "", why=why)

    def document(self, plan: DeliveryPlan, invoice: Any) -> Any:
        """The invoice as Peppol BIS Billing 3.0, which its SBDH announces (the document type names
        that customization, the process is BIS 3's): BT-24 and BT-23 say so."""
        pc = getattr(invoice, "process_control", None)
        if pc is not None and (pc.specification_identifier, pc.business_process) == (BIS3_CUSTOMIZATION,
                                                                                    ids.BIS3_PROCESS):
            return invoice
        from gateway.model.invoice import ProcessControl
        out = copy.deepcopy(invoice)
        out.process_control = ProcessControl(business_process=ids.BIS3_PROCESS,
                                             specification_identifier=BIS3_CUSTOMIZATION)
        return out

    def plan(self, session: Any, plan: DeliveryPlan, partner: Any, invoice: Any) -> DeliveryPlan:
        plan.format, plan.syntaxes, plan.transport = "ubl", ("ubl",), NAME
        if not getattr(plan.profile, "participant", "") and not _buyer_endpoint(invoice):
            plan.failure = ("no Peppol participant identifier for this recipient (peppol.participant or an "
                            "ISO 6523 identifier) / aucun identifiant de participant Peppol pour ce destinataire")
        return plan

    def send(self, gw: Any, exchange_id: int) -> str:
        return send_message(gw, exchange_id)

    def wsgi_mounts(self, gw: Any) -> dict[str, Callable]:
        return {peppol_settings(gw).as4_path: as4.wsgi_app(Inbox(gw).endpoint())}

    def reaches(self, session: Any, partner: Any) -> bool:
        """A participant (its identifier), or another access point known by its certificate: what
        it sent came from one of its participants, and an answer (an Invoice Response) goes back
        through the network to the participant the answer names (``send_message``)."""
        if not partner.active:
            return False
        if participant_of(partner, (partner.channel_settings or {}).get(NAME) or {}):
            return True
        return session.scalar(sa.select(Certificate.id).where(
            Certificate.partner_id == partner.id, Certificate.active.is_(True)).limit(1)) is not None


def _buyer_endpoint(invoice: Any) -> bool:
    buyer = getattr(invoice, "buyer", None)
    return bool(getattr(buyer, "electronic_address", None)) if buyer is not None else False


channel = PeppolChannel()
