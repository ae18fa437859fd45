"""``edigate cert``: certificates of partners and of our organisations.

Importing never deactivates anything: during a rollover the old and the new
certificate are both active (signatures by either are accepted) until the
operator retires the old one. ``cert expiring`` exits 1 when something needs
doing, so cron or a monitoring check can run it as is. ``list`` and ``expiring``
also show the Peppol certificates of our settings (access point, SMP, trust
anchors: ``gateway.networks.peppol.certificates``), which are files, not records.
"""
from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Optional

import click
import sqlalchemy as sa
from sqlalchemy.orm import Session

from gateway.db import Certificate, Organisation, Partner
from gateway.db.partners import CERT_USAGES
from gateway.cli.certificates import Owner, add_cert, cert_dict, cert_owner, cert_state, read_cert, report_rollover
from gateway.cli.common import (CONTEXT_SETTINGS, EXIT_OK, EXIT_PROBLEMS, BadInput, actor, day, echo_json, find_org, iso,
                                find_partner, table, transaction, utc_now, warn)
from gateway.cli.org import key_for_certificate
from gateway.partners.service import PartnerService
from gateway.cli.words import _


@click.group("cert", context_settings=CONTEXT_SETTINGS)
def cert_group() -> None:
    """Certificates of partners and of our organisations: import, list, retire, expiry watch.

    Exit codes: 0 done, 1 (`cert expiring`) some certificate expires soon, 2 refused.
    """


@cert_group.command("export", context_settings=CONTEXT_SETTINGS)
@click.argument("cert_id", metavar="[ID]", type=int, required=False)
@click.option("--org", "org_ref", metavar="NAME",
              help="The current certificate of this organisation of ours (default: our only one).")
@click.option("--der", "as_der", is_flag=True, help="DER instead of PEM.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Write to FILE instead of standard output.")
def cert_export(cert_id: Optional[int], org_ref: Optional[str], as_der: bool, output: Optional[Path]) -> None:
    """Write a certificate to hand to a partner: by default our organisation's current one
    (partners encrypt to it and verify our signatures and MDNs with it), or certificate ID.
    Only the certificate: never a private key."""
    with transaction() as s:
        if cert_id is not None:
            if org_ref is not None:
                raise BadInput("give a certificate ID or --org, not both")
            cert = s.get(Certificate, cert_id)
            if cert is None:
                raise BadInput(f"no certificate #{cert_id} (see `edigate cert list`)")
        else:
            if org_ref is not None:
                org = find_org(s, org_ref)
            else:
                orgs = s.scalars(sa.select(Organisation).order_by(Organisation.id)).all()
                if len(orgs) != 1:
                    raise BadInput("several organisations of ours: say which with --org NAME" if orgs
                                   else "no organisation of ours yet (edigate org add)")
                org = orgs[0]
            cert = s.scalars(Certificate.valid(usage="signing", organisation=org)).first()
            if cert is None:
                raise BadInput(f"organisation {org.name} has no valid active certificate")
        data = cert.der if as_der else cert.pem.encode("ascii")
        if output is not None:
            output.write_bytes(data)
            click.echo(f"certificate #{cert.id} of {cert_owner(cert)} ({cert.subject}, SHA-256 "
                       f"{cert.fingerprint_sha256}) written to {output} as {'DER' if as_der else 'PEM'}",
                       err=True)
        else:
            click.echo(data, nl=False)          # bytes: written to the binary stream as they are


@cert_group.command("import", context_settings=CONTEXT_SETTINGS)
@click.argument("owner")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--usage", type=click.Choice(CERT_USAGES), default="both", show_default=True)
@click.option("--org", "for_org", is_flag=True, help="OWNER is one of our organisations, not a partner.")
@click.option("--allow-expired", is_flag=True, help="Import an expired certificate anyway.")
def cert_import(owner: str, file: Path, usage: str, for_org: bool, allow_expired: bool) -> None:
    """Add the certificate in FILE (PEM or DER) to OWNER. Its other certificates stay active
    (rollover): retire the old one when the switch is done."""
    with transaction() as s:
        target: Owner = find_org(s, owner) if for_org else find_partner(s, owner)
        cf = read_cert(file, allow_expired)
        key_ref = key_for_certificate(target, cf) if isinstance(target, Organisation) else None
        cert = add_cert(s, target, cf, usage, key_ref=key_ref)
        said = dict(id=cert.id, name=target.name, subject=cert.subject, usage=usage, start=day(cert.not_before),
                    end=day(cert.not_after))
        click.echo((_("imported certificate #%(id)s for partner %(name)s: %(subject)s, usage %(usage)s, valid "
                      "%(start)s → %(end)s", **said) if isinstance(target, Partner) else
                    _("imported certificate #%(id)s for organisation %(name)s: %(subject)s, usage %(usage)s, valid "
                      "%(start)s → %(end)s", **said)) + (f", key {key_ref}" if key_ref else ""))
        if isinstance(target, Organisation) and key_ref is None:
            warn(f"no key of organisation {target.name} matches this certificate: it cannot sign or decrypt "
                 "until its key is added (`edigate org identity add … --key FILE --cert FILE`)")
        if cert.not_after <= utc_now():
            warn(_("certificate #%(id)s has expired (imported with --allow-expired)", id=cert.id))
        report_rollover(target, cert)


