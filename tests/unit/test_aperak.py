"""The APERAK writer and reader (gateway/formats/aperak.py): each status's codes as the table
in the module says, a message our EDIFACT syntax layer reads without a single issue and
pydifact (an independent tokenizer) splits into the same segments, the reason kept whole
however long and whatever characters it has, and hostile input refused with a clear error."""
from __future__ import annotations

import warnings
from datetime import date, datetime, timezone

import pytest

from gateway.model.errors import InputError
from gateway.syntaxes.aperak import STATUS_CODES, AperakParty, StatusReport, build_aperak, read_aperak
from gateway.syntaxes.edifact.syntax import Party, read_interchange

AT = datetime(2025, 4, 2, 9, 30, tzinfo=timezone.utc)
US = Party("5412345000013", "14")
THEM = Party("4012345500004", "14")


def report(status: str = "refused", **kw) -> StatusReport:
    values = dict(status=status, at=AT, number="ST42", document_number="INV/2025/001", document_type="380",
                  document_date=date(2025, 3, 1), reason="prices do not match order PO-77",
                  reason_code="PRICE",
                  issuer=AperakParty("5412345000013", "0088", "Buyer SARL"),
                  addressee=AperakParty("DE123456789", "9930", "ACME Industries"),
                  interchange_ref="22C7CBC2CDDC99", message_ref="1")
    values.update(kw)
    return StatusReport(**values)


def build(r: StatusReport, version: str = "3") -> bytes:
    return build_aperak(r, sender=US, recipient=THEM, control_ref="ST000000000042", syntax_version=version)


def segments(data: bytes) -> dict[str, list]:
    ic = read_interchange(data)
    assert ic.all_issues() == [], [str(i) for i in ic.all_issues()]
    (msg,) = ic.messages
    out: dict[str, list] = {}
    for seg in msg.segments:
        out.setdefault(seg.tag, []).append(seg.elements)
    return out


def pydifact_segments(data: bytes, encoding: str) -> list[tuple[str, list[list[str]]]]:
    from pydifact.segmentcollection import RawSegmentCollection
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        segs = RawSegmentCollection.from_str(data.decode(encoding)).segments
    out = []
    for s in segs:
        if s.tag == "UNA":
            continue
        els = [[e] if isinstance(e, str) else list(e) for e in s.elements]
        els = [e[:max((i + 1 for i, c in enumerate(e) if c), default=1)] for e in els]
        out.append((s.tag, els))
    return out


@pytest.mark.parametrize("status", list(STATUS_CODES))
def test_each_status_is_coded_as_the_table_says(status) -> None:
    code = STATUS_CODES[status]
    data = build(report(status))
    seg = segments(data)
    assert seg["UNH"] == [[["1"], ["APERAK", "D", "96A", "UN"]]]
    assert seg["BGM"] == [[["", "", "", "Invoice status"], ["ST42"], [code.function], [code.response]]]
    assert seg["DOC"] == [[["380"], ["INV/2025/001"] + ([code.document_status] if code.document_status else [])]]
    assert seg["ERC"] == [[[code.lifecycle, "", "ZZZ"]]]
    assert seg["FTX"][-1] == [["AAI"], [""], [""], [code.label]]
    assert seg["DTM"] == [[["137", "202504020930", "203"]], [["137", "20250301", "102"]],
                          [["171", "20250301", "102"]]]
    assert seg["RFF"] == [[["IV", "INV/2025/001"]], [["ACW", "22C7CBC2CDDC99", "1"]]]
    assert seg["NAD"] == [[["MS"], ["5412345000013", "", "9"], [""], ["Buyer SARL"]],
                          [["MR"], ["DE123456789", "", "ZZZ"], [""], ["ACME Industries"]]]
    assert seg["UNT"] == [[[str(sum(len(v) for k, v in seg.items())), ], ["1"]]]
    (back,) = read_aperak(data)
    assert back == report(status, issuer=AperakParty("5412345000013", "0088", "Buyer SARL"),
                          addressee=AperakParty("DE123456789", None, "ACME Industries"))


def test_the_envelope_answers_the_invoice_s_interchange() -> None:
    ic = read_interchange(build(report()))
    assert (ic.sender, ic.recipient, ic.control_ref) == (US, THEM, "ST000000000042")
    assert (ic.syntax_level, ic.syntax_version, ic.date, ic.time) == ("UNOC", "3", "250402", "0930")
    ic4 = read_interchange(build(report(), version="4"))
    assert (ic4.syntax_version, ic4.date) == ("4", "20250402")          # syntax 4 dates are CCYYMMDD


