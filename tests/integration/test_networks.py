"""Network directories (gateway.networks.listing, gateway.networks.directory, ``edigate network``): reading
CSV, JSON and Peppol-Directory-like XML (hostile XML and bad rows included, reported by line),
fetching from files and from a real HTTP server on loopback (size limit, timeout), refreshes that
replace the participant set in bulk or keep it when they fail, the claimed schedule (two workers
refresh once, on SQLite and PostgreSQL), the job sweep, and the command line."""
from __future__ import annotations

import json
import threading
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Iterator

import click
import pytest
import sqlalchemy as sa
from click.testing import CliRunner, Result

from gateway.cli.network import network_group
from gateway.cli.partner import partner_group
from gateway.config import load_settings
from gateway.db import Network, NetworkParticipant, Partner, migrate, session_scope
from gateway.networks.listing import DirectoryError, Problem, fetch, read
from gateway.model.identifiers import gs1_check_digit
from gateway.networks.directory import (FAILED, RETRY_FAILED, claim_refresh, due_directories,
                                        import_directory, refresh_network)
from gateway.runtime import Gateway

GLN = "5790000435951"
GLN2 = "4000001000005"
SIRET = "73282932000074"
VAT = "FR40303265045"
T0 = datetime(2025, 3, 1, 8, 0, tzinfo=timezone.utc)
DAY = timedelta(days=1)


def gln(n: int) -> str:
    body = f"{n:012d}"
    return body + str(gs1_check_digit(body))


# --- fixtures ---------------------------------------------------------------------------------

@pytest.fixture
def gw(make_gateway) -> Gateway:
    return make_gateway()


@pytest.fixture(params=["sqlite", "postgresql"])
def any_db_gw(request, tmp_path: Path) -> Iterator[Gateway]:
    env = {"EDIGATE_HOME": str(tmp_path / "home")}
    if request.param == "postgresql":
        env["EDIGATE_DATABASE_URL"] = request.getfixturevalue("postgres_server").create_database()
    g = Gateway(load_settings(env), immediate_jobs=True)
    yield g
    g.close()


