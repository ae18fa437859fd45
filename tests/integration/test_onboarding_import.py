"""Counterparty import: every kind of bad row named by line and reason, de-duplication within the
file, against counterparties on record, against partners and against network directories; buyers
of held documents proposed; the ``edigate onboarding import`` command."""
from __future__ import annotations

import json

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from gateway.config import load_settings
from gateway.db import DocumentRecord, Exchange, Network, NetworkParticipant, Partner
from gateway.runtime import Gateway
from onboarding.importer import ImportFileError, import_csv, propose_from_held
from onboarding.models import Counterparty, ImportBatch, TrackingEvent

from tests.support.onboarding_fixtures import counterparty_csv, gln, siren, siret, vat_fr


@pytest.fixture
def gw(tmp_path):
    g = Gateway(load_settings({"EDIGATE_HOME": str(tmp_path / "home")}))
    yield g
    g.close()


def _import(gw, data: bytes, **kw) -> ImportBatch:
    with gw.session() as s:
        return import_csv(s, data, filename="test.csv", **kw)


def _by_line(batch: ImportBatch) -> dict[int, dict]:
    return {e["line"]: e for e in batch.report if e["outcome"] != "header"}


GOOD = siret(1)
BAD_ROWS = "\n".join([
    "Raison sociale;SIREN;SIRET;N° TVA;GLN;Courriel;Contact;Segment;Langue",
    f"Good SA;{siren(1)};{GOOD};{vat_fr(siren(1))};{gln(1)};ok@example.test;Jean Dupont;transport;fr",     # 2
    f"Bad Siret SARL;;{siret(2)[:-1]}9;;;a2@example.test;;;fr" if not siret(2).endswith("9")
    else f"Bad Siret SARL;;{siret(2)[:-1]}8;;;a2@example.test;;;fr",                                       # 3
    f"Mismatch SAS;{siren(3)};{siret(4)};;;a3@example.test;;;fr",                                          # 4
    f"Bad Vat Key;{siren(5)};;FR00{siren(5)};;a5@example.test;;;fr",                                       # 5
    "Bad Vat Shape GmbH;;;DE-12;;a6@example.test;;;en",                                                    # 6
    f"Bad Gln;;;;{gln(7)[:-1]}{(int(gln(7)[-1]) + 1) % 10};a7@example.test;;;fr",                          # 7
    f"Bad Mail;;{siret(8)};;;not an address;;;fr",                                                         # 8
    f";;{siret(9)};;;a9@example.test;;;fr",                                                                # 9 no name
    f"Klingon Corp;;{siret(10)};;;a10@example.test;;;tlh",                                                 # 10
    f"Everything Wrong;123;{siret(11)[:-1]}x;FRXX;12;@;;;de",                                              # 11
    f"Too Many Fields;;{siret(12)};;;a12@example.test;;;fr;surprise",                                      # 12
    f"Lost Zero;;{siret(13)[1:]};;;a13@example.test;;;fr",                                                 # 13
    f"Good Again;;{GOOD};;;other@example.test;;;en",                                                       # 14 dup of 2
    "",                                                                                                     # blank
    f"Display Name Ltd;;{siret(16)};;;Marie Curie <marie@example.test>;;;English",                        # 16
    f"Missing Mail;;{siret(17)};;;;;;fr",                                                                  # 17
]) + "\n"


