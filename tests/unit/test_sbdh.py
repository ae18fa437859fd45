"""The SBDH syntax's bounds and refusals, on envelopes built here: hostile or oversized input,
a payload it cannot carry as it is, header values a Peppol access point would refuse; and the
streaming reader: a window at a time, the document streamed out byte for byte, standing alone
as the same XML, whatever the window, refusing what the tree parser refuses."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest
from lxml import etree

from gateway.model.errors import HostileInputError, InputError
from gateway.syntaxes import sbdh, sbdh_scan
from gateway.syntaxes.sbdh import Participant, Sbdh
from gateway.xml import safe

PAYLOAD = (b'<?xml version="1.0" encoding="UTF-8"?>\n<inv:Invoice xmlns:inv="urn:oasis:names:specification:ubl:schema:'
           b'xsd:Invoice-2"><x:ID xmlns:x="urn:x">\xc3\xa9t\xc3\xa9 &amp; 1</x:ID></inv:Invoice>')
HEADER = Sbdh(sender=Participant("0088:7315458756324"), receiver=Participant("0009:10000000900017"),
              document_type="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2::Invoice##x::2.1",
              process="urn:fdc:peppol.eu:2017:poacc:billing:01:1.0", instance_identifier="id-1",
              created_at=datetime(2026, 9, 2, 8, 0, tzinfo=timezone.utc))


def test_the_payload_is_carried_byte_for_byte() -> None:
    data = sbdh.build_sbdh(HEADER, PAYLOAD)
    body = PAYLOAD.split(b"?>\n", 1)[1]
    assert body in data
    h = sbdh.read_sbdh(data)
    assert h.payload == body and (h.type, h.standard) == ("Invoice",
                                                          "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2")
    assert (h.sender.id, h.receiver.value) == ("iso6523-actorid-upis::0088:7315458756324", "0009:10000000900017")
    assert sbdh.build_sbdh(HEADER, PAYLOAD) == data                 # the same header and payload, the same bytes


@pytest.mark.parametrize("change, says", [
    (dict(sender=Participant("7315458756324")), "not a participant identifier"),
    (dict(receiver=Participant("0088:1", "GLN")), "Authority is 'GLN'"),
    (dict(country_c1="fr"), "COUNTRY_C1 'fr'"),
    (dict(mls_to=Participant("test")), "MLS_TO 'test'"),
    (dict(mls_type="SOMETIMES"), "MLS_TYPE 'SOMETIMES'"),
    (dict(process=""), "PROCESSID"),
    (dict(other_scopes=(sbdh.Scope("DOCUMENTID", "x"),)), "other scopes"),
    (dict(created_at=datetime(2026, 9, 2)), "naive datetime"),
])
def test_a_header_access_points_refuse_is_not_written(change, says) -> None:
    with pytest.raises(ValueError, match=says):
        sbdh.build_sbdh(Sbdh(**{**HEADER.__dict__, **change}), PAYLOAD)


@pytest.mark.parametrize("payload, says", [
    (b"<Invoice>no namespace</Invoice>", "no namespace of its own"),
    (b'<?xml version="1.0" encoding="ISO-8859-1"?><a:X xmlns:a="urn:a"/>', "UTF-8"),
    (b'<!DOCTYPE x [<!ENTITY e "e">]><a:X xmlns:a="urn:a">&e;</a:X>', "not XML an envelope can carry"),
    (b"<a:X xmlns:a='urn:a'>", "not XML an envelope can carry"),
])
def test_a_payload_it_cannot_carry_as_it_is_is_refused(payload, says) -> None:
    with pytest.raises(ValueError, match=says):
        sbdh.build_sbdh(HEADER, payload)


def test_reading_is_bounded_and_refuses_what_is_not_an_envelope() -> None:
    data = sbdh.build_sbdh(HEADER, PAYLOAD)
    with pytest.raises(InputError):                                  # a DTD (entity expansion) is refused
        sbdh.read_sbdh(b'<!DOCTYPE x [<!ENTITY e "e">]>' + data.split(b"?>", 1)[1])
    deep = b'<a:X xmlns:a="urn:a">' + b"<a:Y>" * 200 + b"</a:Y>" * 200 + b"</a:X>"
    with pytest.raises((InputError, ValueError)):
        sbdh.build_sbdh(HEADER, deep)
    with pytest.raises(InputError, match="more than"):
        sbdh.read_sbdh(data.replace(b"</sh:BusinessScope>", b"<sh:Scope><sh:Type>x</sh:Type><sh:InstanceIdentifier>"
                                    b"y</sh:InstanceIdentifier></sh:Scope>" * 101 + b"</sh:BusinessScope>"))
    with pytest.raises(InputError, match="exactly one business document"):
        sbdh.read_sbdh(data.replace(b"</sh:StandardBusinessDocument>", b"<b:Z xmlns:b='urn:b'/>"
                                    b"</sh:StandardBusinessDocument>"))
    with pytest.raises(InputError, match="exactly one Receiver"):
        receiver = data[data.index(b"<sh:Receiver>"):data.index(b"</sh:Receiver>") + 14]
        sbdh.read_sbdh(data.replace(receiver, receiver * 2))
    with pytest.raises(InputError, match="not a date and time"):
        sbdh.read_sbdh(data.replace(b"2026-09-02T08:00:00.000Z", b"yesterday"))
    with pytest.raises(InputError, match="the Type 'Order'"):
        sbdh.read_sbdh(data.replace(b"<sh:Type>Invoice</sh:Type>", b"<sh:Type>Order</sh:Type>"))
    with pytest.raises(InputError, match="root element is Invoice"):
        sbdh.read_sbdh(PAYLOAD)
    with pytest.raises(InputError):
        sbdh.read_sbdh(b"x" * (sbdh.MAX_BYTES + 1))


# --- reading without holding the envelope ---------------------------------------------------------

class Counting(sbdh_scan.BytesSource):
    """Bytes read through ``read_at`` only, each read's size kept."""

    def __init__(self, data: bytes):
        super().__init__(data)
        self.reads: list[tuple[int, int]] = []

    def read_at(self, offset: int, n: int) -> bytes:
        self.reads.append((offset, n))
        return super().read_at(offset, n)