class DirectoryServer:
    """A real HTTP server on loopback publishing directory files: ``files[path] = bytes``;
    ``hits`` counts requests; ``stall`` paths answer only after ``stall_seconds``; ``chunked``
    paths are sent without a Content-Length."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.hits: Counter[str] = Counter()
        self.stall: set[str] = set()
        self.chunked: set[str] = set()
        self.trickle: set[str] = set()         # chunked, a pause before each chunk
        self.stall_seconds = 3.0
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:       # noqa: N802 - http.server's name
                server.hits[self.path] += 1
                if self.path in server.stall:
                    time.sleep(server.stall_seconds)
                data = server.files.get(self.path)
                if data is None:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/csv")
                if self.path in server.chunked | server.trickle:
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    for i in range(0, len(data), 1000):
                        part = data[i:i + 1000]
                        if self.path in server.trickle:
                            time.sleep(0.1)
                        try:
                            self.wfile.write(f"{len(part):x}\r\n".encode() + part + b"\r\n")
                            self.wfile.flush()
                        except OSError:             # the client gave up
                            return
                    self.wfile.write(b"0\r\n\r\n")
                else:
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"

    def close(self) -> None:
        if self.thread.is_alive():
            self.httpd.shutdown()
            self.httpd.server_close()
            self.thread.join()


@pytest.fixture
def http() -> Iterator[DirectoryServer]:
    server = DirectoryServer()
    yield server
    server.close()


def add_network(gw: Gateway, code: str = "PDP-X", *, source: str | None = None, fmt: str = "csv",
                every: int = 86400, active: bool = True) -> int:
    with gw.session() as s:
        ap = Partner(name=f"AP {code}", as2_id=f"as2-{code.lower()}", as2_url="http://127.0.0.1:9/as2")
        n = Network(code=code, name=f"Network {code}", partner=ap, formats=["ubl"], directory_source=source,
                    directory_format=fmt, refresh_interval_seconds=every, active=active)
        s.add(n)
        s.flush()
        return n.id


def listed(gw: Gateway, network_id: int) -> dict[tuple[str, str], str | None]:
    with gw.session() as s:
        return {(p.scheme, p.value): p.name for p in s.scalars(
            sa.select(NetworkParticipant).where(NetworkParticipant.network_id == network_id))}


def rows_of(gw: Gateway, network_id: int) -> dict[tuple[str, str], tuple[int, datetime]]:
    with gw.session() as s:
        return {(p.scheme, p.value): (p.id, p.seen_at) for p in s.scalars(
            sa.select(NetworkParticipant).where(NetworkParticipant.network_id == network_id))}


def net(gw: Gateway, network_id: int) -> Network:
    with gw.session() as s:
        return s.get(Network, network_id)


def problems(listing) -> list[str]:
    return [str(p) for p in listing.problems]


def entries(listing) -> list[tuple[str, str, str | None, int]]:
    return [(e.scheme, e.value, e.name, e.line) for e in listing.entries]


# --- reading: CSV -----------------------------------------------------------------------------

def test_csv_with_codes_labels_and_peppol_identifiers():
    data = ("\ufeffValue;Name;Scheme;Country\n"
            f"{GLN};Acme SA;0088;FR\n"
            f"732 829 320 00074;  Foo   et  Fils ;siret;FR\n"
            f"{VAT.lower()};Vat Co;VAT;FR\n"
            f"0088:{GLN2};Peppol Co;iso6523-actorid-upis;DE\n"
            "AP@Buyer.example;;EM;FR\n").encode()
    listing = read(data, "csv")
    assert entries(listing) == [("0088", GLN, "Acme SA", 2), ("0009", SIRET, "Foo et Fils", 3),
                                ("9957", VAT, "Vat Co", 4), ("0088", GLN2, "Peppol Co", 5),
                                ("EM", "ap@buyer.example", None, 6)]
    assert listing.problems == [] and listing.rows == 5


def test_csv_bad_rows_are_reported_by_line_and_the_rest_is_read():
    data = ("scheme,value,name\n"
            f"0088,{GLN},Good One\n"
            "0088,,No Value\n"
            ",123,No Scheme\n"
            "WHATEVER,123,Unknown Scheme\n"
            "0009,12345678901234,Bad Luhn\n"
            "0088\n"
            f'0088,{GLN2},"A name\nover two lines"\n'
            "0088,4000001000004,Bad GS1\n"
            f"0088,{GLN},Listed Again\n"
            "\n"
            f"SIRET,{SIRET},Good Two\n").encode()
    listing = read(data, "csv")
    assert entries(listing) == [("0088", GLN, "Good One", 2), ("0088", GLN2, "A name over two lines", 8),
                                ("0009", SIRET, "Good Two", 13)]
    assert problems(listing) == [
        "line 3: no value",
        "line 4: no scheme",
        "line 5: unknown identifier scheme 'WHATEVER': give a code (0009, 0088, 9957, EM…) or a label "
        "(DUNS, French directory address, GLN, KBO/BCE, KvK, SIREN, SIRET, VAT, certified platform, e-mail address)",
        "line 6: SIRET 12345678901234 fails its check digit (Luhn): a typo?",
        "line 7: 1 column(s), expected at least 2 (the header says scheme, value, name)",
        "line 10: GLN 4000001000004 fails its GS1 check digit (expected 5 as the last digit): a typo?",
    ]
    assert listing.repeated == 1 and listing.rows == 10


@pytest.mark.parametrize("data, message, line", [
    (b"0088,5790000435951,Acme\n", "the CSV header must name the columns scheme,value[,name]", 1),
    (b"\n\nscheme,name\n0088,Acme\n", "the CSV header must name the columns scheme,value[,name]", 3),
    (b"", "the CSV directory is empty", None),
    (b'scheme,value\n0088,"579000\n', "CSV: unexpected end of data", 2),
    (b"scheme,value\n0088,57900\x0000435951\n", "a NUL character in a CSV directory", 2),
    (b"scheme,value\n0088,caf\xe9\n", "not UTF-8 text", 2),
])
def test_a_csv_that_cannot_be_read_says_where(data, message, line):
    with pytest.raises(DirectoryError) as e:
        read(data, "csv")
    assert e.value.message.startswith(message) and e.value.line == line


# --- reading: JSON ----------------------------------------------------------------------------

def test_json_items_are_reported_with_the_line_they_start_on():
    data = ('[\n'
            f'  {{"scheme": "0088", "value": "{GLN}", "name": "Acme"}},\n'
            '  {"scheme": 88, "value": "1"},\n'
            '  "0088:123",\n'
            '  {\n'
            '    "scheme": "SIRET",\n'
            f'    "value": "{SIRET}"\n'
            '  },\n'
            '  {"scheme": "0088", "value": null},\n'
            f'  {{"scheme": "iso6523-actorid-upis", "value": "0088:{GLN2}", "name": 42}}\n'
            ']\n').encode()
    listing = read(data, "json")
    assert entries(listing) == [("0088", GLN, "Acme", 2), ("0009", SIRET, None, 5), ("0088", GLN2, "42", 10)]
    assert problems(listing) == [
        "line 3: the scheme 88 is not text (write it in quotes, so that leading zeros are kept)",
        'line 4: expected an object {"scheme", "value", "name"}, found str',
        "line 9: no value",
    ]


@pytest.mark.parametrize("data, message, line, column", [
    (b'[\n {"scheme": "0088", "value": "1",}\n]', "malformed JSON: Expecting property name enclosed in double quotes",
     2, 34),
    (b'[\n {"scheme": "0088"}\n {"scheme": "0088"}\n]', "malformed JSON: Expecting ',' delimiter or ']'", 3, 2),
    (b'{"participants": []}', 'a JSON directory is a list of {"scheme", "value", "name"} objects', 1, None),
    (b'[]\n[]', "malformed JSON: Extra data after the list", 2, 1),
    (b'[' * 100_000, "JSON nested too deeply", None, None),
])
def test_malformed_json_says_where(data, message, line, column):
    with pytest.raises(DirectoryError) as e:
        read(data, "json")
    assert (e.value.message, e.value.line, e.value.column) == (message, line, column)


def test_an_empty_json_list_lists_nobody():
    assert read(b" [ ] \n", "json").entries == []


# --- reading: XML -----------------------------------------------------------------------------

PEPPOL_BUSINESS_CARDS = f"""<?xml version="1.0" encoding="UTF-8"?>
<root xmlns="urn:peppol:schema:pd:businesscard-generic:2025:03" version="3" creationdt="2025-03-01T00:00:00Z">
  <businesscard>
    <participant scheme="iso6523-actorid-upis" value="0088:{GLN}"/>
    <entity countrycode="DK">
      <name name="Acme A/S" language="da"/>
      <name name="Acme Ltd" language="en"/>
      <id scheme="DK:CVR" value="12345678"/>
    </entity>
    <doctypeid scheme="busdox-docid-qns" value="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2::Invoice"/>
  </businesscard>
  <businesscard>
    <participant scheme="iso6523-actorid-upis" value="9957:{VAT}"/>
    <entity countrycode="FR"><name name="Vat Co"/></entity>
  </businesscard>
  <businesscard>
    <participant scheme="iso6523-actorid-upis" value="9957{VAT}"/>
  </businesscard>
  <businesscard>
    <participant value="0088:{GLN2}"/>
  </businesscard>
