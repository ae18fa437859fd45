"""gateway.xml.safe: hostile XML is refused fast and clearly, ordinary XML parses."""
from __future__ import annotations

import pytest
from lxml import etree

from gateway.model.errors import HostileInputError, InputError
from gateway.xml import safe
from gateway.xml.safe import DOCTYPE_MESSAGE, parse, serialize
from tests.support.corpus import corpus_files, rel, requires_corpus
from tests.support.work import line_events

make_parser = safe._parser

BILLION_LAUGHS = (
    b'<?xml version="1.0"?>\n<!DOCTYPE lolz [\n <!ENTITY lol "lol">\n'
    + b"".join(b' <!ENTITY lol%d "%s">\n' % (i, (b"&lol%d;" % (i - 1) if i > 1 else b"&lol;") * 10)
               for i in range(1, 10))
    + b"]>\n<lolz>&lol9;</lolz>\n"
)
XXE_FILE = (b'<?xml version="1.0"?>\n<!DOCTYPE Invoice [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n'
            b'<Invoice><ID>&xxe;</ID></Invoice>')
XXE_HTTP = (b'<?xml version="1.0"?>\n<!DOCTYPE Invoice [<!ENTITY xxe SYSTEM "http://127.0.0.1:9/secret">]>\n'
            b'<Invoice><ID>&xxe;</ID></Invoice>')
PARAMETER_ENTITY = (b'<?xml version="1.0"?>\n<!DOCTYPE Invoice [\n'
                    b' <!ENTITY % file SYSTEM "file:///etc/passwd">\n'
                    b' <!ENTITY % eval "<!ENTITY &#x25; exfil SYSTEM \'http://127.0.0.1:9/?x=%file;\'>">\n'
                    b' %eval; %exfil;\n]>\n<Invoice/>')
EXTERNAL_DTD = b'<?xml version="1.0"?>\n<!DOCTYPE Invoice SYSTEM "http://127.0.0.1:9/invoice.dtd">\n<Invoice/>'
XXE_UTF16 = ('<?xml version="1.0" encoding="UTF-16"?>\n'
             '<!DOCTYPE Invoice [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n'
             '<Invoice><ID>&xxe;</ID></Invoice>').encode("utf-16")

HOSTILE_DOCTYPES = {
    "billion-laughs": BILLION_LAUGHS,
    "xxe-file": XXE_FILE,
    "xxe-http": XXE_HTTP,
    "parameter-entity": PARAMETER_ENTITY,
    "external-dtd": EXTERNAL_DTD,
    "xxe-utf16": XXE_UTF16,
}


def _rejected(data: bytes, **kw) -> tuple[HostileInputError, int]:
    """The refusal, and how many times the document itself went to libxml2 (the prolog scan that
    looks for a DOCTYPE first does not count): counted, not timed."""
    documents_parsed = []

    def parser(target: object = None) -> etree.XMLParser:
        if target is None:
            documents_parsed.append(data)
        return make_parser(target)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(safe, "_parser", parser)
        with pytest.raises(HostileInputError) as info:
            parse(data, **kw)
    return info.value, len(documents_parsed)


@pytest.mark.parametrize("name", sorted(HOSTILE_DOCTYPES))
def test_doctype_and_entities_are_rejected(name):
    err, parsed = _rejected(HOSTILE_DOCTYPES[name])
    assert err.message == DOCTYPE_MESSAGE
    assert "DOCTYPE declarations are not accepted" in str(err)
    assert "root:" not in str(err)  # nothing of /etc/passwd leaks
    assert parsed == 0              # refused at the DOCTYPE, before the document was parsed


def test_oversize_document_is_rejected_before_parsing():
    data = b"<Invoice>" + b"x" * (60 * 1024 * 1024) + b"</Invoice>"
    err, parsed = _rejected(data)
    assert "more than the 52,428,800 bytes accepted" in str(err)
    assert parsed == 0  # no parsing happened


def test_max_bytes_is_configurable():
    err, _ = _rejected(b"<a>" + b"x" * 100 + b"</a>", max_bytes=100)
    assert "107 bytes" in str(err)
    assert parse(b"<a/>", max_bytes=4).tag == "a"


def test_text_node_over_the_libxml2_limit_is_rejected_clearly():
    # consequence of huge_tree=False: an embedded attachment over 10 MB of base64 is refused
    data = b"<Invoice><Attachment>" + b"QUFB" * 2_750_000 + b"</Attachment></Invoice>"
    err, _ = _rejected(data)
    assert "text node longer than the parser limit" in err.message
    assert parse(b"<Invoice><Attachment>" + b"QUFB" * 2_000_000 + b"</Attachment></Invoice>") is not None


