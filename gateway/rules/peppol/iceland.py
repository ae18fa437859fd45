"""IS-R-001 ... IS-R-010: Icelandic suppliers (the seller's country code, as written, is IS)."""
from __future__ import annotations

from typing import Any, Iterator

from .common import (WARNING, Hit, castable_date, get, items, normalize_space, payment_means, peppol,
                     postal_country)

FAMILY = "IS"


def _is(inv: Any) -> bool:
    return postal_country(inv, "seller") == "IS"


@peppol("IS-R-001", FAMILY, terms=("BT-3",), severity=WARNING)
def is_r_001(inv: Any) -> Iterator[Hit]:
    """If seller is icelandic then invoice type should be 380 or 381 — Ef seljandi er íslenskur þá ætti gerð reiknings (BT-3) að vera sölureikningur (380) eða kreditreikningur (381)."""
    if _is(inv) and normalize_space(get(inv, "type_code")) not in ("380", "381"):
        yield Hit("type_code", "If the seller is Icelandic the invoice type code (BT-3) should be 380 or 381.")


@peppol("IS-R-002", FAMILY, terms=("BT-30", "BT-30-1"))
def is_r_002(inv: Any) -> Iterator[Hit]:
    """If seller is icelandic then it shall contain sellers legal id — Ef seljandi er íslenskur þá skal reikningur innihalda íslenska kennitölu seljanda (BT-30)."""
    ident = get(inv, "seller.legal_registration_identifier")
    if _is(inv) and (ident is None or ident.scheme != "0196"):
        yield Hit("seller.legal_registration_identifier",
                  "An Icelandic seller shall give its Icelandic legal id (BT-30, scheme 0196).")


@peppol("IS-R-003", FAMILY, terms=("BT-35", "BT-38"))
def is_r_003(inv: Any) -> Iterator[Hit]:
    """If seller is icelandic then it shall contain his address with street name and zip code — Ef seljandi er íslenskur þá skal heimilisfang seljanda innihalda götuheiti og póstnúmer (BT-35 og BT-38)."""
    if _is(inv) and (get(inv, "seller.postal_address.line1") is None or
                     get(inv, "seller.postal_address.post_code") is None):
        yield Hit("seller.postal_address", "An Icelandic seller's address shall have a street name (BT-35) and a "
                                           "post code (BT-38).")


def _account_rule(rule_id: str, code: str, text: str) -> None:
    def check(inv: Any) -> Iterator[Hit]:
        if not _is(inv):
            return
        means = [(p, pi, ct) for p, pi, ct in payment_means(inv) if pi.means_type_code == code]
        if not means:
            return
        accounts = [ct.account_identifier for _, _, ct in means if ct is not None and ct.account_identifier is not None]
        if len(accounts) == 1 and len(normalize_space(accounts[0])) == 12:
            return
        if len(accounts) > 1:
            raise ValueError("normalize-space() of several accounts")      # the stylesheet stops here too
        yield Hit("payment_instructions.credit_transfers", text)
    check.__doc__ = text
    peppol(rule_id, FAMILY, terms=("BT-81", "BT-84"))(check)


_account_rule("IS-R-006", "9", "If seller is icelandic and payment means code is 9 then a 12 digit account id must "
              "exist — Ef seljandi er íslenskur og greiðslumáti (BT-81) er krafa (kóti 9) þá skal koma fram 12 "
              "stafa reikningsnúmer (BT-84)")
_account_rule("IS-R-007", "42", "If seller is icelandic and payment means code is 42 then a 12 digit account id must "
              "exist — Ef seljandi er íslenskur og greiðslumáti (BT-81) er millifærsla (kóti 42) þá skal koma fram "
              "12 stafa reikningsnúmer (BT-84)")


def _eindagi(inv: Any) -> list:
    return [d for _, d in items(get(inv, "supporting_documents")) if d.description == "EINDAGI"]


@peppol("IS-R-008", FAMILY, terms=("BT-122", "BT-123"))
def is_r_008(inv: Any) -> Iterator[Hit]:
    """If seller is icelandic and invoice contains supporting description EINDAGI then the id form must be YYYY-MM-DD — Ef seljandi er íslenskur þá skal eindagi (BT-122, DocumentDescription = EINDAGI) vera á forminu YYYY-MM-DD."""
    docs = _eindagi(inv)
    if not _is(inv) or not docs:
        return
    if len(docs) > 1:
        raise ValueError("string-length() of several EINDAGI references")   # the stylesheet stops here too
    ref = docs[0].reference or ""
    if not (len(ref) == 10 and castable_date(ref)):
        yield Hit("supporting_documents", f"The EINDAGI reference (BT-122) {ref!r} must be a date YYYY-MM-DD.")


@peppol("IS-R-009", FAMILY, terms=("BT-9",))
def is_r_009(inv: Any) -> Iterator[Hit]:
    """If seller is icelandic and invoice contains supporting description EINDAGI invoice must have due date — Ef seljandi er íslenskur þá skal reikningur sem inniheldur eindaga (DocumentDescription = EINDAGI) einnig hafa gjalddaga (BT-9)."""
    if _is(inv) and _eindagi(inv) and get(inv, "due_date") is None:
        yield Hit("due_date", "An Icelandic invoice with an EINDAGI reference must have a due date (BT-9).")


@peppol("IS-R-010", FAMILY, terms=("BT-9", "BT-122"))
def is_r_010(inv: Any) -> Iterator[Hit]:
    """If seller is icelandic and invoice contains supporting description EINDAGI the id date must be same or later than due date — Ef seljandi er íslenskur þá skal eindagi (BT-122, DocumentDescription = EINDAGI) vera sami eða síðar en gjalddagi (BT-9) ef eindagi er til staðar."""
    docs = _eindagi(inv)
    if not _is(inv) or not docs:
        return
    due = get(inv, "due_date")
    refs = [d.reference for d in docs if d.reference is not None]
    if due is None or not any(due.isoformat() <= r for r in refs):
        yield Hit("due_date", "The EINDAGI date (BT-122) must be the same as or later than the due date (BT-9).")


def _both_is(inv: Any) -> bool:
    return _is(inv) and postal_country(inv, "buyer") == "IS"


@peppol("IS-R-004", FAMILY, terms=("BT-47", "BT-47-1"))
def is_r_004(inv: Any) -> Iterator[Hit]:
    """If seller and buyer are icelandic then the invoice shall contain the buyers icelandic legal identifier — Ef seljandi og kaupandi eru íslenskir þá skal reikningurinn innihalda íslenska kennitölu kaupanda (BT-47)."""
    ident = get(inv, "buyer.legal_registration_identifier")
    if _both_is(inv) and (ident is None or ident.scheme != "0196"):
        yield Hit("buyer.legal_registration_identifier",
                  "Between Icelandic parties the buyer's Icelandic legal id (BT-47, scheme 0196) shall be given.")


@peppol("IS-R-005", FAMILY, terms=("BT-50", "BT-53"))
def is_r_005(inv: Any) -> Iterator[Hit]:
    """If seller and buyer are icelandic then the invoice shall contain the buyers address with street name and zip code — Ef seljandi og kaupandi eru íslenskir þá skal heimilisfang kaupanda innihalda götuheiti og póstnúmer (BT-50 og BT-53)."""
    if _both_is(inv) and (get(inv, "buyer.postal_address.line1") is None or
                          get(inv, "buyer.postal_address.post_code") is None):
        yield Hit("buyer.postal_address", "Between Icelandic parties the buyer's address shall have a street name "
                                          "(BT-50) and a post code (BT-53).")