def test_every_bad_row_is_rejected_with_its_line_and_every_reason(gw):
    batch = _import(gw, BAD_ROWS.encode("utf-8"))
    rows = _by_line(batch)
    assert sorted(rows) == [2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 16, 17]
    outcome = {line: e["outcome"] for line, e in rows.items()}
    assert outcome == {2: "created", 3: "rejected", 4: "rejected", 5: "rejected", 6: "rejected", 7: "rejected",
                       8: "rejected", 9: "rejected", 10: "rejected", 11: "rejected", 12: "rejected",
                       13: "rejected", 14: "duplicate", 16: "created", 17: "rejected"}
    why = {line: " | ".join(e["reasons"]) for line, e in rows.items()}
    assert "bad SIRET" in why[3] and "check digit (Luhn)" in why[3]
    assert "do not match" in why[4] and siren(3) in why[4] and siret(4) in why[4]
    assert "bad VAT number" in why[5] and "key 00 does not match" in why[5]
    assert "bad VAT number" in why[6] and "'DE12'" in why[6]
    assert "bad GLN" in why[7] and "GS1 check digit" in why[7]
    assert "bad e-mail" in why[8] and "one address per row" in why[8]
    assert why[9] == "missing company name"
    assert "unknown language 'tlh'" in why[10]
    # a row with five problems names all five
    reasons11 = rows[11]["reasons"]
    assert len(reasons11) == 6, reasons11
    assert [r.split(":")[0] for r in reasons11] == ["bad SIRET", "bad SIREN", "bad VAT number", "bad GLN",
                                                    "bad e-mail", "unknown language 'de'"]
    assert "fields where the header has 9" in why[12]
    assert "leading zero lost by a spreadsheet" in why[13]
    assert why[14] == "same company as line 2: ignored"
    assert "missing e-mail address" in why[17]
    assert (batch.rows_total, batch.rows_accepted, batch.rows_rejected, batch.rows_duplicate) == (15, 2, 12, 1)

    with gw.session() as s:
        cps = {c.name: c for c in s.scalars(sa.select(Counterparty))}
        assert sorted(cps) == ["Display Name Ltd", "Good SA"]
        good = cps["Good SA"]
        assert (good.siren, good.siret, good.vat, good.gln, good.email, good.contact_name, good.segment,
                good.language, good.status, good.dedupe_key) == (
            siren(1), GOOD, vat_fr(siren(1)), gln(1), "ok@example.test", "Jean Dupont", "transport", "fr", "new",
            f"0009:{GOOD}")
        dn = cps["Display Name Ltd"]
        assert (dn.email, dn.contact_name, dn.language, dn.siren) == ("marie@example.test", "Marie Curie", "en",
                                                                       siret(16)[:9])
        assert s.scalar(sa.select(sa.func.count()).select_from(TrackingEvent)
                        .where(TrackingEvent.kind == "imported")) == 2


def test_line_numbers_count_physical_lines_across_quoted_line_breaks(gw):
    data = ("company name,siret,email\n"
            f"\"Two\nLine Name\",{siret(1)},a@example.test\n"
            f"After,{siret(2)[:-1]}0,b@example.test\n").encode()
    if siret(2).endswith("0"):
        data = data.replace(f"{siret(2)[:-1]}0".encode(), f"{siret(2)[:-1]}1".encode())
    batch = _import(gw, data)
    rows = _by_line(batch)
    assert rows[2]["outcome"] == "created" and rows[2]["name"] == "Two Line Name"
    assert rows[4]["outcome"] == "rejected" and "bad SIRET" in rows[4]["reasons"][0]


def test_comma_separated_english_headers_without_bom_and_semicolon_with_bom_read_the_same(gw, tmp_path):
    semicolon = counterparty_csv(3, delimiter=";", bom=True)
    comma = counterparty_csv(3, start=10, delimiter=",", bom=False).replace(
        "Raison sociale".encode(), b"Company name").replace("Courriel".encode(), b"E-mail").replace(
        "N° TVA".encode(), b"VAT number").replace("Langue".encode(), b"Language")
    b1, b2 = _import(gw, semicolon), _import(gw, comma)
    assert (b1.rows_accepted, b2.rows_accepted) == (3, 3)
    with gw.session() as s:
        c = s.scalar(sa.select(Counterparty).where(Counterparty.siret == siret(10)))
        assert (c.name, c.email, c.vat, c.gln) == ("Company 10 SAS", "c10@example.test", vat_fr(siren(10)), gln(10))


def test_unknown_columns_are_ignored_and_said(gw):
    batch = _import(gw, f"Nom;Courriel;Téléphone;SIRET\nA;a@example.test;0102030405;{siret(1)}\n".encode())
    assert batch.report[0] == {"line": 1, "outcome": "header", "counterparty_id": None, "name": None,
                               "reasons": ["column 'Téléphone' ignored (not one we import)"],
                               "said": [{"code": "column_ignored", "params": {"column": "'Téléphone'"}}]}
    assert batch.rows_accepted == 1


