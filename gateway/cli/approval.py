"""``edigate approval``: the approval workflow from the command line.

    edigate approval rules show "Centre SSC"              # the organisation's rule document, as stored
    edigate approval rules set "Centre SSC" rules.yaml --by alice   # check and store (YAML or JSON; - : stdin)
    edigate approval rules check "Centre SSC" rules.yaml  # check only: every wrong field named
    edigate approval list [--partner NAME] [--json]       # invoices waiting for approval, oldest wait first
    edigate approval trail 42 [--json]                    # one invoice's approval and every decision

Exit codes: 0 done; 2 refused (a rule document that cannot be used: each field on stderr; no such
partner or approval).
"""
from __future__ import annotations

import sys
from typing import Optional

import click

from gateway.cli.common import CONTEXT_SETTINGS, BadInput, echo_json, find_partner, iso, minute, table, transaction

MAX_FILE = 64 * 1024


@click.group("approval", context_settings=CONTEXT_SETTINGS)
def approval_group() -> None:
    """Approval of received invoices: each organisation's rules, what waits, who decided."""


@approval_group.group("rules", context_settings=CONTEXT_SETTINGS)
def rules_group() -> None:
    """An organisation's approval rules (a YAML or JSON document)."""


def _read(path: str) -> str:
    stream = sys.stdin.buffer if path == "-" else open(path, "rb")
    try:
        data = stream.read(MAX_FILE + 1)
    finally:
        if path != "-":
            stream.close()
    if len(data) > MAX_FILE:
        raise BadInput(f"{path}: a rule document is at most {MAX_FILE} bytes")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise BadInput(f"{path}: not UTF-8 text") from None


def _refused(e) -> BadInput:
    for field, problem in sorted(e.errors.items()):
        click.echo(f"{field}: {problem}", err=True)
    return BadInput(f"the rule document cannot be used ({len(e.errors)} problem(s))")


@rules_group.command("show", context_settings=CONTEXT_SETTINGS)
@click.argument("partner")
def rules_show(partner: str) -> None:
    """PARTNER's rule document as it was given, with who stored it and when."""
    from gateway.approvals import rules
    with transaction() as s:
        p = find_partner(s, partner)
        row = rules.stored(s, p.id)
        if row is None:
            click.echo(f"# {p.name}: no approval rules (invoices wait for nobody)")
            return
        click.echo(f"# {p.name}: version {row.version}, stored by {row.updated_by or '-'} at {minute(row.updated_at)}")
        click.echo(row.source.rstrip("\n"))


@rules_group.command("set", context_settings=CONTEXT_SETTINGS)
@click.argument("partner")
@click.argument("path", metavar="FILE")
@click.option("--by", required=True, help="Who changes the rules (kept on record).")
def rules_set(partner: str, path: str, by: str) -> None:
    """Check FILE (YAML or JSON; - for stdin) and store it as PARTNER's rules."""
    from gateway.approvals import rules
    from gateway.approvals.errors import RuleError
    text = _read(path)
    with transaction() as s:
        p = find_partner(s, partner)
        try:
            row = rules.save(s, p.id, text, by=f"cli:{by}")
        except RuleError as e:
            raise _refused(e) from None
        click.echo(f"{p.name}: approval rules version {row.version} stored "
                   f"({len(row.document.get('rules') or [])} rule(s)); invoices received from now on follow them")


@rules_group.command("check", context_settings=CONTEXT_SETTINGS)
@click.argument("partner")
@click.argument("path", metavar="FILE")
def rules_check(partner: str, path: str) -> None:
    """Check FILE as PARTNER's rules without storing it."""
    from gateway.approvals import rules
    from gateway.approvals.errors import RuleError
    text = _read(path)
    with transaction() as s:
        p = find_partner(s, partner)
        try:
            _, found = rules.check(s, p.id, rules.parse(text))
        except RuleError as e:
            raise _refused(e) from None
    click.echo(f"{p.name}: {len(found)} rule(s), usable")


@approval_group.command("list", context_settings=CONTEXT_SETTINGS)
@click.option("--partner", help="One organisation's approvals only.")
@click.option("--json", "as_json", is_flag=True, help="JSON on stdout.")
def list_command(partner: Optional[str], as_json: bool) -> None:
    """Invoices waiting for approval (or on hold), oldest wait first."""
    from gateway.approvals import queue
    with transaction() as s:
        partner_id = find_partner(s, partner).id if partner else None
        rows = [{"document": i.document_id, "number": i.document.number, "rule": i.rule_name, "state": i.state,
                 "awaited": i.awaited, "since": iso(i.step_since), "escalated_at": iso(i.escalated_at)}
                for i in queue.open_cases(s, partner_id=partner_id)]
    if as_json:
        echo_json(rows)
        return
    if not rows:
        click.echo("nothing waits for approval")
        return
    table(["document", "number", "rule", "state", "waiting for", "since", "escalated"],
          [[str(r["document"]), r["number"] or "-", r["rule"], r["state"], ", ".join(r["awaited"]) or "-",
            (r["since"] or "-")[:16], (r["escalated_at"] or "-")[:16]] for r in rows])


@approval_group.command("trail", context_settings=CONTEXT_SETTINGS)
@click.argument("document_id", type=click.IntRange(1, 2 ** 63 - 1))
@click.option("--json", "as_json", is_flag=True, help="JSON on stdout.")
def trail_command(document_id: int, as_json: bool) -> None:
    """DOCUMENT_ID's approval: its rule, whom it waits for, and every decision."""
    from gateway.approvals import queue
    with transaction() as s:
        item = queue.trail(s, document_id)
        if item is None:
            raise BadInput(f"document {document_id} never waited for approval")
        data = {"document": document_id, "rule": item.rule_name, "state": item.state, "mode": item.mode,
                "required": item.required, "approvers": item.approvers, "awaited": item.awaited,
                "opened_at": iso(item.opened_at), "closed_at": iso(item.closed_at),
                "decisions": [{"at": iso(d.at), "decision": d.decision, "by": d.username,
                               "on_behalf_of": d.on_behalf_of, "capacity": d.capacity, "reason": d.reason,
                               "reason_code": d.reason_code} for d in item.decisions]}
    if as_json:
        echo_json(data)
        return
    click.echo(f"document {document_id}: rule {data['rule']!r} ({data['mode']}, {data['required']} needed of "
               f"{', '.join(data['approvers']) or '-'}): {data['state']}"
               + (f", waiting for {', '.join(data['awaited'])}" if data["awaited"] else ""))
    if data["decisions"]:
        table(["when", "decision", "by", "on behalf of", "as", "reason"],
              [[(d["at"] or "-")[:16], d["decision"], d["by"], d["on_behalf_of"] or "-", d["capacity"],
                (d["reason"] or "-") + (f" [{d['reason_code']}]" if d["reason_code"] else "")]
               for d in data["decisions"]])
