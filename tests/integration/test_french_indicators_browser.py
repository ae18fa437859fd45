"""The indicators and the controls in French, in headless Chromium, judged against the catalogue.

An operator whose browser asks for French reads the indicators page (titles, notes, column headers,
row labels, the charts' legends and labels) and the controls page in French: every text a person
reads is a French entry of the catalogue, data from the record, or a number or a day as the French
locale writes them (``07/12/2026``, ``14,29``). The CSV export for French spreadsheets (``dialect=fr``)
has ``;`` between cells, French headers and decimal commas; the plain one stays ``,`` and English.

Data: the indicators' own world (tests/integration/test_indicators.py: real files through the real
pipeline, a bank account change held by the controls).
"""
from __future__ import annotations

import csv
import io
import re
from datetime import timedelta

import sqlalchemy as sa

from gateway.controls.settings import definitions
from gateway.db import ControlHold

from tests.integration.test_french_pages_browser import judge_page, log_in, record_data
from tests.integration.test_indicators import TODAY, gw, world  # noqa: F401 (fixtures)
from tests.support.french_text import FrenchJudge
from tests.support.live_app import served


def test_an_operator_reads_the_indicators_and_controls_in_french(gw, world, browser, tmp_path) -> None:  # noqa: F811
    judge = FrenchJudge.load()
    data = record_data(gw) | {"api", "sftp", "ubl", "edifact-d96a", "(unknown sender)"}
    for name, d in definitions().items():        # the controls' names, rule ids and thresholds are codes
        data |= {name, *d.rules, *d.thresholds}
    with gw.session() as s:
        for hold in s.scalars(sa.select(ControlHold)):
            data |= {hold.control, hold.supplier_key, *(hold.evidence.get("new_accounts") or []),
                     *(p["account"] for p in hold.evidence.get("previous") or [])}
    with served(gw) as base:
        context = browser.new_context(locale="fr-FR", viewport={"width": 1400, "height": 1000})
        page = context.new_page()
        page.set_default_timeout(15_000)
        try:
            log_in(page, base, "", "olivia", "/")
            page.goto(f"{base}/indicators")
            judge_page(page, judge, data, "indicators", tmp_path)
            assert page.locator("#volumes-channel h2").inner_text().startswith("Factures reçues par jour, par canal")
            bars = page.locator("#volumes-channel svg.chart rect title").all_text_contents()
            assert f"{TODAY:%d/%m/%Y} · api: 9" in bars, bars
            ageing = page.locator("#ageing svg.chart rect title").all_text_contents()
            assert "retenues pour confirmation · < 1 jour: 1" in ageing, ageing
            cells = page.locator("#quality td.num").all_inner_texts()
            assert any(re.fullmatch(r"\d+,\d+", c) for c in cells), cells        # a rate with a decimal comma

            period = f"from={TODAY - timedelta(days=6)}&to={TODAY}"
            french = page.request.get(f"{base}/indicators/quality.csv?{period}&dialect=fr")
            rows = list(csv.reader(io.StringIO(french.text()), delimiter=";"))
            assert rows[0][:4] == ["jour", "reçu", "non valide", "fichiers illisibles"], rows[0]
            assert any(re.fullmatch(r"\d+,\d+", v) for row in rows[1:] for v in row), rows
            plain = page.request.get(f"{base}/indicators/quality.csv?{period}")
            assert plain.text().splitlines()[0].startswith("day,received,invalid,"), plain.text()[:200]

            page.goto(f"{base}/controls")
            judge_page(page, judge, data, "controls", tmp_path)
            assert page.locator("h1").inner_text() == "Contrôles d'anomalies et de fraude" or \
                "fraude" in page.locator("h1").inner_text()
            held = page.locator("table.holds tbody td").all_inner_texts()
            assert any(re.search(r"\(\d{2}/\d{2}/\d{4}, (appris|confirmé|opérateur)\)", c) for c in held), held
        finally:
            context.close()
