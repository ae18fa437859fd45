"""Peppol SMP answers: the corpus's real ones read and their signatures judged; ours judged by the XSD.

The corpus (``peppol/smp/``) holds real SMP answers of 2016-2019 taken from
peppol-commons' tests, with their XMLDSig signatures, and the busdox SMP XSDs.
What is checked:

* ``signed-service-metadata3-c14n-inclusive.xml`` (a reference without a
  canonicalisation transform, so its digest is over inclusive C14N 1.0) verifies
  against the certificate it carries, at a time that certificate was valid
  (2020-08-01): the same verdict peppol-commons' SignedServiceMetadataTypeFuncTest
  gives with OpenPeppol's SMP CA; its endpoints (AS2 and
  ``peppol-transport-as4-v2_0``) are read;
* ``signed-service-metadata1.xml``'s signature does NOT verify, with the
  certificate it carries either: peppol-commons' own test (``testReadInvalid``)
  finds the same, so the corpus keeps a real broken answer;
* both are refused today (their certificates expired) and without SHA-1 allowed
  (they are RSA-SHA1: current SMPs sign with RSA-SHA256);
* the unsigned samples (phoss-SMP's ServiceGroup, busdox and OASIS BDXR, and
  ServiceMetadata) are read;
* what our SMP writes (``publish``) is valid against ``peppol-smp-types-v1-ext.xsd``
  (its imports resolved to the XSDs beside it) and reads back the same.

Chaining the corpus signers to OpenPeppol's SMP CA (G2) was checked by hand
against peppol-commons' copy of that CA certificate (metadata3: trusted at
2020-08-01; a root-only trust store: refused, the intermediate is not sent);
the CA certificate is not in the corpus, so the test uses the carried one.
"""
from __future__ import annotations

import base64
import re
from datetime import datetime, timezone
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from lxml import etree

from gateway.networks.peppol import identifiers as ids
from gateway.networks.peppol import publish, smp
from gateway.networks.peppol.refusal import DiscoveryError
from tests.support.corpus import CORPUS, requires_corpus
from tests.support.peppol_pki import PeppolTestCA

SMP_DIR = CORPUS / "peppol" / "smp"
METADATA1 = SMP_DIR / "peppol-commons_signed-service-metadata1.xml"
METADATA3 = SMP_DIR / "peppol-commons_signed-service-metadata3-c14n-inclusive.xml"
AS4 = "peppol-transport-as4-v2_0"

pytestmark = requires_corpus


def _carried_certificate(path: Path, tmp_path: Path) -> Path:
    """The signer's certificate as the answer carries it, as a PEM trust anchor."""
    b64 = re.search(rb"<(?:\w+:)?X509Certificate>([^<]+)<", path.read_bytes()).group(1)
    cert = x509.load_der_x509_certificate(base64.b64decode(b64))
    anchor = tmp_path / f"{path.stem}.pem"
    anchor.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return anchor


def test_inclusive_c14n_answer_verifies_against_its_certificate_when_it_was_valid(tmp_path):
    anchor = _carried_certificate(METADATA3, tmp_path)
    signed, signer = smp.verify(METADATA3.read_bytes(), anchor, allow_sha1=True,
                                at=datetime(2020, 8, 1, tzinfo=timezone.utc))
    assert signer.subject.rfc4514_string() == "C=NL,O=eConnect International B.V.,OU=PEPPOL PRODUCTION SMP,CN=PNL000052"
    md = smp.read_service_metadata(signed, signer=signer)
    assert md.participant == ids.ParticipantId.parse("iso6523-actorid-upis::0106:55872255")
    assert md.document_type.value.startswith("urn:oasis:names:specification:ubl:schema:xsd:Invoice-2::Invoice##")
    assert [(e.transport_profile, e.url) for e in md.endpoints] == [
        ("busdox-transport-as2-ver1p0", "https://peppolap.everbinding.nl/as2"),
        (AS4, "https://ap.econnect.eu/as4/v1")]
    as4 = smp.choose(md, ids.ProcessId.parse("cenbii-procid-ubl::urn:www.cenbii.eu:profile:bii04:ver1.0"), AS4,
                     datetime(2020, 1, 1, tzinfo=timezone.utc))
    assert as4.certificate.subject.get_attributes_for_oid(x509.oid.NameOID.COMMON_NAME)[0].value == "PNL000052"
    assert as4.expiration == datetime(2020, 8, 4, 23, 59, 59, tzinfo=timezone.utc)
    with pytest.raises(DiscoveryError) as late:     # the service had expired by then
        smp.choose(md, as4.process, AS4, datetime(2021, 1, 1, tzinfo=timezone.utc))
    assert late.value.code == "not_active"