@pytest.mark.parametrize("data, message", [
    ("Raison sociale;Courriel\nÉcole;a@example.test\n".encode("latin-1"), "not UTF-8 text (byte 0xC9 on line 2)"),
    (b"Raison sociale;SIRET\nA;1\n", "no e-mail"),
    (b"   \n\n", "the file is empty"),
    (b"Nom;Raison sociale;Courriel\nA;B;c@example.test\n", "columns 1 ('Nom') and 2 ('Raison sociale') are both"),
    (b"Nom;Courriel\n\"A;a@example.test\n", "a quote left open"),
    (b"Nom;Courriel\nA\x00;a@example.test\n", "line 2: the file holds a NUL byte"),
])
def test_a_file_that_cannot_be_read_is_refused_whole_and_writes_nothing(gw, data, message):
    with pytest.raises(ImportFileError) as e:
        _import(gw, data)
    assert message in str(e.value)
    with gw.session() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(ImportBatch)) == 0
        assert s.scalar(sa.select(sa.func.count()).select_from(Counterparty)) == 0


def test_reimport_updates_the_counterparty_on_record_and_keeps_an_opt_out(gw):
    _import(gw, counterparty_csv(2))
    with gw.session() as s:
        c0 = s.scalar(sa.select(Counterparty).where(Counterparty.siret == siret(0)))
        c0.opted_out_at, c0.status = c0.created_at, "opted_out"
        first_ids = sorted(s.scalars(sa.select(Counterparty.id)))
    changed = counterparty_csv(2).replace(b"c1@example.test", b"new1@example.test").replace(
        b"Contact 0", b"Someone Else")
    batch = _import(gw, changed)
    rows = _by_line(batch)
    assert [rows[2]["outcome"], rows[3]["outcome"]] == ["updated", "updated"]
    assert "opted out on" in rows[2]["reasons"][0]
    with gw.session() as s:
        assert sorted(s.scalars(sa.select(Counterparty.id))) == first_ids
        c0 = s.scalar(sa.select(Counterparty).where(Counterparty.siret == siret(0)))
        c1 = s.scalar(sa.select(Counterparty).where(Counterparty.siret == siret(1)))
        assert (c0.status, c0.contact_name) == ("opted_out", "Someone Else")
        assert (c1.status, c1.email) == ("new", "new1@example.test")


def test_a_row_matching_a_partner_is_marked_existing_partner_and_never_invited(gw):
    with gw.session() as s:
        p1 = Partner(name="Known by SIRET")
        p1.add_identifier("0009", siret(1))
        p2 = Partner(name="Known by VAT")
        p2.add_identifier("9957", vat_fr(siren(2)))
        s.add_all([p1, p2])
        s.flush()
        ids = (p1.id, p2.id)
    batch = _import(gw, counterparty_csv(3))
    rows = _by_line(batch)
    assert [rows[n]["outcome"] for n in (2, 3, 4)] == ["created", "existing_partner", "existing_partner"]
    assert "already a partner of this gateway: Known by SIRET" in rows[3]["reasons"][0]
    with gw.session() as s:
        c1 = s.get(Counterparty, rows[3]["counterparty_id"])
        c2 = s.get(Counterparty, rows[4]["counterparty_id"])
        assert (c1.status, c1.partner_id, c2.status, c2.partner_id) == ("existing_partner", ids[0],
                                                                         "existing_partner", ids[1])
        assert not c1.invitable and not c2.invitable


