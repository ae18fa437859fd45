"""An ``edigate serve`` that receives Peppol AS4, and an access point that sends to it.

``Peppol4World.create(folder)`` issues access point certificates from a test CA (as
OpenPeppol's AP CA does), prepares a gateway home whose ``/as4`` decrypts and signs with
its own, and puts on record a member (the final recipient, 0208:0123456789) and the
sending access point (its certificate, as the channel finds partners). ``message(i)``
builds a signed and encrypted UserMessage carrying invoice ``i`` in an SBDH, with our
outbound AS4 code, as another access point would send it. Used by the crash test and
``bench/as4.py``.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from gateway.certs import KeyPair
from gateway.transports import as4

from tests.support.gateway_process import GatewayProcess
from tests.support.peppol_pki import PeppolTestCA

MEMBER = "0208:0123456789"          # served by the gateway
SELLER = "0208:0192837465"          # the invoices' sender


@dataclass
class Sent:
    """One message as built: its id, the AS4 message, and the document the gateway should store."""
    message_id: str
    outbound: as4.OutboundMessage
    document: bytes

    @property
    def document_sha256(self) -> str:
        return hashlib.sha256(self.document).hexdigest()


@dataclass
class Peppol4World:
    server: GatewayProcess
    sender: as4.As4Identity            # the sending access point
    gateway_ap: as4.As4Partner         # the gateway's access point as the sender knows it
    sender_partner_id: int

    @classmethod
    def create(cls, folder: Path, *, port: Optional[int] = None, extra_env: Optional[dict] = None) -> "Peppol4World":
        from gateway.db import Certificate, Partner
        from gateway.networks.peppol import identifiers as ids
        ca = PeppolTestCA("edigate TEST AP CA")
        gw_key, gw_cert = ca.issue("PFR000002", ou="PEPPOL TEST AP").write(folder / "pki", "ap-gateway")
        s_key, s_cert = ca.issue("PFR000001", ou="PEPPOL TEST AP").write(folder / "pki", "ap-sender")
        server = GatewayProcess(folder / "gateway", port=port, processes=None, extra_env={
            "EDIGATE_PEPPOL_AP_CERT": str(gw_cert), "EDIGATE_PEPPOL_AP_KEY": str(gw_key), **(extra_env or {})})
        gw = server.gateway()
        try:
            with gw.session() as s:
                member = Partner(name="Member")
                member.add_identifier(*ids.partner_key(ids.ParticipantId.parse(MEMBER)))
                ap = Partner(name="Access point PFR000001")
                s.add_all([member, ap])
                s.flush()
                s.add(Certificate.from_pem(s_cert.read_bytes(), usage="signing", partner_id=ap.id))
                ap_id = ap.id
        finally:
            gw.close()
        sender = as4.As4Identity(KeyPair.load(s_key, s_cert))
        them = as4.As4Partner("PFR000002", [gw_cert.read_bytes()], url=f"{server.base}/as4", allow_private=True)
        return cls(server, sender, them, ap_id)

    def message(self, i: int, document: Optional[bytes] = None, prefix: str = "AS4") -> Sent:
        """Invoice number ``{prefix}-{i:05d}`` (or ``document``), from SELLER to MEMBER, in an SBDH,
        signed and encrypted to the gateway's access point."""
        from gateway.channels import peppol
        from gateway.networks.peppol import identifiers as ids
        document = document if document is not None else invoice(i, prefix)
        facts = peppol.ubl_facts(document)
        doctype = ids.DocumentTypeId(ids.DEFAULT_DOCTYPE_SCHEME, peppol.DOCTYPES[facts.root])
        process = ids.ProcessId.parse(peppol.PROCESSES[facts.root])
        sbd = peppol.wrap(document, SELLER, MEMBER, doctype, process, "FR")
        out = as4.build(sbd, identity=self.sender, partner=self.gateway_ap, addressing=as4.Addressing(
            from_party=self.sender.party_id, to_party=self.gateway_ap.party_id, original_sender=SELLER,
            final_recipient=MEMBER, process=process.value, process_scheme=process.scheme, action=doctype.uri))
        return Sent(out.message_id, out, peppol.unwrap(sbd).payload_document())


def invoice(i: int, prefix: str = "AS4") -> bytes:
    """A Peppol-addressed UBL invoice numbered ``{prefix}-{i:05d}``, from SELLER to MEMBER."""
    from gateway.model.invoice import Identifier
    from gateway.syntaxes import write_document
    from tests.support.invoice_builder import build_invoice
    inv = build_invoice()
    inv.number = f"{prefix}-{i:05d}"
    inv.seller.electronic_address = Identifier(SELLER.split(":")[1], "0208")
    inv.buyer.electronic_address = Identifier(MEMBER.split(":")[1], "0208")
    return write_document(inv, "ubl").data