def _owner_filter(s: Session, ref: str) -> sa.ColumnElement[bool]:
    """Certificates of every partner and organisation ``ref`` names."""
    conditions = []
    for find, column in ((find_partner, Certificate.partner_id), (find_org, Certificate.organisation_id)):
        try:
            conditions.append(column == find(s, ref).id)
        except BadInput:
            pass
    if not conditions:
        raise BadInput(f"no partner nor organisation {ref!r}")
    return sa.or_(*conditions)


@cert_group.command("list", context_settings=CONTEXT_SETTINGS)
@click.option("--owner", metavar="NAME", help="Only the certificates of this partner or organisation.")
@click.option("--json", "as_json", is_flag=True, help="JSON on stdout.")
def cert_list(owner: Optional[str], as_json: bool) -> None:
    """Every certificate (retired ones too), with its owner and state."""
    now = utc_now()
    with transaction() as s:
        query = sa.select(Certificate).order_by(Certificate.id)
        if owner is not None:
            query = query.where(_owner_filter(s, owner))
        certs = s.scalars(query).all()
        peppol = _peppol_certs() if owner is None else []
        if as_json:
            echo_json([cert_dict(c, now) for c in certs] + [_peppol_dict(c, now) for c in peppol])
            return
        if not certs and not peppol:
            click.echo("no certificates")
            return
        table(["#", "owner", "usage", "subject", "not after", "state"],
              [[str(c.id), cert_owner(c), c.usage, c.subject, day(c.not_after), cert_state(c, now)]
               for c in certs]
              + [["-", "peppol settings", c.label(), c.subject or str(c.path),
                  day(c.not_after) if c.not_after else "-", c.state(now)] for c in peppol])


def _peppol_certs() -> list:
    """The Peppol certificates of our settings (files, not records)."""
    from gateway.cli.context import current
    from gateway.networks.peppol.certificates import of_gateway
    return of_gateway(current().settings)


def _peppol_dict(c, now) -> dict:
    return {"id": None, "owner": "peppol settings", "usage": c.role, "subject": c.subject, "issuer": c.issuer,
            "fingerprint_sha256": c.fingerprint_sha256, "not_before": iso(c.not_before) if c.not_before else None,
            "not_after": iso(c.not_after) if c.not_after else None, "active": True, "state": c.state(now),
            "days_left": c.days_left(now), "path": str(c.path), "error": c.error}


@cert_group.command("retire", context_settings=CONTEXT_SETTINGS)
@click.argument("cert_id", metavar="ID", type=int)
def cert_retire(cert_id: int) -> None:
    """Stop using certificate ID (kept for the record, no longer active)."""
    now = utc_now()
    with transaction() as s:
        c = s.get(Certificate, cert_id)
        if c is None:
            raise BadInput(_("no certificate #%(id)s (see `edigate cert list`)", id=cert_id))
        if not PartnerService(s, actor=actor()).retire_certificate(c):     # on the audit trail
            click.echo(_("certificate #%(id)s of %(owner)s is already retired", id=c.id, owner=cert_owner(c)))
            return
        click.echo(_("retired certificate #%(id)s of %(owner)s (%(subject)s, until %(until)s)", id=c.id,
                     owner=cert_owner(c), subject=c.subject, until=day(c.not_after)))
        owner: Owner = c.partner if c.partner is not None else c.organisation
        for use in ("signing", "encryption"):
            if not any(x.valid_at(now) and x.usage in (use, "both") for x in owner.certificates):
                warn(_("%(owner)s has no valid active certificate for signing left", owner=cert_owner(c))
                     if use == "signing" else
                     _("%(owner)s has no valid active certificate for encryption left", owner=cert_owner(c)))


@cert_group.command("expiring", context_settings=CONTEXT_SETTINGS)
@click.option("--within", "days", type=click.IntRange(min=0), default=30, show_default=True, metavar="DAYS",
              help="Look this many days ahead.")
@click.option("--json", "as_json", is_flag=True, help="JSON on stdout.")
@click.pass_context
def cert_expiring(ctx: click.Context, days: int, as_json: bool) -> None:
    """Active certificates expiring within DAYS, or already expired. Exit 1 if there are any
    (for cron and monitoring), 0 otherwise."""
    now = utc_now()
    with transaction() as s:
        certs = s.scalars(Certificate.expiring(timedelta(days=days), now=now)).all()
        peppol = [c for c in _peppol_certs() if c.expiring(timedelta(days=days), now)]
        if as_json:
            echo_json([cert_dict(c, now) for c in certs] + [_peppol_dict(c, now) for c in peppol])
        else:
            for c in certs:
                left = (c.not_after - now).days
                when = (_("expired %(n)s days ago", n=-left) if c.not_after <= now
                        else _("expires in %(n)s days", n=left))
                click.echo(f"#{c.id} {cert_owner(c)}: {c.subject}, {when} ({day(c.not_after)})")
            for p in peppol:
                left = p.days_left(now)
                when = (f"unreadable: {p.error}" if left is None else f"expired {-left} days ago"
                        if p.not_after <= now else f"expires in {left} days")
                click.echo(f"{p.label()} ({p.path}): {p.subject or '-'}, {when}"
                           + (f" ({day(p.not_after)})" if p.not_after else ""))
        if not certs and not peppol:
            click.echo(_("no active certificate expires within %(days)s days", days=days), err=True)
    ctx.exit(EXIT_PROBLEMS if certs or peppol else EXIT_OK)
