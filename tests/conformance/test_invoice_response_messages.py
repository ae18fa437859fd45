"""Peppol Invoice Responses judged by the official artefacts: every sample of the corpus
(peppol/invoice-response/samples) is read into the status of our life cycle its response code
stands for, and every response we write (each status of ours that is told, with and without a
reason code) passes the UBL 2.1 ApplicationResponse XSD and OpenPeppol's PEPPOLBIS-T111 stylesheet."""
from __future__ import annotations

from datetime import date, datetime, timezone

import pytest

from gateway.delivery import statuses as lifecycle
from gateway.rules import peppol_t111
from gateway.syntaxes import invoice_response as ir
from gateway.syntaxes.invoice_response import IrParty
from gateway.xml import safe
from tests.support.corpus import CORPUS, corpus_files, rel

T111_DIR = CORPUS / "peppol" / "invoice-response"
XSLT_PATH = T111_DIR / "PEPPOLBIS-T111.xslt"
SCH_PATH = T111_DIR / "PEPPOLBIS-T111.sch"
XSD_PATH = CORPUS / "xsd" / "ubl-2.1" / "maindoc" / "UBL-ApplicationResponse-2.1.xsd"
SAMPLES = corpus_files("peppol/invoice-response/samples/*.xml")

# the status each official sample is read into (French cycle, then core cycle), from its use case
EXPECTED = {"InvoiceResponse_Example.xml": ("RE", "refused", "refused"),
            "T111-uc001-Invoice_in_process.xml": ("IP", "in_hand", "received"),
            "T111-uc002a-Additional_reference_data.xml": ("IP", "in_hand", "received"),
            "T111-uc003-Invoice_is_accepted.xml": ("AP", "accepted", "accepted"),
            "T111-uc004a-Invoice_is_rejected.xml": ("RE", "refused", "refused"),
            "T111-uc004b-Rejected_requesting_reissue.xml": ("RE", "refused", "refused"),
            "T111-uc005-Invoice_is_conditionally_accepted.xml": ("CA", "partly_approved", "accepted"),
            "T111-uc006a-Under_query_missing_information.xml": ("UQ", "disputed", "disputed"),
            "T111-uc006b-Missing_PO.xml": ("UQ", "disputed", "disputed")}

BUYER = IrParty("5798000012349", "0088", "5798000012349", "0088", "Acheteur SA")
SELLER = IrParty("100000009", "0002", "100000009", "0002", "Vendeur SARL")
AT = datetime(2026, 9, 2, 10, 30, tzinfo=timezone.utc)


def stylesheet_or_skip():
    """OpenPeppol's compiled T111 stylesheet, or the calling test skipped saying why."""
    from gateway.xml.schematron import load_schematron
    if not XSLT_PATH.is_file():
        pytest.skip(f"no PEPPOLBIS-T111 stylesheet at {XSLT_PATH}")
    try:
        return load_schematron(XSLT_PATH, ruleset="OpenPeppol PEPPOLBIS-T111")
    except Exception as exc:  # noqa: BLE001 - no saxonche
        pytest.skip(f"the PEPPOLBIS-T111 stylesheet cannot run here: {exc}")


@pytest.fixture(scope="module")
def official():
    return stylesheet_or_skip()


@pytest.fixture(scope="module")
def xsd():
    if not XSD_PATH.is_file():
        pytest.skip(f"no UBL ApplicationResponse XSD at {XSD_PATH}")
    from gateway.xml.schema import load_schema
    return load_schema(XSD_PATH)


def written() -> list[tuple[str, ir.InvoiceResponse]]:
    """A response for every status that is told: without a reason, with a French reason code (the
    first the status takes), with a Peppol one, and PD with a partial payment (PPD)."""
    out = []
    for name in lifecycle.STATUSES:
        if ir.response_for(name) is None:
            continue
        st = lifecycle.STATUSES[name]
        for code in (None, (st.reasons or ["AUTRE"])[0], "QTY", "PPD"):
            r = ir.for_status(name, at=AT, response_id=f"F2026-001_{name}_{code}", invoice_number="F2026-001",
                              invoice_date=date(2026, 9, 1), buyer=BUYER, seller=SELLER,
                              reason="3 livrés, 4 facturés" if code else None, reason_code=code)
            out.append((f"{name}-{code}", r))
    return out


WRITTEN = written()


def test_the_corpus_has_the_samples() -> None:
    if not SAMPLES:
        pytest.skip("shared corpus not found")
    assert sorted(p.name for p in SAMPLES) == sorted(EXPECTED)


