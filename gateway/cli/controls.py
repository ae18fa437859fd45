"""``edigate controls``: the anomaly and fraud controls from the command line.

    edigate controls holds                          # invoices held for a confirmation, with the evidence
    edigate controls confirm 42 --by alice          # the new bank account of document 42 is the supplier's
    edigate controls account list DE123456789       # a supplier's accounts on record (current and retired)
    edigate controls account set DE123456789 IBAN   # record an account (the others retired)
    edigate controls list [--partner NAME]          # each control's switch and thresholds
    edigate controls set amount --partner NAME --off | --on | --threshold factor=8 | --clear

Exit codes: 0 done; 2 refused (nothing held, unknown control, a threshold out of bounds).
"""
from __future__ import annotations

from typing import Optional

import click

from gateway.cli.common import CONTEXT_SETTINGS, BadInput, echo_json, iso, minute, table, transaction
from gateway.cli.context import pass_gateway


def _partner_id(s, ref: Optional[str]) -> Optional[int]:
    if ref is None:
        return None
    from gateway.cli.common import find_partner
    return find_partner(s, ref).id


def _released(release) -> None:
    click.echo(f"supplier {release.supplier}: account {', '.join(release.accounts)} on record; "
               f"released {len(release.released)} invoice(s) {release.released}, "
               f"{len(release.delivered)} on their way {release.delivered}")


@click.group("controls", context_settings=CONTEXT_SETTINGS)
def controls_group() -> None:
    """Anomaly and fraud controls: held invoices and their evidence, confirmations, settings."""


@controls_group.command("holds", context_settings=CONTEXT_SETTINGS)
@click.option("--json", "as_json", is_flag=True, help="JSON on stdout.")
def holds(as_json: bool) -> None:
    """Invoices a control holds until an operator confirms, oldest first."""
    from gateway.controls.confirm import open_holds
    with transaction() as s:
        rows = [{"document": h.document_id, "control": h.control, "supplier": h.supplier_key,
                 "opened_at": iso(h.opened_at), "evidence": h.evidence} for h in open_holds(s)]
    if as_json:
        echo_json(rows)
        return
    if not rows:
        click.echo("nothing held for a confirmation")
        return
    table(["document", "control", "supplier", "held since", "new account", "previous (since)"],
          [[str(r["document"]), r["control"], r["supplier"], r["opened_at"][:16],
            ", ".join(r["evidence"].get("new_accounts") or ()),
            ", ".join(f"{p['account']} ({p['since'][:10]})" for p in r["evidence"].get("previous") or ())]
           for r in rows])


@controls_group.command("confirm", context_settings=CONTEXT_SETTINGS)
@click.argument("document_id", type=click.IntRange(1, 2 ** 63 - 1))
@click.option("--by", required=True, help="Who checked the new account with the supplier (kept on record).")
@pass_gateway
def confirm_command(gw, document_id: int, by: str) -> None:
    """The new bank account of held DOCUMENT_ID is its supplier's: record it, release and deliver."""
    from gateway.controls.confirm import ControlError, confirm_account
    try:
        _released(confirm_account(gw, document_id, by=f"cli:{by}"))
    except ControlError as e:
        raise BadInput(str(e)) from None


@controls_group.group("account", context_settings=CONTEXT_SETTINGS)
def account_group() -> None:
    """Suppliers' bank accounts on record (BT-84)."""


@account_group.command("list", context_settings=CONTEXT_SETTINGS)
@click.argument("supplier")
def account_list(supplier: str) -> None:
    """SUPPLIER's accounts (its VAT identifier, or the key the holds show), current and retired."""
    from gateway.controls.confirm import accounts
    with transaction() as s:
        rows = [[a.account, a.source, minute(a.since), a.set_by or "-",
                 f"retired {minute(a.retired_at)}" if a.retired_at else "current"] for a in accounts(s, supplier)]
    if not rows:
        click.echo(f"no account on record for {supplier.upper()}")
        return
    table(["account", "source", "since", "by", "state"], rows)


@account_group.command("set", context_settings=CONTEXT_SETTINGS)
@click.argument("supplier")
@click.argument("account")
@click.option("--by", required=True, help="Who records it (kept on record).")
@click.option("--keep-others", is_flag=True, help="Keep the supplier's other accounts current.")
@pass_gateway
def account_set(gw, supplier: str, account: str, by: str, keep_others: bool) -> None:
    """Record ACCOUNT as SUPPLIER's; invoices held for it are released."""
    from gateway.controls.confirm import ControlError, set_account
    try:
        _released(set_account(gw, supplier, account, by=f"cli:{by}", replace=not keep_others))
    except ControlError as e:
        raise BadInput(str(e)) from None


@controls_group.command("list", context_settings=CONTEXT_SETTINGS)
@click.option("--partner", help="An organisation (a recipient partner): its settings; none: the gateway's.")
def controls_list(partner: Optional[str]) -> None:
    """Each control, on or off, and its thresholds (and where each comes from)."""
    from gateway.controls.settings import definitions, effective
    with transaction() as s:
        rows = effective(s, _partner_id(s, partner))
    table(["control", "rules", "on", "thresholds"],
          [[name, ",".join(d.rules), "yes" if rows[name].enabled else "no",
            " ".join(f"{k}={v}" for k, v in rows[name].thresholds.items()) or "-"]
           for name, d in definitions().items()])


@controls_group.command("set", context_settings=CONTEXT_SETTINGS)
@click.argument("control")
@click.option("--partner", help="An organisation (a recipient partner); none: the whole gateway.")
@click.option("--on/--off", "enabled", default=None, help="Switch the control.")
@click.option("--threshold", "thresholds", multiple=True, metavar="NAME=VALUE", help="Set a threshold.")
@click.option("--clear", is_flag=True, help="Forget this level's word (back to the level above) first.")
@click.option("--by", default="cli", show_default=True, help="Who changes it (kept on record).")
def controls_set(control: str, partner: Optional[str], enabled: Optional[bool], thresholds: tuple[str, ...],
                 clear: bool, by: str) -> None:
    """Switch CONTROL or set its thresholds for the gateway or one organisation."""
    from gateway.controls.settings import SettingError, set_control
    values = {}
    for item in thresholds:
        name, sep, value = item.partition("=")
        if not sep:
            raise BadInput(f"--threshold {item!r}: expected NAME=VALUE")
        values[name.strip()] = value.strip()
    with transaction() as s:
        try:
            set_control(s, control, partner_id=_partner_id(s, partner), enabled=enabled, thresholds=values,
                        clear=clear, by=f"cli:{by}")
        except SettingError as e:
            raise BadInput(str(e)) from None
    click.echo(f"control {control} changed for {partner or 'the gateway'}")