def _envelope(payload: bytes, root_declarations: bytes = b"") -> bytes:
    data = sbdh.build_sbdh(HEADER, PAYLOAD)
    data = data.replace(b"<sh:StandardBusinessDocument ", b"<sh:StandardBusinessDocument " + root_declarations, 1)
    return data.replace(PAYLOAD.split(b"?>\n", 1)[1], payload)


def test_a_large_envelope_is_read_a_window_at_a_time_and_its_document_streamed_byte_for_byte() -> None:
    body = b'<inv:Invoice xmlns:inv="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2">' + b"".join(
        b"<inv:Note>%d &amp; \xc3\xa9</inv:Note>\n" % i for i in range(150_000)) + b"</inv:Invoice>"
    data = _envelope(body)
    source = Counting(data)
    header = sbdh.read_header(source)
    assert (header.type, header.receiver.value) == ("Invoice", "0009:10000000900017")
    assert header.payload is None and max(n for _, n in source.reads) <= sbdh_scan.WINDOW < len(data) // 2
    source.reads.clear()
    chunks = list(sbdh.document_chunks(source, header))
    assert b"".join(chunks) == safe.XML_DECLARATION + body                   # as it stands in the envelope
    assert max(len(c) for c in chunks) <= sbdh_scan.WINDOW
    assert sum(n for _, n in source.reads) == len(body)                      # the document's bytes, once