@pytest.mark.parametrize("path", SAMPLES, ids=[rel(p) for p in SAMPLES])
def test_every_sample_is_read_into_its_status(path) -> None:
    r = ir.read_invoice_response(path.read_bytes())
    code, french, core = EXPECTED[path.name]
    assert (r.response_code, r.status("fr"), r.status("core")) == (code, french, core)
    assert r.invoice_number == "inv021" and r.invoice_type == "380"
    assert r.sender.name == "Buyer organization" and r.receiver.name in ("Seller company",)
    assert r.sender.endpoint_scheme in ("0088", "0196") and r.receiver.endpoint_id
    if code in ("RE", "UQ", "CA"):
        assert r.clarifications and all(c.code for c in r.clarifications)
    if path.name.startswith("T111-uc004a"):
        assert (r.reason_code, ir.our_reason(r.reason_code)) == ("REF", "REF_ERR")
        assert r.reason.startswith("A textual explanation")
    if path.name.startswith("T111-uc005"):
        assert r.clarifications[0].conditions == (("BT-9", "2018-01-15"),)
    if path.name.startswith("T111-uc006a"):
        assert (r.reason_codes, r.action_codes) == (["REF"], ["PIN"])


@pytest.mark.parametrize("path", SAMPLES, ids=[rel(p) for p in SAMPLES])
def test_every_sample_passes_our_rules_and_round_trips(path, xsd) -> None:
    r = ir.read_invoice_response(path.read_bytes())
    again = ir.build_invoice_response(r)
    assert peppol_t111.validate(again) == []
    assert xsd.validate(safe.parse(again)) == []
    assert ir.read_invoice_response(again) == r


@pytest.mark.parametrize("response", [r for _, r in WRITTEN], ids=[n for n, _ in WRITTEN])
def test_every_response_written_passes_the_xsd_and_the_stylesheet(response, xsd, official) -> None:
    data = ir.build_invoice_response(response)
    assert xsd.validate(safe.parse(data)) == []
    assert [f"{f.rule} ({f.severity})" for f in official.run(data)] == []
    assert peppol_t111.validate(data) == []
    back = ir.read_invoice_response(data)
    assert back == response


def test_every_status_is_told_or_said_not_to_be() -> None:
    told = {name: ir.response_for(name).code for name in lifecycle.STATUSES if ir.response_for(name)}
    assert told == {"received": "AB", "in_hand": "IP", "accepted": "AP", "partly_approved": "CA",
                    "disputed": "UQ", "suspended": "UQ", "refused": "RE", "rejected": "RE", "routing_error": "RE",
                    "payment_sent": "PD", "paid": "PD"}
    assert set(lifecycle.STATUSES) - set(told) == set(ir.spec()["not_sent"])
    # each response code read back lands (French cycle) on a status told by that same code; the core
    # cycle, without in_hand and partly_approved, records IP as received and CA as accepted
    for code in ir.spec()["responses"]:
        assert ir.response_for(ir.status_for(code, "fr")).code == code, code
    assert {c: ir.status_for(c, "core") for c in ("IP", "CA")} == {"IP": "received", "CA": "accepted"}


def test_the_reason_codes_go_both_ways() -> None:
    r = ir.for_status("refused", at=AT, response_id="x", invoice_number="F1", buyer=BUYER, seller=SELLER,
                      reason="TVA à 10 %", reason_code="TX_TVA_ERR")
    assert [(c.code, c.list_id, c.reason) for c in r.clarifications] == [("LEG", "OPStatusReason", "TVA à 10 %")]
    assert ir.our_reason("QTY") == "QTE_ERR" and ir.peppol_reason("QTE_ERR") == "QTY"
    s = ir.for_status("suspended", at=AT, response_id="x", invoice_number="F1", buyer=BUYER, seller=SELLER,
                      reason="bon de commande ?", reason_code="JUSTIF_ABS")
    assert [(c.code, c.list_id) for c in s.clarifications] == [("OTH", "OPStatusReason"), ("PIN", "OPStatusAction")]
    assert ir.for_status("cancelled", at=AT, response_id="x", invoice_number="F1", buyer=BUYER, seller=SELLER) is None


def test_the_xsd_and_the_stylesheet_do_reject(xsd, official) -> None:
    """The two judges above can say no: elements out of order, a rejection without clarification."""
    data = ir.build_invoice_response(WRITTEN[0][1])
    swapped = data.replace(b"<cbc:ProfileID>", b"<cbc:Nope/><cbc:ProfileID>")
    assert xsd.validate(safe.parse(swapped))
    ap = ir.build_invoice_response(ir.for_status("accepted", at=AT, response_id="x", invoice_number="F1",
                                                 buyer=BUYER, seller=SELLER))
    assert "PEPPOL-T111-R001" in {f.rule for f in official.run(ap.replace(b">AP<", b">RE<"))}
