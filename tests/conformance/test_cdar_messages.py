"""CDAR messages judged by the official artefacts: every example of the corpus is read into the
status its name says, and every message we write (each status 200-228, to a party and the
PPF's copy, with reasons and details) passes the D22B XSD and FNFE-MPE's CDAR stylesheet."""
from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal

import pytest

from gateway.delivery import statuses as lifecycle
from gateway.syntaxes import cdar
from gateway.syntaxes.cdar import CdarParty, Characteristic, StatusChange
from gateway.xml import safe
from tests.support import cdar_official
from tests.support.corpus import rel

EXAMPLES = cdar_official.examples()

SELLER = CdarParty("100000009", "0002", "VENDEUR", "SE", "100000009_STATUTS", "0225")
BUYER = CdarParty("200000008", "0002", "ACHETEUR", "BY", "200000008_STATUTS", "0225")
FACTOR = CdarParty("300000007", "0002", "AFFACTUREUR", "PE", "300000007_STATUTS", "0225")
AT = datetime(2026, 9, 2, 10, 30, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def xsd():
    try:
        return cdar_official.xsd()
    except FileNotFoundError as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="module")
def official():
    return cdar_official.stylesheet_or_skip()


def test_the_corpus_has_the_examples() -> None:
    if not EXAMPLES:
        pytest.skip("shared corpus not found")
    assert len(EXAMPLES) >= 14


@pytest.mark.parametrize("path, code", EXAMPLES, ids=[rel(p) for p, _ in EXAMPLES])
def test_every_example_is_read_into_its_status(path, code: str) -> None:
    msg = cdar.read_cdar(path.read_bytes())
    rec = msg.status
    assert rec.code == code and rec.status == lifecycle.by_code(code).name
    assert rec.invoice_number in ("F202500003", "F202500006") and rec.invoice_date == date(2025, 7, 1)
    assert (rec.seller.id, rec.seller.scheme) == ("100000009", "0002")
    assert msg.sender.role == "WK" and msg.recipients
    if lifecycle.by_code(code).reason_code_required:
        assert rec.reason_code in lifecycle.by_code(code).reasons
    if code in ("204", "205", "207", "208", "210", "211"):
        assert (msg.issuer.id, msg.issuer.role, msg.phase) == ("200000008", "BY", "23")


def changes() -> list[tuple[str, StatusChange]]:
    """A change for every status, to its party and as the PPF's copy, with the details it needs."""
    out = []
    for name, st in lifecycle.STATUSES.items():
        rules = cdar.spec()["statuses"][st.code]
        issuer = {"BY": BUYER, "SE": SELLER, "PE": FACTOR}.get(rules["issuer"])
        to = (BUYER,) if rules["issuer"] == "SE" else (SELLER, BUYER) if rules["phase"] == "305" else (SELLER,)
        reasons = (st.reasons or [None]) if st.reason_code_required else [None, "AUTRE" if st.reasons is None else
                                                                          st.reasons[0]]
        chars = (Characteristic("MEN", amount=Decimal("1200.00"), currency="EUR", percent=Decimal("20.00")),
                 Characteristic("MEN", amount=Decimal("55.00"), currency="EUR", percent=Decimal("5.5"))) \
            if st.code == "212" else ()
        for reason in reasons:
            for ppf in (False, True):
                out.append((f"{st.code}-{name}-{reason}-{'ppf' if ppf else 'party'}",
                            StatusChange(status=name, at=AT, invoice_number="F2026-001",
                                         invoice_date=date(2026, 9, 1), seller=SELLER, recipients=to, issuer=issuer,
                                         reason_code=reason, action_code="NIN" if reason else None,
                                         characteristics=chars, received_at=AT, to_ppf=ppf)))
    out.append(("210-b2g", StatusChange(status="refused", at=AT, invoice_number="F2026-002",
                                        invoice_date=date(2026, 9, 1), seller=SELLER, recipients=(SELLER,),
                                        issuer=BUYER, sender=CdarParty("9999", "0238", "CHORUS PRO"),
                                        reason_code="RETRAIT_MAN_SERV")))
    out.append(("206-details", StatusChange(status="partly_approved", at=AT, invoice_number="F2026-003",
                                            invoice_date=date(2026, 9, 1), seller=SELLER, recipients=(SELLER,),
                                            issuer=BUYER, reason_code="QTE_ERR", reason="3 livrés, 4 facturés",
                                            characteristics=(Characteristic("MAP", amount=Decimal("900"),
                                                                            currency="EUR"),
                                                             Characteristic("DIV", id="BT-129", name="Quantité",
                                                                            changed=True)))))
    return out


CHANGES = changes()


@pytest.mark.parametrize("change", [c for _, c in CHANGES], ids=[i for i, _ in CHANGES])
def test_every_message_written_passes_the_xsd_and_fnfes_rules(change: StatusChange, xsd, official) -> None:
    data = cdar.build_cdar(change)
    assert xsd.validate(safe.parse(data)) == []
    fired = [f"{f.rule} ({f.severity})" for f in official.run(data)]
    assert fired == []
    assert cdar.read_cdar(data).status.code == change.code


def test_the_xsd_and_the_stylesheet_do_reject(xsd, official) -> None:
    """The two judges above can say no: a message with its elements out of order, a refusal without reason."""
    data = cdar.build_cdar(StatusChange(status="accepted", at=AT, invoice_number="F1", invoice_date=date(2026, 9, 1),
                                        seller=SELLER, recipients=(SELLER,), issuer=BUYER))
    swapped = data.replace(b"<ram:TypeCode>380</ram:TypeCode>", b"").replace(
        b"<ram:ProcessCondition>", b"<ram:TypeCode>380</ram:TypeCode><ram:ProcessCondition>")
    assert xsd.validate(safe.parse(swapped))
    refused = data.replace(b">205<", b">210<")
    assert "BR-FR-CDV-15_MDT-113" in {f.rule for f in official.run(refused)}
