"""A sender whose EDIFACT interchanges close with another reference in UNZ than their UNB's.

ISO 9735 rejects such an interchange (syntax error 28), and the gateway does by
default. A partner's options may say ``edifact_tolerate_unz_reference: true``
(``edigate partner set --tolerate-unz-reference``, the API's ``as2.options``):
the inbound path then reads its interchanges on, each document carrying the
mismatch as a warning EDIFACT-28 with its place, and the option is checked
like every partner setting. In-process, on a real Gateway (SQLite and payload
store under tmp_path); the documents' own rules are those of the CEN examples.
"""
from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

import gateway.flow.process as pipeline
from gateway.cli import main
from gateway.config import load_settings
from gateway.db import DocumentRecord, Exchange, Partner
from gateway.flow.receive import receive_file
from gateway.partners.checks import TOLERATE_UNZ_REFERENCE
from gateway.partners.service import PartnerError, PartnerService
from gateway.runtime import Gateway
from gateway.syntaxes import write_document
from tests.support.corpus import CORPUS
from tests.support.invoice_builder import build_invoice

CEN_EXAMPLE_1 = CORPUS / "edifact/cen-en16931/EDIFACT_EXAMPLE1.TXT"     # UNB 87846595, UNZ+1+12115118


@pytest.fixture
def w(tmp_path):
    gw = Gateway(load_settings({"EDIGATE_HOME": str(tmp_path / "home")}), immediate_jobs=True)
    gw.jobs.send = lambda exchange_id, at=None: None          # processing runs at once; nothing is sent
    yield SimpleNamespace(gw=gw, tmp=tmp_path)
    gw.close()


def _sender(gw, name: str, options=None) -> int:
    with gw.session() as s:
        return PartnerService(s).create({"name": name, "preferred_channel": "as2", "as2_options": options}).id


def _mismatched_interchange() -> bytes:
    """One valid invoice in a D14B interchange whose UNZ carries the message reference."""
    data = write_document(build_invoice(), "edifact-d14b").data
    unb_ref = data.split(b"UNB+")[1].split(b"'")[0].split(b"+")[4]
    return data.replace(b"UNZ+1+" + unb_ref, b"UNZ+1+1")


def _process(w, data: bytes, sender: int):
    ex_id = receive_file(w.gw, data, channel="sftp", partner_id=sender, filename="in.edi").id
    pipeline.process_exchange(w.gw, ex_id)              # processed at enqueue already: a no-op then
    with w.gw.session() as s:
        ex = s.get(Exchange, ex_id)
        docs = list(s.scalars(sa.select(DocumentRecord).where(DocumentRecord.exchange_id == ex_id)))
        return ex.status, ex.reason, [(d.valid, d.findings) for d in docs]


def _unz_findings(findings: list[dict]) -> list[dict]:
    return [f for f in findings if f["rule"] == "EDIFACT-28"]


@pytest.mark.parametrize("source", ["built", "cen"])
def test_the_inbound_path_refuses_a_unz_reference_mismatch_unless_the_sender_s_option_says(w, source):
    if source == "cen":
        if not CEN_EXAMPLE_1.is_file():
            pytest.skip("shared corpus not found")
        data = CEN_EXAMPLE_1.read_bytes()
    else:
        data = _mismatched_interchange()
    strict = _sender(w.gw, "Strict")
    status, reason, docs = _process(w, data, strict)
    assert status == "rejected" and "EDIFACT-28" in reason
    [(valid, findings)] = docs
    [unz] = _unz_findings(findings)
    assert not valid and unz["severity"] == "fatal" and "(UNZ), element 2" in unz["location"]

    lenient = _sender(w.gw, "Lenient", {TOLERATE_UNZ_REFERENCE: True, "max_attempts": 3})
    status, reason, docs = _process(w, data.replace(b"BGM+380+", b"BGM+380+X"), lenient)   # not a duplicate
    assert status == "processed", reason
    [(valid, findings)] = docs
    [unz] = _unz_findings(findings)
    assert valid and not [f for f in findings if f["severity"] == "fatal"]
    assert unz["severity"] == "warning" and unz["extra"]["code"] == "28" and unz["extra"]["tolerated"] is True
    assert "(UNZ), element 2" in unz["location"] and unz["line"]


@pytest.mark.parametrize("value", ["yes", 1, None, [True]])
def test_the_option_is_true_or_false_and_refused_by_name_otherwise(w, value):
    with pytest.raises(PartnerError) as caught:
        with w.gw.session() as s:
            PartnerService(s).create({"name": "P", "as2_options": {TOLERATE_UNZ_REFERENCE: value}})
    assert caught.value.field == f"as2.options.{TOLERATE_UNZ_REFERENCE}"
    assert "expected true or false" in str(caught.value)
    with w.gw.session() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(Partner)) == 0


def test_the_command_line_sets_and_clears_the_switch_keeping_the_other_options(tmp_path: Path,
                                                                                  monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("EDIGATE_HOME", str(tmp_path))
    monkeypatch.delenv("EDIGATE_DATABASE_URL", raising=False)
    gw = Gateway(load_settings({"EDIGATE_HOME": str(tmp_path)}))
    try:
        sender = _sender(gw, "Sender", {"max_attempts": 3})
    finally:
        gw.close()

    def options() -> dict:
        gw = Gateway(load_settings({"EDIGATE_HOME": str(tmp_path)}))
        try:
            with gw.session() as s:
                return dict(s.get(Partner, sender).as2_options or {})
        finally:
            gw.close()

    r = CliRunner().invoke(main, ["partner", "set", "Sender", "--tolerate-unz-reference"])
    assert r.exit_code == 0, r.output
    assert options() == {"max_attempts": 3, TOLERATE_UNZ_REFERENCE: True}
    r = CliRunner().invoke(main, ["partner", "set", "Sender", "--no-tolerate-unz-reference"])
    assert r.exit_code == 0, r.output
    assert options() == {"max_attempts": 3, TOLERATE_UNZ_REFERENCE: False}