def test_ten_thousand_levels_are_rejected():
    data = b"<a>" * 10_000 + b"</a>" * 10_000
    err, _ = _rejected(data)
    assert "nesting" in err.message and "deep" in err.message
    assert err.line == 1
    # refused at the depth limit: 10x the levels is no more work than 1,000 of them (lines counted)
    def work(levels: int) -> int:
        return line_events(lambda: _rejected(b"<a>" * levels + b"</a>" * levels))
    ratio = work(10_000) / work(1_000)
    assert ratio < 1.5, f"10x the levels took {ratio:.1f}x the work"


def test_depth_over_max_depth_names_the_line():
    # root on line 1, depth 101 reached on line 101
    data = b"".join(b"<e%d>\n" % i for i in range(150)) + b"".join(b"</e%d>" % i for i in reversed(range(150)))
    err, _ = _rejected(data)
    assert err.line == 101
    assert "deeper than 100 levels" in err.message
    assert "<e100>" in err.message


def test_max_depth_is_configurable():
    data = b"<a><b><c/></b></a>"
    assert parse(data, max_depth=3).tag == "a"
    err, _ = _rejected(data, max_depth=2)
    assert "deeper than 2 levels" in err.message


def test_malformed_xml_reports_line_and_column():
    data = b'<?xml version="1.0"?>\n<Invoice>\n  <ID>1</ID>\n  <Note>open\n</Invoice>\n'
    with pytest.raises(InputError) as info:
        parse(data)
    err = info.value
    assert not isinstance(err, HostileInputError)
    assert err.line == 5
    assert err.column is not None and err.column > 0
    assert "mismatch" in err.message.lower()
    assert "line 5, column" in str(err)


@pytest.mark.parametrize("data", [b"", b"   \n", b"not xml at all", b'<?xml version="1.0"?>'])
def test_not_xml_is_input_error(data):
    with pytest.raises(InputError) as info:
        parse(data)
    assert not isinstance(info.value, HostileInputError)


def test_bad_encoding_declaration_is_input_error():
    with pytest.raises(InputError) as info:
        parse(b'<?xml version="1.0" encoding="no-such-charset"?><a/>')
    assert "encoding" in info.value.message.lower()


def test_str_is_refused():
    with pytest.raises(TypeError):
        parse("<a/>")  # type: ignore[arg-type]


INVOICE = '''<?xml version="1.0" encoding="{enc}"?>
<!-- an ordinary invoice -->
<?edigate hint="kept"?>
<Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"
         xmlns:cbc="urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2">
  <cbc:ID>F-2024-001</cbc:ID>
  <!-- a comment inside -->
  <cbc:Note>Zahlbar in 30 Tagen: café 12 €{extra}</cbc:Note>
</Invoice>
'''


@pytest.mark.parametrize("encoding,bom", [("UTF-8", b""), ("UTF-8", b"\xef\xbb\xbf"), ("ISO-8859-15", b""),
                                          ("UTF-16", None)])
def test_ordinary_invoice_with_bom_and_encoding_declaration(encoding, bom):
    text = INVOICE.format(enc=encoding, extra="" if encoding == "ISO-8859-15" else " – ∑")
    data = text.encode(encoding) if bom is None else bom + text.encode(encoding)
    root = parse(data)
    ns = {"cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"}
    note = root.find("cbc:Note", ns)
    assert note.text.startswith("Zahlbar in 30 Tagen: café 12 €")
    assert root.sourceline == 5  # libxml2 numbers an element by the line its start tag ends on
    assert root.find("cbc:ID", ns).sourceline == 6
    assert note.sourceline == 8


def test_serialize_declares_utf8_and_indents_without_touching_the_tree():
    root = parse(b"<a><b><c>x</c></b><d/></a>")
    out = serialize(root)
    assert out.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n')
    assert b"\n  <b>\n    <c>x</c>\n  </b>\n  <d/>\n</a>" in out
    assert etree.tostring(root) == b"<a><b><c>x</c></b><d/></a>"
    assert serialize(root, pretty=False) == b'<?xml version="1.0" encoding="UTF-8"?>\n<a><b><c>x</c></b><d/></a>'
    assert parse(serialize(parse("<a>é</a>".encode("utf-8")))).text == "é"


def test_serialize_of_a_tree_given_away_indents_it_in_place():
    root = parse(b"<a>\n <b><c>x</c></b>   <d/></a>")
    want = serialize(root)
    assert serialize(root, own=True) == want
    assert etree.tostring(root) == b"<a>\n  <b>\n    <c>x</c>\n  </b>\n  <d/>\n</a>"    # indented where it was


@requires_corpus
@pytest.mark.parametrize("path", corpus_files("ubl/**/*.[xX][mM][lL]") + corpus_files("cii/**/*.xml"), ids=rel)
def test_every_corpus_xml_parses(path):
    root = parse(path.read_bytes())
    assert root.sourceline >= 1
