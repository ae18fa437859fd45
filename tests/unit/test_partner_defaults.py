"""A partner's defaults by what it is: another Peppol access point (an active certificate of
OpenPeppol's AP profile, or ``peppol.network: true``) hears of its invoices' statuses as Invoice
Responses when it chose nothing; its own choice always wins; a partner with an ordinary
certificate, or whose AP certificate is retired, keeps APERAK; the flow's answer
(``lifecycle.status_syntax``) is the default's."""
from __future__ import annotations

import pytest

from gateway.certs import make_self_signed
from gateway.db import Certificate, DocumentRecord, Partner
from gateway.flow import lifecycle
from gateway.partners import defaults
from tests.support.peppol_pki import PeppolTestCA


@pytest.fixture(scope="module")
def ca():
    return PeppolTestCA("edigate TEST AP CA")


def _partner(*certs: bytes, **values) -> Partner:
    p = Partner(name="P", **values)
    for pem in certs:
        p.certificates.append(Certificate.from_pem(pem, usage="signing", active=True))
    return p


def test_another_access_point_hears_invoice_responses_unless_it_chose(ca) -> None:
    ap_cert = ca.issue("PFR000001", ou="PEPPOL TEST AP").cert_pem
    production = ca.issue("PBE000007", ou="PEPPOL PRODUCTION AP").cert_pem
    ap = _partner(ap_cert)
    assert defaults.status_syntax(ap) == "invoice-response"
    assert defaults.status_syntax(_partner(production)) == "invoice-response"
    network = _partner(preferred_channel="peppol", channel_settings={"peppol": {"network": True}}, active=True)
    assert defaults.status_syntax(network) == "invoice-response"
    for chosen in ("none", "cdar", "aperak"):                  # its own choice wins
        assert defaults.status_syntax(_partner(ap_cert, status_syntax=chosen)) == chosen
    assert lifecycle.status_syntax(DocumentRecord(sender=ap)) == "invoice-response"
    assert lifecycle.status_syntax(DocumentRecord(sender=_partner(ap_cert, status_syntax="none"))) is None


def test_other_partners_keep_aperak(ca) -> None:
    as2 = _partner(make_self_signed("ACME-AS2", key_size=2048).cert_pem)      # an AS2 partner's certificate
    smp = _partner(ca.issue("PSG000002").cert_pem)                           # an SMP's, not an access point's
    retired = _partner(ca.issue("PFR000009", ou="PEPPOL TEST AP").cert_pem)
    retired.certificates[0].active = False
    participant = _partner(preferred_channel="peppol", channel_settings={"peppol": {"participant": "0208:1"}})
    for p in (as2, smp, retired, participant, _partner()):
        assert defaults.status_syntax(p) is None
        assert lifecycle.status_syntax(DocumentRecord(sender=p)) == "aperak"