def test_a_row_listed_in_an_interconnected_network_is_reachable_elsewhere(gw):
    with gw.session() as s:
        ap = Partner(name="Other PDP access point", as2_id="OTHER-PDP")
        off = Partner(name="Retired network access point", as2_id="OLD-PDP")
        s.add_all([ap, off])
        s.flush()
        net = Network(code="PDP-OTHER", name="Other PDP", partner_id=ap.id)
        dead = Network(code="PDP-OLD", name="Old PDP", partner_id=off.id, active=False)
        s.add_all([net, dead])
        s.flush()
        s.add(NetworkParticipant(network_id=net.id, scheme="0088", value=gln(1)))
        s.add(NetworkParticipant(network_id=dead.id, scheme="0009", value=siret(2)))
        net_id = net.id
    batch = _import(gw, counterparty_csv(3))
    rows = _by_line(batch)
    assert [rows[n]["outcome"] for n in (2, 3, 4)] == ["created", "reachable_elsewhere", "created"]
    assert rows[3]["reasons"] == [f"reachable through network PDP-OTHER (Other PDP) by GLN {gln(1)}; not invited"]
    with gw.session() as s:
        c = s.get(Counterparty, rows[3]["counterparty_id"])
        assert (c.status, c.network_id, c.invitable) == ("reachable_elsewhere", net_id, False)


def test_buyers_of_held_documents_are_proposed_once(gw):
    _import(gw, counterparty_csv(1))
    with gw.session() as s:
        ex = Exchange.inbound("api")
        s.add(ex)
        s.flush()
        common = dict(exchange=ex, syntax="ubl", mapping="ubl-invoice", valid=True, status="held")
        s.add_all([
            DocumentRecord(position=0, number="INV-1", buyer_name="Unknown Buyer SARL", buyer_id_scheme="0009",
                           buyer_id=siret(50), **common),
            DocumentRecord(position=1, number="INV-2", buyer_name="Unknown Buyer SARL", buyer_id_scheme="0009",
                           buyer_id=siret(50), **common),                             # same buyer again
            DocumentRecord(position=2, number="INV-3", buyer_name="Company 0 SAS", buyer_id_scheme="0009",
                           buyer_id=siret(0), **common),                              # already a counterparty
            DocumentRecord(position=3, number="INV-4", buyer_name="Nobody", **common),   # nothing to know it by
            DocumentRecord(position=4, number="INV-5", buyer_name="Delivered Ltd", buyer_id_scheme="0009",
                           buyer_id=siret(51), exchange=ex, syntax="ubl", mapping="ubl-invoice", valid=True,
                           status="delivered"),
        ])
    counts = propose_from_held(gw)
    assert counts == {"held_documents": 4, "proposed": 1, "known": 2, "unidentified": 1}
    assert propose_from_held(gw)["proposed"] == 0
    with gw.session() as s:
        c = s.scalar(sa.select(Counterparty).where(Counterparty.source == "held_document"))
        assert (c.name, c.siret, c.siren, c.email, c.status) == ("Unknown Buyer SARL", siret(50), siren(50), None,
                                                                 "new")


def test_cli_import_prints_each_row_and_exits_1_when_rows_were_rejected(tmp_path):
    f = tmp_path / "suppliers.csv"
    f.write_text(BAD_ROWS, encoding="utf-8")
    env = {"EDIGATE_HOME": str(tmp_path / "home")}
    r = CliRunner().invoke(_main(), ["onboarding", "import", str(f)], env=env)
    assert r.exit_code == 1, r.output
    assert "line 2: created (counterparty 1)" in r.stdout
    assert "line 7: rejected: bad GLN" in r.stdout
    assert "line 14: duplicate: same company as line 2: ignored" in r.stdout
    r = CliRunner().invoke(_main(), ["onboarding", "import", "--json", str(f)], env=env)
    data = json.loads(r.stdout)
    assert r.exit_code == 1 and data["rejected"] == 12
    assert {e["line"]: e["outcome"] for e in data["report"]}[2] == "updated"     # the second import updates
    good = tmp_path / "good.csv"
    good.write_bytes(counterparty_csv(2))
    r = CliRunner().invoke(_main(), ["onboarding", "import", str(good)], env=env)
    assert r.exit_code == 0, r.output
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"Nom;SIRET\nA;1\n")
    r = CliRunner().invoke(_main(), ["onboarding", "import", str(bad)], env=env)
    assert r.exit_code == 2 and "no e-mail" in r.output and "nothing imported" in r.output


def _main():
    from gateway.cli import main
    return main
