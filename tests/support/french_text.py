"""Is a page French? Every text a person reads on it, judged against the catalogue, not by eye.

``FrenchJudge`` reads the French catalogue (``gateway/translations/fr``): each msgstr becomes a
pattern (its placeholders match any data), each literal run of it a fragment (markup splits a
sentence into several text nodes). A text read on a page is French when, once the values the
page shows from the record are taken out (``data``: names, numbers, ids), what is left is
empty, punctuation or digits, a whole msgstr, a fragment of one, or a word of ``ALLOWED``
(brand and technical names read the same in both languages). What is left otherwise is
reported, and so is any text equal to an English msgid whose French differs.

``VISIBLE_TEXTS`` is the script a Playwright page evaluates: the visible text nodes, the
options of its selects, the title, placeholder and aria-label attributes and the page's
title; elements marked with another ``lang`` (an official rule's English message, shown as
the rule set publishes it) are left out and counted.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Iterable

from babel.messages.pofile import read_po

from gateway import i18n

# read the same in French and English: brand, standards, protocols, codes
ALLOWED = {
    "edigate", "AS2", "AS4", "SFTP", "UBL", "CII", "PDF", "CSV", "ZIP", "MDN", "MIC", "Message-ID", "PEM", "DER", "EUR",
    "SIRET", "SIREN", "GLN", "VAT", "API", "EDI", "EDIFACT", "APERAK", "CDAR", "Peppol", "Factur-X", "XML", "JSON", "URL",
    "HTTP", "HTTPS", "ID", "Id", "Invoice Response", "Peppol Invoice Response", "EN 16931", "BR-FR", "BT", "BG",
    "ubl", "cii", "facturx", "api", "portal", "as2", "sftp", "email", "paper", "network", "peppol", "erp", "http",
    "pdf", "sync", "async", "sha256", "aes_256_cbc", "binary", "base64", "rfc5751", "rfc3851",
    "CET", "CEST", "UTC", "min", "h", "j", "x",
}

VISIBLE_TEXTS = """() => {
  const out = []; let skipped = 0;
  const foreign = el => { const l = el.closest('[lang]'); return l && !l.getAttribute('lang').startsWith('fr'); };
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const el = n.parentElement, t = n.textContent.replace(/\\s+/g, ' ').trim();
    if (!t || !el || ['SCRIPT', 'STYLE', 'NOSCRIPT'].includes(el.tagName)) continue;
    if (el.tagName !== 'OPTION' && !el.checkVisibility({visibilityProperty: true})) continue;
    if (foreign(el)) { skipped++; continue; }
    out.push(t);
  }
  for (const el of document.querySelectorAll('[title], [placeholder], [aria-label]')) {
    if (foreign(el)) continue;
    for (const a of ['title', 'placeholder', 'aria-label']) {
      const v = (el.getAttribute(a) || '').trim(); if (v) out.push(v);
    }
  }
  if (document.title) out.push(document.title.trim());
  return {texts: out, skipped: skipped, lang: document.documentElement.lang};
}"""

_PLACEHOLDER = re.compile(r"%\(\w+\)[sdf]|%%")
_NO_LETTERS = re.compile(r"^[\W\d_]*$")


def _norm(text: str) -> str:
    return " ".join(text.replace("\u202f", " ").replace("\u00a0", " ").split())


@dataclass
class FrenchJudge:
    patterns: list[re.Pattern] = field(default_factory=list)
    fragments: set[str] = field(default_factory=set)
    english: dict[str, str] = field(default_factory=dict)        # English msgid (normalised) → its French
    _cached_key: int = 0
    _cached: re.Pattern = re.compile("(?!)")

    @classmethod
    def load(cls) -> "FrenchJudge":
        """The catalogue's French, and the life-cycle statuses' French names (the CDAR norm's own
        wording, kept with their codes in gateway/delivery/statuses.yaml)."""
        from gateway.delivery.statuses import STATUSES
        judge = cls()
        for status in STATUSES.values():
            judge.fragments.add(status.label.fr)
        with i18n.po_path("fr").open("rb") as f:
            catalog = read_po(f, locale="fr")
        for m in catalog:
            if not m.id:
                continue
            ids = m.id if isinstance(m.id, tuple) else (m.id,)
            strings = m.string if isinstance(m.string, tuple) else (m.string,)
            for s in strings:
                s = _norm(re.sub(r"<[^>]+>", " ", s))
                if not s:
                    continue
                parts = _PLACEHOLDER.split(s)
                judge.patterns.append(re.compile("^" + ".+?".join(re.escape(p) for p in parts) + "$", re.S))
            for s in strings:           # the runs between placeholders and tags: a text node may be one
                for p in re.split(r"<[^>]+>|%\(\w+\)[sdf]", s):
                    p = _norm(p).strip(" :;,.()")
                    if p:
                        judge.fragments.add(p)
            for i in ids:
                english = _norm(re.sub(r"<[^>]+>", " ", i))
                if english and english not in {_norm(s) for s in strings}:
                    judge.english[english] = strings[0]
        return judge

    def french(self, text: str) -> bool:
        text = _norm(text)
        if any(p.match(text) for p in self.patterns):
            return True
        return text.strip(" :;,.()·—–-") in self.fragments

    def verdict(self, text: str, data: Iterable[str]) -> str | None:
        """None when ``text`` reads as French (or data, or allowed words), else why not."""
        text = _norm(text)
        if text in data:                 # named as data by the test (a language named in its own language…)
            return None
        if text in self.english and not _NO_LETTERS.match(text):
            return f"English msgid {text!r} (French: {self.english[text]!r})"
        if _NO_LETTERS.match(text) or self.french(text) or text in ALLOWED:
            return None
        if text in data or self.french_pieces(text):
            return None
        rest = self._data_pattern(data).sub(" ", text)
        rest = _norm(rest)
        if _NO_LETTERS.match(rest) or self.french(rest):
            return None
        words = [w for w in re.split(r"[\s,;:()/·→—–]+", rest) if w and not _NO_LETTERS.match(w)]
        if words and all(w in ALLOWED or self.french(w) for w in words):
            return None
        if self.french_pieces(rest):
            return None
        return f"not French: {text!r}" + (f" (left once the data is out: {rest!r})" if rest != text else "")

    def _data_pattern(self, data: Iterable[str]) -> re.Pattern:
        """One pattern for every value of ``data`` (longest first), as whole words; made once per set."""
        key = id(data)
        if self._cached_key != key:
            values = sorted({_norm(d) for d in data if _norm(d)}, key=len, reverse=True)
            self._cached = re.compile(r"(?<!\w)(?:" + "|".join(re.escape(v) for v in values) + r")(?!\w)")
            self._cached_key = key
        return self._cached

    def french_pieces(self, text: str) -> bool:
        """``text`` is French sentences and allowed words glued by punctuation (a badge and its count…)."""
        pieces = [p for p in re.split(r"\s*[·,;()→—]\s*|\s+-\s+", text) if p and not _NO_LETTERS.match(p)]
        return bool(pieces) and all(self.french(p) or p in ALLOWED for p in pieces)