INV = b"urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"
ENVELOPES = {
    # an empty business document whose attribute holds '>' and '/'
    "empty": _envelope(b'<a:Invoice xmlns:a="%s" q="&gt;/>"/>' % INV),
    # prefixes and the default namespace declared on the root, used by elements and an attribute
    "inherits": _envelope(b'<a:Invoice><Z t="1" a:k="&quot;"/><a:Y>\xc3\xa9</a:Y></a:Invoice>',
                          b'xmlns:a="%s" xmlns="urn:d" xmlns:u="urn:unused" ' % INV),
    # a prefix of the root's used by an attribute only
    "attribute": _envelope(b'<Invoice xmlns="%s" a:k="1"/>' % INV, b'xmlns:a="urn:a" '),
    # the document declares again what the root declares: it stands alone
    "redeclared": _envelope(b'<a:Invoice xmlns:a="%s"><a:Y/></a:Invoice>' % INV, b'xmlns:a="urn:a" '),
    "latin-1": _envelope(b'<Invoice xmlns="%s">caf\xe9</Invoice>' % INV).replace(b'encoding="UTF-8"',
                                                                             b'encoding="ISO-8859-1"'),
    "utf-16": _envelope(b'<Invoice xmlns="%s">caf\xc3\xa9 &#x263A;</Invoice>' % INV).decode().replace(
        'encoding="UTF-8"', 'encoding="UTF-16"').encode("utf-16"),
}


@pytest.mark.parametrize("name", sorted(ENVELOPES))
def test_the_document_given_back_stands_alone_as_the_same_xml(name) -> None:
    """Its canonical form alone (exclusive C14N: the namespaces it uses) is the element's in the
    envelope: byte for byte but for the root's declarations when the document uses one of them,
    added to its start tag (all the root's it does not declare again), and UTF-8 for an envelope in
    another encoding."""
    data = ENVELOPES[name]
    h = sbdh.read_sbdh(data)
    alone = safe.parse(h.payload_document())
    inside = [c for c in etree.fromstring(data) if isinstance(c.tag, str)][1]
    assert etree.tostring(alone, method="c14n", exclusive=True) == etree.tostring(inside, method="c14n",
                                                                                   exclusive=True)
    if name in ("empty", "redeclared"):
        assert h.payload in data
    if name == "inherits":
        assert h.payload == (b'<a:Invoice xmlns:a="%s" xmlns="urn:d" xmlns:u="urn:unused" xmlns:sh="%s"><Z t="1" '
                             b'a:k="&quot;"/><a:Y>\xc3\xa9</a:Y></a:Invoice>' % (INV, sbdh.NS.encode()))
    if name == "latin-1":
        assert h.payload == b'<Invoice xmlns="%s">caf\xc3\xa9</Invoice>' % INV


@pytest.mark.parametrize("name", sorted(ENVELOPES))
def test_the_window_does_not_change_what_is_read(name, monkeypatch) -> None:
    expected = sbdh.read_sbdh(ENVELOPES[name])
    monkeypatch.setattr(sbdh_scan, "WINDOW", 7)
    again = sbdh.read_sbdh(ENVELOPES[name])
    assert again == expected and again.payload == expected.payload and again.place == expected.place


def test_the_streaming_reader_refuses_what_the_tree_parser_refuses() -> None:
    data = sbdh.build_sbdh(HEADER, PAYLOAD)
    padding = b"<!--" + b"x" * sbdh.MAX_HEADER_BYTES + b"-->"
    with pytest.raises(HostileInputError, match="header ends"):
        sbdh.read_sbdh(data.replace(b"<sh:HeaderVersion>", padding + b"<sh:HeaderVersion>"))
    with pytest.raises(InputError, match="not a valid URI"):           # what libxml2 says of it alone
        sbdh.read_sbdh(data.replace(b'xmlns:x="urn:x"', b'xmlns:x="urn:x\xe2\x80\x8b"'))
    deep = b"<x:A>" * 120 + b"</x:A>" * 120
    with pytest.raises(HostileInputError, match="nesting deeper than 100"):
        sbdh.read_sbdh(data.replace(b"</x:ID>", deep + b"</x:ID>"))
    with pytest.raises(InputError, match="Malformed XML"):
        sbdh.read_sbdh(data.replace(b"</x:ID>", b"</x:Id>"))