</root>
""".encode()

PEPPOL_PARTICIPANTS = f"""<?xml version="1.0" encoding="UTF-8"?>
<root xmlns="http://www.peppol.eu/schema/pd/participant-generic/201910/" version="1" count="2">
  <participantID scheme="iso6523-actorid-upis" value="0009:{SIRET}"/>
  <participantID scheme="iso6523-actorid-upis" value="0088:{GLN2}"/>
</root>
""".encode()


def test_peppol_directory_business_card_export():
    listing = read(PEPPOL_BUSINESS_CARDS, "xml")
    assert entries(listing) == [("0088", GLN, "Acme A/S", 4), ("9957", VAT, "Vat Co", 13)]
    assert problems(listing) == [
        f"line 17: a Peppol participant identifier is ICD:VALUE (e.g. 0088:5790000435951), not '9957{VAT}'",
        "line 20: no scheme",
    ]


def test_peppol_directory_participant_export_and_plain_participant_elements():
    assert entries(read(PEPPOL_PARTICIPANTS, "xml")) == [("0009", SIRET, None, 3), ("0088", GLN2, None, 4)]
    plain = f'<participants>\n<participant scheme="GLN" value="{GLN}" name="Acme"/>\n</participants>'.encode()
    assert entries(read(plain, "xml")) == [("0088", GLN, "Acme", 2)]


SECRET = "root:x:0:0"


@pytest.mark.parametrize("data", [
    # billion laughs
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;'
    b'&lol;&lol;&lol;&lol;&lol;"><!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>'
    b'<root><participant scheme="0088" value="&lol3;"/></root>',
    # XXE: a local file as an entity
    b'<?xml version="1.0"?><!DOCTYPE root [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
    b'<root><participant scheme="0088" name="&xxe;" value="5790000435951"/></root>',
    # external DTD over the network
    b'<?xml version="1.0"?><!DOCTYPE root SYSTEM "http://127.0.0.1:9/evil.dtd"><root/>',
])
def test_hostile_xml_is_refused_before_anything_is_expanded(data):
    with pytest.raises(DirectoryError) as e:
        read(data, "xml")
    assert e.value.message == "XML: DOCTYPE declarations are not accepted (XXE / entity expansion protection)"
    assert SECRET not in str(e.value)


def test_xml_nested_absurdly_deep_is_refused():
    data = b"<a>" * 300 + b"</a>" * 300
    with pytest.raises(DirectoryError) as e:
        read(data, "xml")
    assert "nesting deeper than" in e.value.message


@pytest.mark.parametrize("data, message, line", [
    (b'<root>\n<participant scheme="0088" value="1">\n</root>',
     "XML: Malformed XML: Opening and ending tag mismatch: participant line 2 and root", 3),
    (b'<root>\n  <entry scheme="0088" value="1"/>\n</root>',
     "no <participant scheme=… value=…> element in the XML directory (root <root>)", 1),
    (b"", "XML: Malformed XML: the document is empty", None),
])
def test_malformed_xml_says_where(data, message, line):
    with pytest.raises(DirectoryError) as e:
        read(data, "xml")
    assert (e.value.message, e.value.line) == (message, line)


def test_an_unknown_format_is_refused():
    with pytest.raises(DirectoryError, match="directory format 'xlsx' is not one of csv, json, xml"):
        read(b"", "xlsx")


# --- fetching ---------------------------------------------------------------------------------

def test_fetch_from_a_local_file_and_its_refusals(tmp_path: Path):
    f = tmp_path / "dir.csv"
    f.write_bytes(b"scheme,value\n" + b"0088,5790000435951\n" * 10)
    assert fetch(str(f)) == f.read_bytes()
    with pytest.raises(DirectoryError, match=r"larger than the 100 bytes accepted"):
        fetch(str(f), max_bytes=100)
    with pytest.raises(DirectoryError, match=r"nope\.csv: no such file"):
        fetch(str(tmp_path / "nope.csv"))
    with pytest.raises(DirectoryError, match=r"is a directory, not a file"):
        fetch(str(tmp_path))
    with pytest.raises(DirectoryError, match=r"only local paths and http\(s\) URLs are read"):
        fetch("ftp://example.org/dir.csv")


def test_fetch_over_http_with_size_limit_and_timeout(http: DirectoryServer):
    body = b"scheme,value\n" + b"0088,5790000435951\n" * 200
    http.files["/dir.csv"] = body
    http.files["/chunked.csv"] = body
    http.chunked.add("/chunked.csv")
    http.files["/slow.csv"] = body
    http.stall.add("/slow.csv")
    http.files["/trickle.csv"] = body * 10          # 38 chunks, 0.1 s apart
    http.trickle.add("/trickle.csv")
    assert fetch(http.url("/dir.csv")) == body
    assert fetch(http.url("/chunked.csv")) == body
    with pytest.raises(DirectoryError) as e:
        fetch(http.url("/dir.csv"), max_bytes=1000)
    assert str(e.value) == f"{http.url('/dir.csv')}: {len(body):,} bytes announced, more than the 1,000 accepted " \
                           "for a directory"
    with pytest.raises(DirectoryError) as e:          # no Content-Length: counted while reading
        fetch(http.url("/chunked.csv"), max_bytes=1000)
    assert str(e.value) == f"{http.url('/chunked.csv')}: larger than the 1,000 bytes accepted for a directory"
    with pytest.raises(DirectoryError) as e:
        fetch(http.url("/missing.csv"))
    assert str(e.value) == f"{http.url('/missing.csv')}: HTTP 404 Not Found"
    with pytest.raises(DirectoryError) as e:
        fetch(http.url("/slow.csv"), timeout=0.3)
    assert str(e.value) == f"{http.url('/slow.csv')}: no answer within 0.3 s"
    with pytest.raises(DirectoryError) as e:          # never silent for long, but never done either
        fetch(http.url("/trickle.csv"), timeout=5, total=0.5)
    assert str(e.value).startswith(f"{http.url('/trickle.csv')}: not downloaded within 0.5 s (")
    port = http.httpd.server_address[1]
    http.close()
    with pytest.raises(DirectoryError) as e:
        fetch(f"http://127.0.0.1:{port}/dir.csv", timeout=5)
    assert str(e.value) == f"http://127.0.0.1:{port}/dir.csv: cannot connect: Connection refused"


# --- refresh ----------------------------------------------------------------------------------

def test_a_refresh_replaces_the_set_keeping_rows_still_listed(gw, tmp_path: Path):
    f = tmp_path / "dir.csv"
    f.write_text(f"scheme,value,name\n0088,{GLN},Acme\nSIRET,{SIRET},Foo\n0088,{GLN2},Leaving\n")
    nid = add_network(gw, source=str(f))
    first = refresh_network(gw, nid, T0)
    assert (first.ok, first.count, first.added, first.removed, first.renamed) == (True, 3, 3, 0, 0)
    before = rows_of(gw, nid)
    assert listed(gw, nid) == {("0088", GLN): "Acme", ("0009", SIRET): "Foo", ("0088", GLN2): "Leaving"}

    f.write_text(f"scheme,value,name\n0088,{GLN},Acme Renamed\nSIRET,{SIRET},Foo\nVAT,{VAT},Newcomer\n")
    second = refresh_network(gw, nid, T0 + DAY)
    assert (second.ok, second.count, second.added, second.removed, second.renamed) == (True, 3, 1, 1, 1)
    assert listed(gw, nid) == {("0088", GLN): "Acme Renamed", ("0009", SIRET): "Foo", ("9957", VAT): "Newcomer"}
    after = rows_of(gw, nid)
    for key in (("0088", GLN), ("0009", SIRET)):            # kept rows are updated, not re-created
        assert after[key] == (before[key][0], T0 + DAY)
    assert after[("9957", VAT)][1] == T0 + DAY
    n = net(gw, nid)
    assert (n.participant_count, n.refreshed_at, n.refresh_error) == (3, T0 + DAY, None)


def test_a_failed_refresh_keeps_the_old_set_and_says_where(gw, tmp_path: Path):
    f = tmp_path / "dir.json"
    f.write_text(json.dumps([{"scheme": "0088", "value": GLN, "name": "Acme"}]))
    nid = add_network(gw, source=str(f), fmt="json")
    assert refresh_network(gw, nid, T0).ok
    f.write_text('[\n  {"scheme": "0088", "value": "4000001000005"},\n  {"scheme": "0088" "value": "x"}\n]')
    result = refresh_network(gw, nid, T0 + DAY)
    assert not result.ok
    assert result.error == (f"{FAILED}{f}: malformed JSON: Expecting ',' delimiter (line 3, column 21); "
                            "kept the 1 participant(s) listed before")
    assert listed(gw, nid) == {("0088", GLN): "Acme"}
    n = net(gw, nid)
    assert (n.participant_count, n.refresh_error, n.refreshed_at) == (1, result.error, T0 + DAY)
    # a failed refresh is tried again within RETRY_FAILED, not a whole interval later
    assert due_directories(gw, T0 + DAY + RETRY_FAILED - timedelta(seconds=1)) == []
    assert due_directories(gw, T0 + DAY + RETRY_FAILED) == [nid]
    f.write_text(json.dumps([{"scheme": "0088", "value": GLN2, "name": "Other"}]))
    again = refresh_network(gw, nid, T0 + DAY + RETRY_FAILED)
    assert again.ok and listed(gw, nid) == {("0088", GLN2): "Other"}
    assert net(gw, nid).refresh_error is None


def test_an_unreachable_source_keeps_the_old_set(gw, http: DirectoryServer):
    http.files["/dir.csv"] = f"scheme,value\n0088,{GLN}\n".encode()
    nid = add_network(gw, source=http.url("/dir.csv"))
    assert refresh_network(gw, nid, T0).ok
    del http.files["/dir.csv"]
    result = refresh_network(gw, nid, T0 + DAY)
    assert result.error == \
        f"{FAILED}{http.url('/dir.csv')}: HTTP 404 Not Found; kept the 1 participant(s) listed before"
    assert listed(gw, nid) == {("0088", GLN): None}


@pytest.mark.parametrize("content, error", [
    ("scheme,value\n0088,123\nSIRET,1\n", "no valid row in 2; first problem line 2: a GLN is 13 digits, not '123'"),
    ("scheme,value\n", "the directory lists nobody (an empty or cut-short publication?); the 1 participant(s) "
                       "listed before are kept"),
])
def test_a_refresh_that_would_empty_the_directory_is_refused(gw, tmp_path: Path, content, error):
    f = tmp_path / "dir.csv"
    f.write_text(f"scheme,value\n0088,{GLN}\n")
    nid = add_network(gw, source=str(f))
    assert refresh_network(gw, nid, T0).ok
    f.write_text(content)
    result = refresh_network(gw, nid, T0 + DAY)
    assert result.error == f"{FAILED}{f}: {error}; kept the 1 participant(s) listed before"
    assert listed(gw, nid) == {("0088", GLN): None} and net(gw, nid).participant_count == 1


def test_an_operator_may_empty_a_directory_on_purpose(gw):
    nid = add_network(gw)
    assert import_directory(gw, nid, f"scheme,value\n0088,{GLN}\n".encode(), "csv", now=T0).count == 1
    assert not import_directory(gw, nid, b"scheme,value\n", "csv", now=T0).ok
    emptied = import_directory(gw, nid, b"scheme,value\n", "csv", now=T0, allow_empty=True)
    assert (emptied.ok, emptied.removed, listed(gw, nid), net(gw, nid).participant_count) == (True, 1, {}, 0)


def test_skipped_rows_are_recorded_by_line_and_the_refresh_stands(gw, tmp_path: Path):
    f = tmp_path / "dir.csv"
    f.write_text(f"scheme,value\n0088,{GLN}\n0088,12\n" + "".join(f"0088,{n}\n" for n in range(30)))
    nid = add_network(gw, source=str(f))
    result = refresh_network(gw, nid, T0)
    assert result.ok and result.count == 1 and len(result.problems) == 31
    assert result.problems[0] == Problem(3, "a GLN is 13 digits, not '12'")
    note = net(gw, nid).refresh_error
    assert note.startswith("31 invalid row(s) skipped: line 3: a GLN is 13 digits, not '12'; line 4: ")
    assert note.endswith("line 22: a GLN is 13 digits, not '18'; and 11 more")
    assert not note.startswith(FAILED)
    assert due_directories(gw, T0 + DAY - timedelta(seconds=1)) == []       # a full interval: it worked


def test_a_failed_import_changes_nothing_at_all(gw):
    nid = add_network(gw)
    assert import_directory(gw, nid, f"scheme,value\n0088,{GLN}\n".encode(), "csv", now=T0).ok
    before = net(gw, nid)
    result = import_directory(gw, nid, b"<root><participant", "xml", source="upload.xml", now=T0 + DAY)
    assert not result.ok and result.error.startswith("upload.xml: XML: Malformed XML: ")
    after = net(gw, nid)
    assert (after.refreshed_at, after.refresh_error, after.participant_count) == \
        (before.refreshed_at, before.refresh_error, 1)
    assert listed(gw, nid) == {("0088", GLN): None}


def test_a_network_without_source_reports_it(gw):
    nid = add_network(gw)
    assert refresh_network(gw, nid, T0) is None             # nothing to claim: not scheduled
    result = refresh_network(gw, nid, T0, force=True)
    assert not result.ok and result.error.startswith("no directory source to refresh from")


# --- 100,000 participants in bulk ---------------------------------------------------------------

def test_a_directory_of_100000_participants_is_replaced_in_bulk(any_db_gw, tmp_path: Path):
    gw = any_db_gw
    statements: list[str] = []

    @sa.event.listens_for(gw.engine, "before_cursor_execute")
    def count(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    f = tmp_path / "big.csv"
    f.write_text("scheme,value,name\n" + "".join(f"0088,{gln(n)},Company {n}\n" for n in range(100_000)))
    nid = add_network(gw, source=str(f))
    statements.clear()
    first = refresh_network(gw, nid, T0)
    assert (first.ok, first.count, first.added) == (True, 100_000, 100_000)
    assert len(statements) < 200, f"{len(statements)} statements: rows are written one by one"

    # 10,000 leave, 10,000 arrive, 5,000 are renamed
    f.write_text("scheme,value,name\n" + "".join(
        f"0088,{gln(n)},Company {n}{' (renamed)' if n % 20 == 0 else ''}\n" for n in range(10_000, 110_000)))
    statements.clear()
    second = refresh_network(gw, nid, T0 + DAY)
    assert (second.count, second.added, second.removed, second.renamed) == (100_000, 10_000, 10_000, 4_500)
    assert len(statements) < 200, f"{len(statements)} statements: rows are written one by one"
    with gw.session() as s:
        P = NetworkParticipant
        assert s.scalar(sa.select(sa.func.count()).where(P.network_id == nid)) == 100_000
        assert s.scalar(sa.select(sa.func.min(P.seen_at)).where(P.network_id == nid)) == T0 + DAY
        assert s.scalar(sa.select(P.name).where(P.value == gln(20_000))) == "Company 20000 (renamed)"
        assert s.scalar(sa.select(P.id).where(P.value == gln(9_999))) is None
        assert s.scalar(sa.select(P.name).where(P.value == gln(109_999))) == "Company 109999"


# --- scheduling: claimed once, prompted by the sweep --------------------------------------------

def test_due_directories_and_the_claim(gw, tmp_path: Path):
    f = tmp_path / "dir.csv"
    f.write_text(f"scheme,value\n0088,{GLN}\n")
    hourly = add_network(gw, "HOURLY", source=str(f), every=3600)
    daily = add_network(gw, "DAILY", source=str(f))
    add_network(gw, "OFF", source=str(f), active=False)
    add_network(gw, "NO-SOURCE")
    assert due_directories(gw, T0) == [hourly, daily]
    assert claim_refresh(gw, hourly, T0) and not claim_refresh(gw, hourly, T0)
    assert due_directories(gw, T0) == [daily]
    assert due_directories(gw, T0 + timedelta(hours=1)) == [hourly, daily]
    assert not claim_refresh(gw, hourly, T0 + timedelta(minutes=59))


def test_two_workers_prompted_together_refresh_once(any_db_gw: Gateway, http: DirectoryServer):
    gw = any_db_gw
    http.files["/dir.csv"] = f"scheme,value\n0088,{GLN}\nSIRET,{SIRET}\n".encode()
    nid = add_network(gw, source=http.url("/dir.csv"))
    for round_, now in enumerate((T0, T0 + DAY, T0 + 2 * DAY), 1):
        start = threading.Barrier(4)
        results: list[Any] = []

        def worker() -> None:
            start.wait()
            results.append(refresh_network(gw, nid, now))

        threads = [threading.Thread(target=worker) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        done = [r for r in results if r is not None]
        assert len(results) == 4 and len(done) == 1 and done[0].ok
        assert http.hits["/dir.csv"] == round_
    assert listed(gw, nid) == {("0088", GLN): None, ("0009", SIRET): None}


def test_the_sweep_refreshes_due_directories_and_prompts_held_documents(gw, tmp_path: Path):
    prompts: list[str] = []
    gw.jobs.reroute_held = lambda: prompts.append("reroute")
    f = tmp_path / "dir.csv"
    f.write_text(f"scheme,value\n0088,{GLN}\n")
    nid = add_network(gw, source=str(f))
    assert gw.jobs.sweep(T0)["directory_refreshes"] == 1
    assert listed(gw, nid) == {("0088", GLN): None} and prompts == ["reroute"]
    assert net(gw, nid).refreshed_at == T0
    assert gw.jobs.sweep(T0 + DAY - timedelta(minutes=1))["directory_refreshes"] == 0
    f.write_text(f"scheme,value\n0088,{GLN}\nSIRET,{SIRET}\n")
    assert gw.jobs.sweep(T0 + DAY)["directory_refreshes"] == 1
    assert listed(gw, nid) == {("0088", GLN): None, ("0009", SIRET): None} and prompts == ["reroute"] * 2
    assert gw.jobs.sweep(T0 + 2 * DAY)["directory_refreshes"] == 1
    assert net(gw, nid).refreshed_at == T0 + 2 * DAY
    assert prompts == ["reroute"] * 2                 # nobody new: nothing to reroute


# --- command line -----------------------------------------------------------------------------

@click.group()
def cli() -> None:
    """The groups as the main ``edigate`` command carries them."""


cli.add_command(partner_group)
cli.add_command(network_group)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("EDIGATE_HOME", str(tmp_path))
    monkeypatch.setenv("EDIGATE_CERTS_DIR", str(tmp_path / "certs"))
    for name in ("EDIGATE_DATABASE_URL", "EDIGATE_PAYLOAD_DIR", "EDIGATE_JOBS_URL"):
        monkeypatch.delenv(name, raising=False)
    migrate(f"sqlite:///{tmp_path}/edigate.db")
    ok("partner", "add", "AP X", "--as2-id", "apx", "--url", "http://127.0.0.1:9/as2")
    return tmp_path


def run(*args: Any) -> Result:
    return CliRunner().invoke(cli, [str(a) for a in args])


def ok(*args: Any, code: int = 0) -> Result:
    result = run(*args)
    assert result.exit_code == code, (result.output, result.exception)
    return result


def snapshot(home: Path) -> dict[str, list[tuple]]:
    with session_scope(f"sqlite:///{home}/edigate.db") as s:
        return {m.__tablename__: sorted(tuple(r) for r in s.execute(sa.select(m.__table__)).all())
                for m in (Network, NetworkParticipant, Partner)}


def refused(home: Path, *args: Any, says: str) -> None:
    before = snapshot(home)
    result = run(*args)
    assert result.exit_code == 2, result.output
    assert says in result.stderr, result.stderr
    assert snapshot(home) == before


def test_cli_round_trip(home: Path, http: DirectoryServer):
    f = home / "dir.csv"
    f.write_text(f"scheme,value,name\n0088,{GLN},Acme\nSIRET,{SIRET},Foo\n")
    out = ok("network", "add", "PDP-X", "--name", "PDP X", "--partner", "AP X", "--formats", "cii, ubl,cii",
             "--directory", f, "--refresh-every", "12h", "--addressing", "endpoint=BT-49").stdout
    assert out == f"added network #1 PDP-X through AP X, formats cii, ubl, directory {f}\n"
    (shown,) = json.loads(ok("network", "list", "--json").stdout)
    assert {k: shown[k] for k in ("code", "name", "partner", "formats", "addressing", "directory_source",
                                  "directory_format", "refresh_interval_seconds", "participant_count", "state")} == \
        {"code": "PDP-X", "name": "PDP X", "partner": "AP X", "formats": ["cii", "ubl"],
         "addressing": {"endpoint": "BT-49"}, "directory_source": str(f), "directory_format": "csv",
         "refresh_interval_seconds": 43200, "participant_count": 0, "state": "never refreshed"}

    out = ok("network", "refresh", "PDP-X").stdout
    assert out == "PDP-X: 2 participant(s) listed (2 new, 0 no longer listed, 0 renamed)\n"
    shown = json.loads(ok("network", "show", "pdp-x", "--json", "--participants", "5").stdout)
    assert (shown["participant_count"], shown["state"], shown["refresh_error"]) == (2, "ok", None)
    assert shown["participants"] == [{"scheme": "0009", "value": SIRET, "name": "Foo"},
                                     {"scheme": "0088", "value": GLN, "name": "Acme"}]
    text = ok("network", "show", "PDP-X").stdout
    assert "  participants:  2\n" in text and "(ok)\n" in text and "refresh every: 12h\n" in text

    assert ok("network", "find", f"GLN:{GLN}").stdout == \
        f"GLN:{GLN} is listed by network PDP-X as 0088:{GLN} (Acme), last seen " \
        f"{json.loads(ok('network', 'show', 'PDP-X', '--json').stdout)['refreshed_at'][:16].replace('T', ' ')} UTC\n"
    assert "no member and no network directory lists it" in ok("network", "find", f"0088:{GLN2}", code=1).stderr

    # a one-off import from a JSON file over HTTP, with a bad row: imported, exit 1, the row named
    http.files["/dir.json"] = json.dumps([{"scheme": "0088", "value": GLN2, "name": "Other"},
                                          {"scheme": "0088", "value": "12"}], indent=1).encode()
    result = ok("network", "import", "PDP-X", http.url("/dir.json"), code=1)
    assert result.stdout == "PDP-X: 1 participant(s) listed (1 new, 2 no longer listed, 0 renamed); " \
                            "1 invalid row(s) skipped\n"
    assert "warning: skipped line 7: a GLN is 13 digits, not '12'" in result.stderr
    assert json.loads(ok("network", "show", "PDP-X", "--json").stdout)["state"] == "rows skipped"

    # an unusable file: refused, nothing changed
    (home / "bad.xml").write_text('<!DOCTYPE r [<!ENTITY e SYSTEM "file:///etc/passwd">]><r/>')
    refused(home, "network", "import", "PDP-X", home / "bad.xml",
            says="DOCTYPE declarations are not accepted (XXE / entity expansion protection); nothing changed")

    # a failed refresh: exit 1, recorded, the participants kept
    f.unlink()
    result = ok("network", "refresh", "PDP-X", code=1)
    assert f"refresh failed: {f}: no such file; kept the 1 participant(s) listed before" in result.stderr
    shown = json.loads(ok("network", "show", "PDP-X", "--json").stdout)
    assert (shown["participant_count"], shown["state"]) == (1, "refresh failed")

    ok("network", "set", "PDP-X", "--disable", "--directory", "")
    shown = json.loads(ok("network", "show", "PDP-X", "--json").stdout)
    assert (shown["active"], shown["directory_source"]) == (False, None)
    assert "no member and no network directory lists it" in ok("network", "find", f"0088:{GLN2}", code=1).stderr


def test_cli_refusals_write_nothing(home: Path):
    f = home / "dir.csv"
    f.write_text(f"scheme,value\n0088,{GLN}\n")
    ok("network", "add", "PDP-X", "--partner", "AP X", "--directory", f)
    refused(home, "network", "add", "PDP-X", "--partner", "AP X", says="a network 'PDP-X' already exists (#1)")
    refused(home, "network", "add", "pdp-x", "--partner", "AP X", says="a network 'PDP-X' already exists (#1)")
    refused(home, "network", "add", "NEW", says="a network needs its access point: --partner PARTNER")
    refused(home, "network", "add", "NEW", "--partner", "Nobody", says="no partner 'Nobody'")
    refused(home, "network", "add", "BAD CODE", "--partner", "AP X", says="network code 'BAD CODE'")
    refused(home, "network", "add", "NEW", "--partner", "AP X", "--formats", "ubl,pdf", says="unknown format 'pdf'")
    refused(home, "network", "add", "NEW", "--partner", "AP X", "--directory", home / "missing.csv",
            says="does not exist")
    refused(home, "network", "add", "NEW", "--partner", "AP X", "--directory", "https://example.org/directory",
            says="cannot tell the directory's format")
    refused(home, "network", "add", "NEW", "--partner", "AP X", "--refresh-every", "10s",
            says="at least 60 seconds")
    refused(home, "network", "add", "NEW", "--partner", "AP X", "--refresh-every", "daily",
            says="expected a number with a unit")
    refused(home, "network", "add", "NEW", "--partner", "AP X", "--addressing", "endpoint",
            says="expected KEY=VALUE")
    refused(home, "network", "show", "NOPE", says="no network 'NOPE' (known: PDP-X;")
    refused(home, "network", "import", "PDP-X", home / "x.txt", says="cannot tell the format")
    refused(home, "network", "import", "PDP-X", home / "missing.csv", says="no such file")
    refused(home, "network", "find", "nothing", says="expected SCHEME:VALUE")
    ok("network", "set", "PDP-X", "--directory", "")
    refused(home, "network", "refresh", "PDP-X", says="has no directory source")
    result = ok("network", "add", "LONE", "--partner", "AP X")
    assert "network LONE has no directory" in result.stderr