def test_broken_real_answer_is_refused_as_peppol_commons_refuses_it(tmp_path):
    anchor = _carried_certificate(METADATA1, tmp_path)
    with pytest.raises(DiscoveryError) as refused:
        smp.verify(METADATA1.read_bytes(), anchor, allow_sha1=True, at=datetime(2021, 1, 1, tzinfo=timezone.utc))
    assert refused.value.code == "bad_signature"
    # unverified, it still reads: the refusal is the signature's, not the parser's
    md = smp.read_service_metadata(etree.fromstring(METADATA1.read_bytes()))
    assert md.participant.value == "0088:5026744000002"
    assert md.endpoints[0].transport_profile == "busdox-transport-as2-ver1p0"


@pytest.mark.parametrize("kwargs, code", [
    ({"allow_sha1": True}, "untrusted_signer"),                                       # expired today
    ({"at": datetime(2020, 8, 1, tzinfo=timezone.utc)}, "bad_signature"),            # SHA-1 not accepted
])
def test_old_answers_refused_by_default(tmp_path, kwargs, code):
    anchor = _carried_certificate(METADATA3, tmp_path)
    with pytest.raises(DiscoveryError) as refused:
        smp.verify(METADATA3.read_bytes(), anchor, **kwargs)
    assert refused.value.code == code
    if code == "bad_signature":
        assert "SHA1" in refused.value.reason


def test_untrusted_anchor_refuses_a_real_answer(tmp_path):
    other = PeppolTestCA("someone else").write_anchor(tmp_path / "other.pem")
    with pytest.raises(DiscoveryError) as refused:
        smp.verify(METADATA3.read_bytes(), other, allow_sha1=True, at=datetime(2020, 8, 1, tzinfo=timezone.utc))
    assert refused.value.code == "untrusted_signer"


@pytest.mark.parametrize("name", ["phoss-smp_peppol-service-group.xml", "phoss-smp_bdxr1-service-group.xml"])
def test_service_groups_read(name):
    group = smp.read_service_group((SMP_DIR / name).read_bytes())
    assert group.participant == ids.ParticipantId.parse("iso6523-actorid-upis::9915:XXX")
    assert group.references == []


def test_unsigned_service_metadata_sample_is_read_but_its_dummy_certificate_refused():
    root = etree.fromstring((SMP_DIR / "phoss-smp_peppol-service-metadata.xml").read_bytes())
    with pytest.raises(DiscoveryError) as refused:          # <Certificate>blacert</Certificate>
        smp.read_service_metadata(root)
    assert refused.value.code == "bad_answer" and "certificate" in refused.value.reason


def _smp_schema() -> etree.XMLSchema:
    xsd = SMP_DIR / "xsd"
    imports = {"http://www.w3.org/2000/09/xmldsig#": "xmldsig-core-schema.xsd",
               smp.NS_IDS: "peppol-identifiers-v1.xsd",
               "http://www.w3.org/2005/08/addressing": "ws-addr.xsd",
               smp.NS_SMP: "peppol-smp-types-v1-ext.xsd"}
    driver = ('<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" targetNamespace="urn:edigate:driver">'
              + "".join(f'<xs:import namespace="{ns}" schemaLocation="{(xsd / f).as_uri()}"/>'
                        for ns, f in imports.items()) + "</xs:schema>")
    parser = etree.XMLParser(no_network=True, resolve_entities=False)
    return etree.XMLSchema(etree.fromstring(driver.encode(), parser, base_url=(xsd / "driver.xsd").as_uri()))


def test_our_answers_are_valid_smp_documents_and_read_back(tmp_path):
    ca = PeppolTestCA()
    key, cert = ca.issue("PSG000099").write(tmp_path, "smp")
    anchor = ca.write_anchor(tmp_path / "anchor.pem")
    signer = publish.Signer.load(key, cert)
    participant = ids.ParticipantId.parse("iso6523-actorid-upis::0225:123456789_12345678900012")
    schema = _smp_schema()

    group = publish.service_group(participant, "https://gw.example/smp", publish.services())
    schema.assertValid(etree.fromstring(group))
    assert {d.value for d in smp.read_service_group(group).document_types} == \
        {ids.BIS3_INVOICE, ids.BIS3_CREDIT_NOTE, ids.INVOICE_RESPONSE}

    service = publish.services()[0]
    signed = publish.service_metadata(participant, service.document_type, [service.process],
                                      endpoint_url="https://gw.example/as4", transport_profile=AS4, signer=signer)
    schema.assertValid(etree.fromstring(signed))
    root, signer_cert = smp.verify(signed, anchor)
    endpoint = smp.choose(smp.read_service_metadata(root, signer=signer_cert), service.process, AS4)
    assert endpoint.url == "https://gw.example/as4" and endpoint.participant == participant
    assert endpoint.certificate == signer.endpoint_cert
    assert b"rsa-sha256" in signed and b"xml-exc-c14n" in signed
