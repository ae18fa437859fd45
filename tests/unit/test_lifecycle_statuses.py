"""The life cycle as data (gateway/delivery/lifecycle.yaml): the French statuses 200-228 with
their codes, names and reason rules, the core cycle unchanged, the French cycle's moves."""
from __future__ import annotations

from pathlib import Path

import pytest

from gateway.db import BUSINESS_STATUSES, DocumentRecord, DocumentStatusEvent
from gateway.delivery import state, statuses
from gateway.syntaxes.aperak import STATUS_CODES


def test_the_existing_statuses_keep_their_french_codes() -> None:
    assert {n: statuses.STATUSES[n].code for n in statuses.CORE} == {
        "deposited": "200", "received": "202", "accepted": "205", "refused": "210", "disputed": "207",
        "payment_sent": "211", "paid": "212"}
    # the APERAK says the same codes
    assert {c.status: c.lifecycle for c in STATUS_CODES.values()} == {n: statuses.STATUSES[n].code
                                                                        for n in STATUS_CODES}


def test_every_french_status_200_to_228_with_its_names() -> None:
    codes = {s.code: (s.fr, s.en) for s in statuses.STATUSES.values()}
    assert sorted(codes) == ["200", "201", "202", "203", "204", "205", "206", "207", "208", "209", "210", "211",
                             "212", "213", "214", "220", "221", "224", "225", "226", "227", "228"]
    assert codes["201"][0] == "Émise par la plateforme" and codes["203"][0] == "Mise à disposition"
    assert codes["204"][0] == "Prise en charge" and codes["206"][0] == "Approuvée partiellement"
    assert codes["208"] == ("Suspendue", "Suspended") and codes["209"][0] == "Complétée"
    assert codes["213"] == ("Rejetée", "Rejected") and codes["214"][0] == "Visée"
    assert codes["220"][0] == "Annulée" and codes["221"] == ("Erreur de routage", "Routing error")
    assert statuses.by_code("212").name == "paid" and statuses.by_code("999") is None
    assert BUSINESS_STATUSES == statuses.NAMES and BUSINESS_STATUSES[:7] == (
        "deposited", "received", "accepted", "refused", "disputed", "payment_sent", "paid")


def test_names_fit_the_database_columns() -> None:
    width = min(DocumentRecord.__table__.c.business_status.type.length,
                DocumentStatusEvent.__table__.c.status.type.length)
    assert max(len(n) for n in statuses.NAMES) <= width == statuses.MAX_NAME


def test_the_core_cycle_is_the_one_the_gateway_always_had() -> None:
    assert state.MOVES == {
        None: {"deposited", "received"}, "deposited": {"received"},
        "received": {"accepted", "refused", "disputed"}, "disputed": {"accepted", "refused"},
        "accepted": {"payment_sent", "paid"}, "payment_sent": {"paid"}, "refused": set(), "paid": set()}
    assert state.DECISIONS == {"accepted", "refused", "disputed"} and state.REASON_REQUIRED == {"refused"}
    assert state.RECIPIENT_STATUSES == ("accepted", "refused", "disputed", "payment_sent", "paid")
    assert state.allowed_moves("received") == ["accepted", "refused", "disputed"]


def test_the_french_cycle() -> None:
    assert state.allowed_moves("received", "fr") == ["accepted", "refused", "disputed", "made_available", "in_hand",
                                                     "partly_approved", "suspended", "rejected", "routing_error"]
    assert state.allowed_moves("suspended") == ["refused", "completed", "cancelled"]      # French: inferred
    assert "completed" not in state.allowed_moves("received", "fr")
    assert state.allowed_moves("deposited", "fr")[:5] == ["received", "accepted", "refused", "disputed", "issued"]
    for name in ("refused", "paid", "rejected", "cancelled", "routing_error"):
        assert state.allowed_moves(name, "fr") == []
    # every status is reachable from the start in the French cycle
    seen, todo = set(), [None]
    while todo:
        for m in state.allowed_moves(todo.pop(), "fr"):
            if m not in seen:
                seen.add(m)
                todo.append(m)
    assert seen == set(statuses.NAMES)
    assert state.cycle_of(current="in_hand") == "fr" and state.cycle_of(current="accepted") == "core"


@pytest.mark.parametrize("status, code, message", [
    ("disputed", None, "disputed \\(207 En litige\\): give a reason code"),
    ("refused", "AUTRE", "reason code AUTRE is not allowed; one of: TX_TVA_ERR"),
    ("rejected", None, "give a reason code, one of: MONTANTTOTAL_ERR"),
    ("suspended", "TX_TVA_ERR", "not allowed"),
    ("accepted", "QTY", "'QTY' is not a French life-cycle reason code"),
    ("routing_error", "DOUBLON", "one of: ROUTAGE_ERR$"),
])
def test_reason_codes_the_french_cycle_refuses(status, code, message) -> None:
    with pytest.raises(ValueError, match=message):
        state.check_reason_code(status, code)


def test_reason_codes_the_french_cycle_takes() -> None:
    state.check_reason_code("disputed", "AUTRE")
    state.check_reason_code("refused", "DOUBLON")
    state.check_reason_code("refused", "AUTRE", public_buyer=True)     # a public buyer's list
    state.check_reason_code("accepted", None)
    state.check_reason_code("paid", "AUTRE")                            # any code where no list is set
    assert statuses.REASONS["TX_TVA_ERR"]("fr") == "Taux de TVA erroné"
    assert statuses.ACTIONS["NIN"].en == "Issue a corrective invoice"


@pytest.mark.parametrize("change, message", [
    (("moves: [paid]", "moves: [payed]"), "moves to unknown statuses \\['payed'\\]"),
    (('code: "228"', 'code: "212"'), "code '212' is not a new 200-series code"),
    (("  not_factored:\n", "  not_factored_any_longer:\n"), "lower-case letters"),
    (("reasons: [NON_TRANSMISE]", "reasons: [NOPE]"), "unknown reason codes \\['NOPE'\\]"),
])
def test_a_broken_data_file_is_refused_with_the_reason(tmp_path: Path, change, message) -> None:
    text = statuses.DATA_FILE.read_text(encoding="utf-8")
    assert change[0] in text
    bad = tmp_path / "lifecycle.yaml"
    bad.write_text(text.replace(change[0], change[1], 1), encoding="utf-8")
    with pytest.raises(ValueError, match=message):
        statuses.load(bad)
