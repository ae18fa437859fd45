"""The paper cover sheet's words come from the catalogue, in the letter's language, with the
wording the sheet always had (its own context: "From" is the issuer there, not a date range's start)."""
from __future__ import annotations

from gateway.channels.paper import COVER_WORDS, _labels


def test_the_cover_sheet_reads_in_french_and_in_english() -> None:
    fr, en = _labels("fr"), _labels("en")
    assert set(fr) == set(en) == set(COVER_WORDS)
    assert (fr["from"], fr["batch"], fr["amount"], fr["pages_after"]) == \
        ("Émetteur", "Lot d'impression", "Montant à payer", "page(s) après cette page de garde")
    assert (en["from"], en["batch"], en["delivery"]) == ("From", "Print batch", "delivery")
    assert all(fr[k] != en[k] for k in COVER_WORDS)          # every word translated
