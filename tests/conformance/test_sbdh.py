"""Peppol envelopes (SBDH, Business Message Envelope 1.2) against the corpus's test files and the
official XSD (peppol/sbdh/xsd): every good file is read with its values and written again around
its payload into an XSD-valid envelope that reads the same, the payload byte for byte; every bad
file (its name says what is wrong) is refused saying so; an envelope we write with COUNTRY_C1,
MLS_TO and other scopes passes the XSD."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from gateway.model.errors import InputError
from gateway.syntaxes import sbdh
from gateway.syntaxes.sbdh import Participant, Sbdh, Scope
from gateway.xml import safe
from tests.support.corpus import CORPUS, corpus_files

SBDH_DIR = CORPUS / "peppol" / "sbdh"
XSD_PATH = SBDH_DIR / "xsd" / "StandardBusinessDocumentHeader.xsd"
BIS3_DOC = ("urn:oasis:names:specification:ubl:schema:xsd:Invoice-2::Invoice##urn:cen.eu:en16931:2017#compliant"
            "#urn:fdc:peppol.eu:2017:poacc:billing:3.0::2.1")
BIS3_PROC = "urn:fdc:peppol.eu:2017:poacc:billing:01:1.0"
PEPPOL4A = ("urn:oasis:names:specification:ubl:schema:xsd:Invoice-2::Invoice##urn:www.cenbii.eu:transaction:biitrns010"
            ":ver2.0:extended:urn:www.peppol.eu:bis:peppol4a:ver2.0::2.1")
SENDER, RECEIVER = "iso6523-actorid-upis::0088:7315458756324", "iso6523-actorid-upis::0088:4562458856624"

# file -> (document type, process, COUNTRY_C1, MLS_TO, MLS_TYPE, other scopes, created)
GOOD = {
    "peppol-testfiles_good_good-bis3.xml": (BIS3_DOC, BIS3_PROC, "AT", None, None, (), "2019-04-25T15:46:10+00:00"),
    "peppol-testfiles_good_good-bis3-with-country_c1.xml": (BIS3_DOC, BIS3_PROC, "AT", None, None, (),
                                                            "2019-04-25T15:46:10+00:00"),
    "peppol-testfiles_good_good-bis3-with-mls-to.xml": (BIS3_DOC, BIS3_PROC, "AT", "9915:test", None, (),
                                                        "2019-04-25T15:46:10+00:00"),
    "peppol-testfiles_good_good-bis3-full.xml": (BIS3_DOC, BIS3_PROC, "AT", "9915:test", "ALWAYS_SEND", (),
                                                 "2019-04-25T15:46:10+00:00"),
    "peppol-testfiles_good_good.xml": (PEPPOL4A, "urn:www.cenbii.eu:profile:bii04:ver1.0", "AT", None, None, (),
                                       "2013-02-19T05:10:10+00:00"),
    "peppol-testfiles_good_good-additional-scopes.xml": (
        PEPPOL4A, "urn:www.cenbii.eu:profile:bii04:ver1.0", "AT", None, None,
        (Scope("any", "other"), Scope("any2", "other2")), "2013-02-19T05:10:10+00:00"),
    "ph-sbdh_sample4.xml": (
        "urn:fdc:peppol:transaction-statistics-report:1.0::TransactionStatisticsReport##urn:fdc:peppol.eu:edec:trns:"
        "transaction-statistics-reporting:1.0::1.0", "urn:fdc:peppol.eu:edec:bis:reporting:1.0", None, None, None, (),
        "2020-08-26T15:07:25.296000+02:00"),
}
# file -> what the refusal says; ph-sbdh's samples 1 and 3 are generic SBDHs, not Peppol envelopes
BAD = {
    "peppol-testfiles_bad_bad-invalid-standard.xml": "the Standard 'Error' is not the business document's namespace",
    "peppol-testfiles_bad_bad-mls-to-invalid-value.xml": "the MLS_TO 'test' is not a participant identifier",
    "peppol-testfiles_bad_bad-no-business-scope.xml": "no BusinessScope",
    "peppol-testfiles_bad_bad-no-sbdh.xml": "has no StandardBusinessDocumentHeader",
    "ph-sbdh_sample1.xml": "the root element is StandardBusinessDocumentHeader",
    "ph-sbdh_sample3.xml": "HeaderVersion '2.2' is not 1.0",
}
# its ubl:/cac:/cbc: prefixes are declared on the envelope's root: the payload cannot stand alone as it is
NEEDS_THE_ENVELOPES_NAMESPACES = {"peppol-testfiles_good_good-bis3.xml"}
FILES = corpus_files("peppol/sbdh/*.xml")


@pytest.fixture(scope="module")
def xsd():
    if not XSD_PATH.is_file():
        pytest.skip(f"no SBDH XSD at {XSD_PATH}")
    from gateway.xml.schema import load_schema
    return load_schema(XSD_PATH)


def test_every_corpus_file_is_classified() -> None:
    if not FILES:
        pytest.skip("shared corpus not found")
    assert sorted(p.name for p in FILES) == sorted(set(GOOD) | set(BAD))


@pytest.mark.parametrize("name", sorted(GOOD))
def test_every_good_file_reads_and_round_trips(name: str, xsd) -> None:
    data = (SBDH_DIR / name).read_bytes()
    h = sbdh.read_sbdh(data)
    doc, proc, country, mls_to, mls_type, others, created = GOOD[name]
    if name.startswith("ph-"):
        assert (h.sender.id, h.receiver.id) == ("iso6523-actorid-upis::9915:yerlibilgin",
                                                "iso6523-actorid-upis::9999:yersizbilgin")
    else:
        assert (h.sender.id, h.receiver.id) == (SENDER, RECEIVER)
    assert h.sender.authority == "iso6523-actorid-upis" and h.sender.value.startswith(("0088:", "9915:"))
    assert (h.document_type, h.document_type_scheme, h.process, h.process_scheme) == (
        doc, "busdox-docid-qns", proc, "cenbii-procid-ubl")
    assert h.document_type_id == f"busdox-docid-qns::{doc}" and h.process_id == f"cenbii-procid-ubl::{proc}"
    assert (h.country_c1, h.mls_to.value if h.mls_to else None, h.mls_type, h.other_scopes) == (
        country, mls_to, mls_type, others)
    assert h.created_at == datetime.fromisoformat(created) and h.instance_identifier
    if name in NEEDS_THE_ENVELOPES_NAMESPACES:                 # written out with its declarations
        assert h.payload not in data and safe.parse(h.payload).tag.endswith("}Invoice")
    else:
        assert h.payload in data                               # the payload as it stands, byte for byte
    assert h.standard == safe.parse(h.payload_document()).nsmap.get(safe.parse(h.payload_document()).prefix)
    again = sbdh.build_sbdh(h, h.payload_document())
    assert xsd.validate(safe.parse(again)) == []
    back = sbdh.read_sbdh(again)
    assert back.payload == h.payload and h.payload in again
    assert back == h


@pytest.mark.parametrize("name", sorted(BAD))
def test_every_bad_file_is_refused_saying_why(name: str) -> None:
    with pytest.raises(InputError, match=BAD[name].replace("(", r"\(").replace(")", r"\)")):
        sbdh.read_sbdh((SBDH_DIR / name).read_bytes())


def test_an_envelope_we_write_with_every_scope_passes_the_xsd(xsd) -> None:
    invoice = (CORPUS / "peppol" / "invoice-response" / "samples" / "T111-uc003-Invoice_is_accepted.xml")
    if not invoice.is_file():
        pytest.skip("shared corpus not found")
    payload = invoice.read_bytes()
    header = Sbdh(sender=Participant.parse("iso6523-actorid-upis::0196:6963495890"),
                  receiver=Participant.parse("0196:6841569459"),
                  document_type="urn:oasis:names:specification:ubl:schema:xsd:ApplicationResponse-2::"
                                "ApplicationResponse##urn:fdc:peppol.eu:poacc:trns:invoice_response:3::2.1",
                  process="urn:fdc:peppol.eu:poacc:bis:invoice_response:3", country_c1="FR",
                  mls_to=Participant("0009:10000000900017"), mls_type="FAILURE_ONLY",
                  other_scopes=(Scope("EXTRA", "x", "scheme"),), instance_identifier="b0b2c9f4-1",
                  created_at=datetime(2026, 9, 2, 10, 30, tzinfo=timezone.utc))
    data = sbdh.build_sbdh(header, payload)
    assert xsd.validate(safe.parse(data)) == []
    assert payload.split(b"?>", 1)[1].strip() in data           # the payload's bytes, untouched
    h = sbdh.read_sbdh(data)
    assert (h.country_c1, h.mls_to.id, h.mls_type, h.type, h.standard) == (
        "FR", "iso6523-actorid-upis::0009:10000000900017", "FAILURE_ONLY", "ApplicationResponse",
        "urn:oasis:names:specification:ubl:schema:xsd:ApplicationResponse-2")
    assert h.created_at == header.created_at and h.other_scopes == header.other_scopes
    assert h.payload == payload[payload.index(b"<ApplicationResponse"):].rstrip()   # the element, as given
    # the XSD can say no: an envelope without its HeaderVersion
    assert xsd.validate(safe.parse(data.replace(b"<sh:HeaderVersion>1.0</sh:HeaderVersion>", b"")))


def test_every_corpus_file_reads_the_same_a_few_bytes_at_a_time(monkeypatch) -> None:
    """The streaming reader's windows (``sbdh_scan.WINDOW``) cut the official files anywhere: the
    same header, the same payload, the same refusal."""
    if not FILES:
        pytest.skip("shared corpus not found")
    from gateway.syntaxes import sbdh_scan

    def outcome(data: bytes):
        try:
            h = sbdh.read_sbdh(data)
            return h, h.payload, h.place
        except InputError as e:
            return str(e)
    whole = {p.name: outcome(p.read_bytes()) for p in FILES}
    monkeypatch.setattr(sbdh_scan, "WINDOW", 13)
    assert {p.name: outcome(p.read_bytes()) for p in FILES} == whole
    assert sum(isinstance(v, tuple) for v in whole.values()) == len(GOOD)
