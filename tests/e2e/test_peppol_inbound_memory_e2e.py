"""What receiving a large Peppol message costs the ``edigate serve`` process in memory.

A real ``edigate serve`` (``tests.support.as4_gateway``: its jobs run in worker processes of
their own, so the serve process only receives) takes, over AS4 from another access point, an
SBDH around a UBL invoice of 50 MB (lines of text with random tokens), then one of 500,000
small elements. The body is spooled by the transport, the SBDH header read without a tree of
the document, the business document streamed out of the spooled payload into the store. Its
peak RSS (``VmHWM`` of /proc/<pid>/status, set back to the current RSS just before) after each
message, less its RSS before, is what receiving it cost: a fixed amount (windows of a MB, the
SOAP header, the envelope's header), under ``BOUND`` whatever the size or the number of elements
(it was ten times the payload and more when the envelope was parsed whole); and what is stored is
the business document byte for byte.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
import sqlalchemy as sa

from gateway.db import Exchange
from gateway.transports import as4

from tests.support.as4_gateway import MEMBER, SELLER, Peppol4World

pytestmark = pytest.mark.slow
BOUND = 32 * 1024 * 1024

HEAD = (b'<?xml version="1.0" encoding="UTF-8"?>\n'
        b'<Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2" '
        b'xmlns:cac="urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2" '
        b'xmlns:cbc="urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2">'
        b'<cbc:ID>MEM-1</cbc:ID>'
        b'<cac:AccountingSupplierParty><cac:Party><cbc:EndpointID schemeID="0208">' + SELLER.split(":")[1].encode()
        + b'</cbc:EndpointID><cac:PostalAddress><cac:Country><cbc:IdentificationCode>FR</cbc:IdentificationCode>'
        b'</cac:Country></cac:PostalAddress></cac:Party></cac:AccountingSupplierParty>'
        b'<cac:AccountingCustomerParty><cac:Party><cbc:EndpointID schemeID="0208">' + MEMBER.split(":")[1].encode()
        + b'</cbc:EndpointID></cac:Party></cac:AccountingCustomerParty>\n')


def _reset_peak(pid: int) -> None:
    """The peak RSS set back to the current RSS (Linux: "5" to clear_refs), so that the peak read
    after the message is that message's, not the server's start's."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        pass                        # an older kernel: the peak is since the start, still a bound


def _vm(pid: int) -> dict[str, int]:
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmHWM", "VmRSS"):
            out[key] = int(value.split()[0]) * 1024
    return out


def _big_lines(size: int) -> bytes:
    line = b"<cbc:Note>%08d %s " + b"edigate Peppol payload " * 8 + b"</cbc:Note>\n"
    count = size // len(line % (0, b"x" * 12))
    return HEAD + b"".join(line % (i, os.urandom(6).hex().encode()) for i in range(count)) + b"</Invoice>"


def _many_elements(count: int) -> bytes:
    return HEAD + b"".join(b"<cbc:Note>%d</cbc:Note>" % i for i in range(count)) + b"</Invoice>"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    w = Peppol4World.create(tmp_path_factory.mktemp("peppol-memory"))
    w.server.start()
    yield w
    w.server.stop()


@pytest.mark.parametrize("name, make", [("50 MB of lines", lambda: _big_lines(50 * 1024 * 1024 - 4096)),
                                        ("500,000 small elements", lambda: _many_elements(500_000))])
def test_a_large_message_costs_the_server_less_than_its_size(world, name, make):
    document = make()
    sent = world.message(1, document=document)
    pid = world.server.proc.pid
    # one small message first: the code every message runs is loaded before the peak is read
    warm = world.message(2)
    assert as4.send(warm.outbound).delivered
    _reset_peak(pid)
    before = _vm(pid)
    result = as4.send(sent.outbound, timeout=(5, 300))
    assert result.delivered, result.summary
    after = _vm(pid)
    growth = after["VmHWM"] - before["VmHWM"]
    print(f"{name}: {len(document) / 1e6:.1f} MB document, serve peak RSS growth {growth / 1e6:.1f} MB "
          f"(RSS before {before['VmRSS'] / 1e6:.0f} MB, peak before {before['VmHWM'] / 1e6:.0f} MB)")
    gw = world.server.gateway()
    try:
        with gw.session() as s:
            key = s.scalar(sa.select(Exchange.content_sha256).where(
                Exchange.direction == "in", Exchange.message_id == sent.message_id))
        assert key == hashlib.sha256(document).hexdigest() == sent.document_sha256
    finally:
        gw.close()
    assert growth < BOUND
