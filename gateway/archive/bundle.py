"""What an export ships besides the data: the verification script and the README.

The script is POSIX sh that needs ``sha256sum`` and ``openssl`` and nothing else (no cut,
sed, awk or grep: only the shell's own ``read``, ``printf``, ``set``, ``case`` and ``[``), so an
auditor can read all of it and run it on any machine with those two tools.
"""
from __future__ import annotations

VERIFY_SH = r"""#!/bin/sh
# Verifies this archive export with sha256sum and openssl alone (and the shell's builtins).
#   sh verify.sh        exit 0: everything verified; 1: something failed (each failure named)
# 1. chain.tsv: every entry's hash is the SHA-256 of its line's fields (everything before the
#    last tab); each entry names the previous entry's hash; entries are numbered 1, 2, 3...
# 2. payloads/: every payload of the entries in RANGE is present and hashes to its name,
#    unless a later "deletion" entry records that its retention ended and it was deleted.
# 3. seals/: every time-stamp token (RFC 3161) is over the hash the chain gives for the entry
#    it sealed, signed by a TSA whose certificate chains to tsa/anchor.pem (openssl ts -verify).
set -u
set -f
case $0 in */*) cd "${0%/*}" || exit 1 ;; esac
TAB=$(printf '\t')
NL='
'
fail=0
bad() { printf 'FAIL: %s\n' "$*"; fail=1; }

# --- 1. the chain (and the seals' heads, read alongside: both are in entry order) ---
exec 3< seals/seals.tsv
seal_line=
IFS= read -r seal_line <&3 || seal_line=
prev=0000000000000000000000000000000000000000000000000000000000000000
expect=1
deleted=' '
count=0
while IFS= read -r line; do
    body=${line%"$TAB"*}
    recorded=${line##*"$TAB"}
    IFS=$TAB
    set -- $body
    IFS=" $TAB$NL"
    if [ $# -ne 11 ]; then bad "chain.tsv: line $((count + 1)) does not have 12 fields"; count=$((count + 1)); continue; fi
    seq=$1; kind=$3; ref=$9; before=${11}
    [ "$seq" = "$expect" ] || bad "chain: entry #$expect expected, found #$seq (entries removed, inserted or reordered)"
    [ "$before" = "$prev" ] || bad "chain: entry #$seq does not follow the entry before it (its previous hash is $before)"
    set -- $(printf '%s' "$body" | sha256sum)
    [ "$1" = "$recorded" ] || bad "chain: entry #$seq altered: its fields hash to $1, its recorded hash is $recorded"
    [ "$kind" = deletion ] && deleted="$deleted$ref "
    while [ -n "$seal_line" ]; do
        IFS=$TAB
        set -- $seal_line
        IFS=" $TAB$NL"
        [ "$2" = "$seq" ] || break
        [ "$3" = "$recorded" ] || bad "seal $1: it sealed hash $3 of entry #$seq, the chain has $recorded"
        IFS= read -r seal_line <&3 || seal_line=
    done
    prev=$recorded
    expect=$((seq + 1))
    count=$((count + 1))
done < chain.tsv
if [ -n "$seal_line" ]; then
    bad "seals.tsv: a seal covers an entry that is not in chain.tsv: $seal_line"
fi
exec 3<&-
[ "$fail" = 0 ] && printf 'ok: chain of %s entries, every hash and link\n' "$count"

# --- 2. the payloads of the exported range ---
IFS=$TAB read -r first last < RANGE
payloads=0
while IFS= read -r line; do
    IFS=$TAB
    set -- ${line%"$TAB"*}
    IFS=" $TAB$NL"
    seq=$1; kind=$3; sha=$4; owner=$6
    [ "$kind" = deletion ] && continue
    [ "$seq" -lt "$first" ] && continue
    [ "$seq" -gt "$last" ] && break
    case $deleted in *" $seq "*) continue ;; esac
    if [ -f "payloads/$sha" ]; then
        set -- $(sha256sum "payloads/$sha")
        if [ "$1" = "$sha" ]; then payloads=$((payloads + 1))
        else bad "payload $sha (entry #$seq, $kind of $owner) altered: its content hashes to $1"; fi
    else
        bad "payload $sha (entry #$seq, $kind of $owner) missing"
    fi
done < chain.tsv
printf 'checked: %s payload(s) of entries #%s to #%s\n' "$payloads" "$first" "$last"

# --- 3. the seals ---
untrusted=
[ -s tsa/untrusted.pem ] && untrusted=tsa/untrusted.pem
seals=0
while IFS=$TAB read -r file hseq hhash gentime; do
    if [ -n "$untrusted" ]; then
        out=$(openssl ts -verify -digest "$hhash" -in "seals/$file" -CAfile tsa/anchor.pem -untrusted "$untrusted" 2>&1)
    else
        out=$(openssl ts -verify -digest "$hhash" -in "seals/$file" -CAfile tsa/anchor.pem 2>&1)
    fi
    if [ $? -eq 0 ]; then seals=$((seals + 1))
    else bad "seal $file (entry #$hseq, $gentime) does not verify: $(printf '%s' "$out" | { IFS= read -r l; printf '%s' "$l"; })"; fi
done < seals/seals.tsv
printf 'checked: %s seal(s)\n' "$seals"

if [ "$fail" = 0 ]; then
    printf 'VERIFIED\n'
    exit 0
fi
printf 'NOT VERIFIED\n'
exit 1
"""

README = """Archive export of edigate, made {made}
==========================================================

What is here
------------
chain.tsv      the archive's hash chain up to entry #{head}, one entry per line, fields
               separated by tabs ("-" for none):
               seq, time (UTC), kind, payload SHA-256, size, owner, exchange, document,
               ref (for a deletion: the entry whose content was deleted), note,
               previous entry's hash; then the entry's own hash = SHA-256 of the
               line's text before that last tab (ASCII, no newline).
               kinds: original (a received document), message (a raw message as on the
               wire), rendering (a document written in another syntax), receipt (an MDN
               or receipt), status (a life-cycle status message), sent (a document as
               sent), deletion (a payload deleted after its retention; the entry it
               names stays).
RANGE          the first and last entry whose payloads this export carries ({first} to {last};
               entries from {since} to {until}).
payloads/      those payloads, each file named by its SHA-256 ({files} files).
SHA256SUMS     the same, for sha256sum -c.
seals/         RFC 3161 time-stamp responses (.tsr), each over the hash of the chain entry
               it sealed; seals.tsv: file, entry, entry hash, the TSA's time ({seals} seals).
tsa/           anchor.pem: the trust anchor the TSA's certificate chains to;
               untrusted.pem: the certificates the tokens carried.
verify.sh      checks all of the above with sha256sum and openssl only.

How to verify
-------------
    sh verify.sh

or by hand, for one seal:

    openssl ts -verify -digest <entry hash> -in seals/<file>.tsr -CAfile tsa/anchor.pem -untrusted tsa/untrusted.pem
    openssl ts -reply -in seals/<file>.tsr -text        # the TSA's time, policy, serial

and for one payload: sha256sum payloads/<hash> prints the name of the file.
"""