def test_pydifact_reads_the_same_segments() -> None:
    pytest.importorskip("pydifact")
    for r, encoding in ((report(), "latin-1"), (report(reason="Preis falsch: 3 × 4 € ≠ 10 €"), "utf-8")):
        data = build(r)
        ours = [(s.tag, s.elements) for s in read_interchange(data).segments()]
        ours = [(tag, [e[:max((i + 1 for i, c in enumerate(e) if c), default=1)] for e in els])
                for tag, els in ours]
        assert pydifact_segments(data, encoding) == ours


def test_a_long_reason_with_service_characters_comes_back_whole() -> None:
    reason = ("Line 3: quantity?+ 'two' : not 3; " * 40).strip()        # 1,000+ characters, ? + ' : escaped
    data = build(report(reason=reason))
    ftx = [s for s in segments(data)["FTX"] if s[0] == ["ACD"]]
    assert len(ftx) == 4 and ftx[0][2] == ["PRICE"] and all(len(s) == 4 or not s[2] for s in ftx[1:])
    assert all(len(c) <= 70 for s in ftx for c in s[3])
    assert b"??+" in data and b"?'two?'" in data and b"?:" in data      # released, not separators
    (back,) = read_aperak(data)
    assert back.reason == reason and back.reason_code == "PRICE"


def test_line_breaks_in_a_reason_become_spaces() -> None:
    (back,) = read_aperak(build(report(reason="first line\r\nsecond\tline")))
    assert back.reason == "first line second line"


def test_characters_beyond_latin_1_switch_to_unow() -> None:
    data = build(report(reason="Цена не совпадает", addressee=AperakParty("X1", None, "Ωmega Ltd")))
    assert read_interchange(data).syntax_level == "UNOW"
    (back,) = read_aperak(data)
    assert (back.reason, back.addressee.name) == ("Цена не совпадает", "Ωmega Ltd")


def test_without_a_reason_there_is_no_reason_text() -> None:
    data = build(report("accepted", reason=None, reason_code=None))
    assert [s for s in segments(data)["FTX"] if s[0] == ["ACD"]] == []
    (back,) = read_aperak(data)
    assert (back.status, back.reason, back.reason_code) == ("accepted", None, None)


def test_the_same_report_gives_the_same_bytes() -> None:
    assert build(report()) == build(report())
    assert build(report()) != build(report(at=AT.replace(minute=31)))


@pytest.mark.parametrize("kw, message", [
    (dict(status="lost"), "no APERAK code for status 'lost'"),
    (dict(at=datetime(2025, 4, 2, 9, 30)), "naive datetime"),
])
def test_unusable_reports_are_refused(kw, message) -> None:
    with pytest.raises(ValueError, match=message):
        build(report(**kw))


def _tampered(old: bytes, new: bytes) -> bytes:
    data = build(report("accepted", reason=None, reason_code=None))
    assert old in data
    return data.replace(old, new)


@pytest.mark.parametrize("data, message", [
    (b"", "the input is empty"),
    (b"\x00\xff garbage", "not an EDIFACT interchange"),
    (b"UNA:+.? 'UNB+UNOC:3+A+B+250101:1200+1'UNH+1+CONTRL:D:3:UN'UCI+1+A+B+7'UNT+3+1'UNZ+1+1'",
     "no APERAK message"),
    (None, "not sound"),                                                  # cut in the middle
    (b"ERC+205::ZZZ", "unknown life-cycle code '999'"),
    (b"+29+AP'", "BGM function '27' does not match the status accepted"),
    (b"DOC+380+INV/2025/001:1'", "has no document number"),
])
def test_hostile_or_broken_input_is_an_input_error(data, message) -> None:
    if data is None:
        whole = build(report())
        data = whole[:len(whole) // 2]
    elif data == b"ERC+205::ZZZ":
        data = _tampered(b"ERC+205::ZZZ", b"ERC+999::ZZZ")
    elif data == b"+29+AP'":
        data = _tampered(b"+29+AP'", b"+27+AP'")
    elif data == b"DOC+380+INV/2025/001:1'":
        data = _tampered(b"DOC+380+INV/2025/001:1'", b"DOC+380'")
    with pytest.raises(InputError, match=message):
        read_aperak(data)
