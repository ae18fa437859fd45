"""The SBDH syntax's bounds and refusals, on envelopes built here: hostile or oversized input,
a payload it cannot carry as it is, header values a Peppol access point would refuse."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from gateway.model.errors import InputError
from gateway.syntaxes import sbdh
from gateway.syntaxes.sbdh import Participant, Sbdh

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
