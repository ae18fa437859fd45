"""ERP pull API (``/api/v1/erp``) on a real Gateway (SQLite + payload store under tmp_path),
through Flask's test client: invoices reach the recipients through the real pipeline
(``receive_file`` → process → route → a delivery on the ``erp`` channel), and every
answer is checked against the records and the bytes read back. The JSON form of the model
on its own is tested in tests/unit/test_model_json.py.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from decimal import Decimal

import pytest
import sqlalchemy as sa
from werkzeug.http import parse_options_header

from gateway.db import Delivery, DocumentRecord, Partner, RenderingRecord, User, issue_token
from gateway.syntaxes import read_documents, write_document
from gateway.syntaxes.csv_syntax import dialect
from gateway.flow.receive import receive_file
from gateway.model.invoice import Identifier
from gateway.model.json_form import FORMAT, from_dict
from gateway.runtime import Gateway
from gateway.web import create_app

from tests.support.invoice_builder import build_invoice

D = Decimal
ERP = "/api/v1/erp"
ALPHA_GLN, BETA_GLN, GAMMA_GLN = "4000001000005", "4000002000004", "4000003000003"


# --- fixtures ------------------------------------------------------------------------------

@pytest.fixture
def gw(make_gateway, tmp_path):
    return make_gateway(tmp_path)


@pytest.fixture
def client(gw):
    return create_app(gw, testing=True).test_client()


@dataclass
class World:
    gw: Gateway
    partners: dict[str, int] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)
    users: dict[str, int] = field(default_factory=dict)

    def auth(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}

    def receive(self, number: str, gln: str, *, net: Decimal = D("100.00")) -> int:
        """An invoice for the buyer with GLN ``gln`` through the real pipeline; its document id."""
        inv = build_invoice(net=net)
        inv.number = number
        inv.buyer.electronic_address = Identifier(gln, "0088")
        ex = receive_file(self.gw, write_document(inv, "ubl").data, channel="api", filename=f"{number}.xml")
        with self.gw.session() as s:
            doc = s.scalar(sa.select(DocumentRecord).where(DocumentRecord.exchange_id == ex.id))
            # the pipeline makes an ERP delivery available at once: nothing to send, the ERP pulls
            assert [(d.channel, d.status) for d in doc.deliveries] in ([("erp", "delivered")], [("portal", "delivered")])
            return doc.id

    def delivery(self, document_id: int) -> Delivery:
        with self.gw.session() as s:
            d = s.scalar(sa.select(Delivery).where(Delivery.document_id == document_id))
            d.history, d.document          # loaded for the caller
            return d


@pytest.fixture
def world(gw) -> World:
    """Recipients Alpha (ERP, CSV) and Beta (ERP, UBL), Gamma (portal, not ERP); a recipient
    login with a token for Alpha and for Beta, an operator, a staff member."""
    w = World(gw)
    with gw.session() as s:
        for name, gln, fmt, channel in (("Alpha", ALPHA_GLN, "csv-lines", "erp"), ("Beta", BETA_GLN, "ubl", "erp"),
                                        ("Gamma", GAMMA_GLN, "ubl", "portal")):
            p = Partner(name=name, preferred_format=fmt, preferred_channel=channel)
            p.add_identifier("0088", gln)
            s.add(p)
            s.flush()
            w.partners[name] = p.id
        for name, role, partner in (("alpha-erp", "recipient", "Alpha"), ("beta-erp", "recipient", "Beta"),
                                    ("olivia", "operator", None), ("sam", "staff", None)):
            user = User.create(name, "password-" + name, role,
                               partner_id=w.partners[partner] if partner else None)
            s.add(user)
            s.flush()
            w.users[name] = user.id
            w.tokens[name] = issue_token(s, user, "erp-test")[1]
    return w


def _list(client, world, who, **query):
    r = client.get(f"{ERP}/invoices", query_string=query, headers=world.auth(who))
    assert r.status_code == 200, r.get_json()
    return r.get_json()


def _ids(page) -> list[int]:
    return [item["id"] for item in page["items"]]


def _ack(client, world, who, ids, **query):
    r = client.post(f"{ERP}/invoices/ack", json={"ids": ids}, query_string=query, headers=world.auth(who))
    assert r.status_code == 200, r.get_json()
    return r.get_json()


# --- listing -------------------------------------------------------------------------------

def test_available_invoices_oldest_first_with_summary_model_and_links(client, world) -> None:
    first = world.receive("A-001", ALPHA_GLN, net=D("100.00"))
    second = world.receive("A-002", ALPHA_GLN, net=D("250.50"))
    page = _list(client, world, "alpha-erp")
    assert _ids(page) == [first, second] and page["next_cursor"] is None
    item = page["items"][1]
    d = world.delivery(second)
    assert (item["delivery_id"], item["status"], item["format"]) == (d.id, "available", "csv-lines")
    assert (item["number"], item["issue_date"], item["currency"], item["type_code"]) == \
        ("A-002", "2024-03-01", "EUR", "380")
    assert D(item["totals"]["without_vat"]) == D("250.50")
    assert D(item["totals"]["with_vat"]) == D("250.50") + (D("250.50") * 19 / 100).quantize(D("0.01"))
    assert item["sender"]["name"] == "Seller AG" and item["sender"]["vat_id"] == "DE123456789"
    assert item["sender"]["endpoint"] == {"scheme": "EM", "value": "seller@example.com"}
    assert item["acknowledged_at"] is None and item["available_at"] is not None
    # the JSON model is the invoice read from the original, term for term
    assert item["model"] == FORMAT
    with world.gw.session() as s:
        doc = s.get(DocumentRecord, second)
        original = read_documents(world.gw.payloads.get(doc.exchange.content_sha256))[0].invoice
    assert from_dict(item["invoice"]) == original
    assert item["invoice"]["totals"]["total_without_vat"] == "250.50"          # a string, as written
    assert item["links"]["self"] == f"{ERP}/invoices/{second}"
    assert item["links"]["content"]["ubl"] == f"{ERP}/invoices/{second}/content?format=ubl"
    assert client.get(item["links"]["self"], headers=world.auth("alpha-erp")).get_json()["id"] == second


def test_only_erp_deliveries_that_are_available_are_listed(client, world) -> None:
    mine = world.receive("A-010", ALPHA_GLN)
    world.receive("G-010", GAMMA_GLN)                       # the portal recipient's: not ERP
    with world.gw.session() as s:                           # a failed ERP delivery is not available
        extra = world.receive("A-011", ALPHA_GLN)
        d = s.scalar(sa.select(Delivery).where(Delivery.document_id == extra))
        s.delete(d)
        s.flush()
        doc = s.get(DocumentRecord, extra)
        failed = Delivery.new(doc, s.get(Partner, world.partners["Alpha"]), format="csv-lines", channel="erp")
        failed.set_status("failed", "cannot write csv-lines")
        s.add(failed)
    assert _ids(_list(client, world, "alpha-erp")) == [mine]
    r = client.get(f"{ERP}/invoices/{extra}", headers=world.auth("alpha-erp"))
    assert r.status_code == 404
    ack = _ack(client, world, "alpha-erp", [extra])
    assert ack["refused"] == [{"id": extra, "status": "failed",
                               "reason": "not available to acknowledge: the delivery is failed"}]
    assert ack["acknowledged"] == [] and ack["unknown"] == []


def test_pages_follow_the_cursor_without_gaps_or_repeats(client, world) -> None:
    ids = [world.receive(f"A-1{n:02d}", ALPHA_GLN, net=D(100 + n)) for n in range(5)]
    seen, cursor, pages = [], None, 0
    while True:
        page = _list(client, world, "alpha-erp", limit=2, **({"cursor": cursor} if cursor else {}))
        pages += 1
        assert len(page["items"]) <= 2 and page["limit"] == 2
        seen += _ids(page)
        if pages == 1:                              # acknowledging between pages moves nothing
            _ack(client, world, "alpha-erp", _ids(page))
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ids and pages == 3
    # a new pull starts from the beginning: everything not acknowledged, and only that
    assert _ids(_list(client, world, "alpha-erp")) == ids[2:]


@pytest.mark.parametrize("mangle", [
    lambda c: "not-a-cursor",
    lambda c: c[:-2] + ("AA" if not c.endswith("AA") else "BB"),          # signature broken
    lambda c: c.split(".")[0][:-1] + "x." + c.split(".")[1],              # payload changed
])
def test_a_cursor_not_issued_here_is_a_clear_400(client, world, mangle) -> None:
    for n in range(3):
        world.receive(f"A-2{n}", ALPHA_GLN)
    cursor = _list(client, world, "alpha-erp", limit=1)["next_cursor"]
    assert cursor
    r = client.get(f"{ERP}/invoices", query_string={"cursor": mangle(cursor)}, headers=world.auth("alpha-erp"))
    assert r.status_code == 400
    body = r.get_json()
    assert body["error"] == "invalid query parameters: cursor"
    assert "not a cursor this API issued" in body["details"]["cursor"]


def test_a_cursor_of_another_partner_and_bad_limits_are_refused(client, world) -> None:
    for n in range(2):
        world.receive(f"B-2{n}", BETA_GLN)
    beta_cursor = _list(client, world, "beta-erp", limit=1)["next_cursor"]
    r = client.get(f"{ERP}/invoices", query_string={"cursor": beta_cursor}, headers=world.auth("alpha-erp"))
    assert r.status_code == 400
    assert r.get_json()["details"] == {"cursor": "this cursor was issued for another partner"}
    for limit in ("0", "101", "ten", "-1"):
        r = client.get(f"{ERP}/invoices", query_string={"limit": limit}, headers=world.auth("alpha-erp"))
        assert r.status_code == 400 and "limit" in r.get_json()["details"], limit


# --- who sees what -------------------------------------------------------------------------

def test_each_recipient_sees_only_its_own_invoices(client, world) -> None:
    a = world.receive("A-300", ALPHA_GLN)
    b = world.receive("B-300", BETA_GLN)
    assert _ids(_list(client, world, "alpha-erp")) == [a]
    assert _ids(_list(client, world, "beta-erp")) == [b]
    for path in (f"/invoices/{a}", f"/invoices/{a}/content?format=ubl", f"/invoices/{a}/content?format=original"):
        r = client.get(ERP + path, headers=world.auth("beta-erp"))
        assert r.status_code == 404, path
        assert r.get_json()["error"] == f"no invoice {a} for this recipient"
    ack = _ack(client, world, "beta-erp", [a, b])
    assert (ack["acknowledged"], ack["unknown"]) == ([b], [a])
    assert world.delivery(a).status == "delivered"                         # untouched
    r = client.get(f"{ERP}/invoices", query_string={"partner": world.partners["Alpha"]},
                   headers=world.auth("beta-erp"))
    assert r.status_code == 403 and "its own partner only" in r.get_json()["error"]


def test_operators_name_the_partner_and_staff_cannot_pull(client, world) -> None:
    a = world.receive("A-400", ALPHA_GLN)
    r = client.get(f"{ERP}/invoices", headers=world.auth("olivia"))
    assert r.status_code == 400 and "partner" in r.get_json()["details"]
    page = _list(client, world, "olivia", partner=world.partners["Alpha"])
    assert _ids(page) == [a]
    assert page["items"][0]["links"]["self"] == f"{ERP}/invoices/{a}?partner={world.partners['Alpha']}"
    assert _ids(_list(client, world, "olivia", partner=world.partners["Beta"])) == []
    assert client.get(f"{ERP}/invoices?partner=999999", headers=world.auth("olivia")).status_code == 404
    assert client.get(f"{ERP}/invoices?partner=x", headers=world.auth("olivia")).status_code == 400
    r = client.get(f"{ERP}/invoices", query_string={"partner": world.partners["Alpha"]}, headers=world.auth("sam"))
    assert r.status_code == 403
    assert client.get(f"{ERP}/invoices").status_code == 401
    ack = _ack(client, world, "olivia", [a], partner=world.partners["Alpha"])
    assert ack["acknowledged"] == [a]
    assert world.delivery(a).history[-1].reason.startswith("acknowledged over the ERP pull API by olivia (token edg_")


# --- acknowledgement -----------------------------------------------------------------------

def test_acknowledgement_is_recorded_idempotent_and_reports_every_id(client, world) -> None:
    a1, a2 = world.receive("A-500", ALPHA_GLN), world.receive("A-501", ALPHA_GLN)
    ack = _ack(client, world, "alpha-erp", [a1, a1, a2])
    assert ack == {"acknowledged": [a1, a2], "already_acknowledged": [], "unknown": [], "refused": []}
    d = world.delivery(a1)
    assert d.status == "acknowledged"
    token_prefix = world.tokens["alpha-erp"][:12]
    assert d.history[-1].status == "acknowledged"
    assert d.history[-1].reason == f"acknowledged over the ERP pull API by alpha-erp (token {token_prefix}…)"
    assert d.document.status == "delivered"               # every delivery of the document ended
    again = _ack(client, world, "alpha-erp", [a2, 987654, a1])
    assert again == {"acknowledged": [], "already_acknowledged": [a2, a1], "unknown": [987654], "refused": []}
    assert len([e for e in world.delivery(a1).history if e.status == "acknowledged"]) == 1
    assert _list(client, world, "alpha-erp")["items"] == []
    detail = client.get(f"{ERP}/invoices/{a1}", headers=world.auth("alpha-erp")).get_json()
    assert detail["status"] == "acknowledged" and detail["acknowledged_at"] is not None


@pytest.mark.parametrize("body", [None, [], {"id": [1]}, {"ids": "1"}, {"ids": []}, {"ids": ["1"]},
                                  {"ids": [True]}, {"ids": [0]}, {"ids": [1.5]}, {"ids": list(range(1, 1002))}])
def test_acknowledgement_bodies_that_are_refused(client, world, body) -> None:
    a = world.receive("A-600", ALPHA_GLN)
    kwargs = {"json": body} if body is not None else {"data": b"ids=1"}
    r = client.post(f"{ERP}/invoices/ack", headers=world.auth("alpha-erp"), **kwargs)
    assert r.status_code == 400
    assert r.get_json()["error"]
    assert world.delivery(a).status == "delivered"


# --- content -------------------------------------------------------------------------------

@pytest.mark.parametrize("fmt, media_type, suffix", [
    ("json", "application/json", ".json"), ("ubl", "application/xml", ".xml"),
    ("cii", "application/xml", ".xml"), ("facturx", "application/pdf", ".pdf"),
    ("csv", "text/csv", ".csv"), ("original", "application/xml", ".xml"),
])
def test_each_format_reads_back_as_the_same_invoice_and_stays_the_same(client, world, fmt, media_type,
                                                                       suffix) -> None:
    a = world.receive("A-700", ALPHA_GLN, net=D("321.09"))
    url = f"{ERP}/invoices/{a}/content?format={fmt}"
    r = client.get(url, headers=world.auth("alpha-erp"))
    assert r.status_code == 200, r.get_json()
    assert r.mimetype == media_type
    disposition, options = parse_options_header(r.headers["Content-Disposition"])
    assert (disposition, options["filename"]) == ("attachment", f"A-700{suffix}")
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    data = r.data
    invoice = from_dict(json.loads(data)) if fmt == "json" else read_documents(data)[0].invoice
    assert invoice.number == "A-700"
    assert invoice.totals.total_without_vat == D("321.09")
    assert invoice.totals.amount_due == D("321.09") + (D("321.09") * 19 / 100).quantize(D("0.01"))
    assert client.get(url, headers=world.auth("alpha-erp")).data == data          # same bytes again
    if fmt not in ("json", "original"):
        syntax = "csv-lines" if fmt == "csv" else fmt                            # Alpha's dialect
        with world.gw.session() as s:
            kept = s.scalars(sa.select(RenderingRecord).where(RenderingRecord.document_id == a,
                                                              RenderingRecord.syntax == syntax)).all()
            assert len(kept) == 1                                                # written once, kept
            assert world.gw.payloads.get(kept[0].payload_key) == data


def test_content_defaults_to_the_recipients_format_and_refuses_unknown_ones(client, world) -> None:
    b = world.receive("B-700", BETA_GLN)
    r = client.get(f"{ERP}/invoices/{b}/content", headers=world.auth("beta-erp"))
    assert r.status_code == 200
    with world.gw.session() as s:
        (rendering,) = s.get(DocumentRecord, b).renderings           # the pipeline's, not a new one
        assert rendering.syntax == "ubl"
        assert world.gw.payloads.get(rendering.payload_key) == r.data
    r = client.get(f"{ERP}/invoices/{b}/content?format=docx", headers=world.auth("beta-erp"))
    assert r.status_code == 400 and "docx" in r.get_json()["details"]["format"]
    r = client.get(f"{ERP}/invoices/{b}/content?format=csv-records", headers=world.auth("beta-erp"))
    assert r.status_code == 200 and read_documents(r.data)[0].invoice.number == "B-700"


def test_the_original_is_not_handed_out_when_it_holds_someone_elses_invoice(client, world) -> None:
    invoices = []
    for number, gln in (("MIX-1", ALPHA_GLN), ("MIX-2", BETA_GLN)):
        inv = build_invoice()
        inv.number = number
        inv.buyer.electronic_address = Identifier(gln, "0088")
        invoices.append(inv)
    receive_file(world.gw, dialect("csv-lines").write_all(invoices).data, channel="api", filename="mixed.csv")
    (item,) = _list(client, world, "alpha-erp")["items"]
    assert item["number"] == "MIX-1" and from_dict(item["invoice"]).number == "MIX-1"
    r = client.get(f"{ERP}/invoices/{item['id']}/content?format=original", headers=world.auth("alpha-erp"))
    assert r.status_code == 409 and "not all for this recipient" in r.get_json()["error"]
    assert b"MIX-2" not in r.data
    r = client.get(f"{ERP}/invoices/{item['id']}/content?format=ubl", headers=world.auth("alpha-erp"))
    assert r.status_code == 200 and read_documents(r.data)[0].invoice.number == "MIX-1"


# --- numbers past what the database holds ----------------------------------------------------

TOO_BIG = 2 ** 63


def test_ids_and_partners_out_of_range(client, world) -> None:
    """Ids past a signed 64-bit integer overflowed SQLite's (a 500): a 404 in a path, a 400 in a
    query or a body."""
    a = world.receive("A-900", ALPHA_GLN)
    for path in (f"/invoices/{TOO_BIG}", f"/invoices/{TOO_BIG}/content"):
        r = client.get(ERP + path, headers=world.auth("alpha-erp"))
        assert r.status_code == 404 and r.is_json, path
    r = client.get(f"{ERP}/invoices", query_string={"partner": TOO_BIG}, headers=world.auth("olivia"))
    assert r.status_code == 400 and "partner" in r.get_json()["details"]
    r = client.post(f"{ERP}/invoices/ack", json={"ids": [a, TOO_BIG]}, headers=world.auth("alpha-erp"))
    assert r.status_code == 400
    assert world.delivery(a).status == "delivered"                          # nothing acknowledged
    assert _ack(client, world, "alpha-erp", [a, TOO_BIG - 1])["unknown"] == [TOO_BIG - 1]
