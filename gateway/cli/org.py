"""``edigate org``: our own organisations, their AS2 identities and where their keys are.

Private keys never enter the database: an identity records the path of its
key (``key_ref``), and the key's certificate is stored as a certificate of
the organisation. ``--dev`` makes a development key pair in the certs
directory, named after the AS2 name.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Callable, Optional

import click
import sqlalchemy as sa
from sqlalchemy.orm import Session

from gateway.certs import ensure_dev_keypair, load_private_key
from gateway.config import Settings
from gateway.db import AS2Identity, Organisation, Partner
from gateway.partners.checks import CertificateFile, as2_name, same_public_key
from gateway.partners.service import PartnerError, PartnerService
from gateway.cli.certificates import add_cert, cert_dict, cert_line, read_cert, soonest_expiry
from gateway.cli.words import _
from gateway.cli.common import (CONTEXT_SETTINGS, BadInput, checked, current_settings, day, echo_json, find_org, iso,
                                table, transaction, utc_now, warn)


def dev_key_name(as2: str) -> str:
    """A file name for an AS2 name's development key pair: 'ACME Corp/FR' → 'ACME_Corp_FR'."""
    return re.sub(r"[^A-Za-z0-9.-]+", "_", as2).strip("._") or "as2"


def _key_options(f: Callable) -> Callable:
    for option in reversed([
        click.option("--key", "key_file", metavar="FILE", type=click.Path(exists=True, dir_okay=False, path_type=Path),
                     help="Our private key (PEM, unencrypted); only its path is recorded."),
        click.option("--cert", "cert_file", metavar="FILE",
                     type=click.Path(exists=True, dir_okay=False, path_type=Path),
                     help="The certificate of that key (PEM or DER)."),
        click.option("--dev", is_flag=True, help="Make (or reuse) a development key pair in the certs directory."),
    ]):
        f = option(f)
    return f


def _key_material(s: Session, settings: Settings, as2: str, key_file: Optional[Path], cert_file: Optional[Path],
                  dev: bool) -> Optional[tuple[str, CertificateFile]]:
    """(key path, certificate) from --key/--cert or --dev, checked to belong together; or None."""
    if dev and (key_file or cert_file):
        raise BadInput(_("--dev makes its own key pair: give either --dev or --key and --cert"))
    if bool(key_file) != bool(cert_file):
        raise BadInput(_("--key and --cert go together (or use --dev)"))
    if dev:
        return _dev_key(s, settings, as2)
    if key_file is None or cert_file is None:
        return None
    cf = read_cert(cert_file, expired_hint="make or obtain a new certificate for the key")
    try:
        key = load_private_key(key_file)
    except TypeError:
        raise BadInput(_("%(file)s is an encrypted key: the gateway runs unattended, give it an "
                         "unencrypted key readable only by its user (mode 0600)", file=key_file)) from None
    except ValueError:
        raise BadInput(_("%(file)s is not a private key in PEM form", file=key_file)) from None
    if not same_public_key(key, cf.certificate):
        raise BadInput(_("%(cert)s is not the certificate of the key %(key)s", cert=cert_file, key=key_file))
    if key_file.stat().st_mode & 0o077:
        warn(_("%(file)s can be read by other users: chmod 600 it", file=key_file))
    key_ref = str(key_file.resolve())
    _check_key_unused(s, key_ref)
    return key_ref, cf


def _check_key_unused(s: Session, key_ref: str) -> None:
    user = s.scalar(sa.select(AS2Identity).where(
        sa.or_(AS2Identity.signing_key_ref == key_ref, AS2Identity.encryption_key_ref == key_ref)))
    if user is not None:
        raise BadInput(_("the key %(key)s is already AS2 identity '%(name)s''s (organisation %(org)s); give each "
                         "identity its own", key=key_ref, name=user.as2_name, org=user.organisation.name))


def _dev_key(s: Session, settings: Settings, as2: str) -> tuple[str, CertificateFile]:
    directory = settings.certs_dir.resolve()
    name = dev_key_name(as2)
    _check_key_unused(s, str(directory / f"{name}.key.pem"))
    try:
        kp = ensure_dev_keypair(directory, name, common_name=as2)
    except (ValueError, OSError) as exc:
        raise BadInput(_("cannot make a development key pair in %(dir)s: %(error)s", dir=directory, error=exc)) from None
    assert kp.key_path is not None
    return str(kp.key_path), CertificateFile(kp.certificate, kp.cert_pem.decode("ascii"), ())


def key_for_certificate(org: Organisation, cf: CertificateFile) -> Optional[str]:
    """The key of one of ``org``'s identities that ``cf`` certifies, if any: a renewed
    certificate for a key we hold is then recorded with it, usable at once."""
    refs = sorted({r for i in org.as2_identities for r in (i.signing_key_ref, i.encryption_key_ref) if r})
    for ref in refs:
        try:
            if same_public_key(load_private_key(ref), cf.certificate):
                return ref
        except (OSError, ValueError, TypeError):
            continue
    return None


def _add_identity(s: Session, settings: Settings, org: Organisation, as2: str, key_file: Optional[Path],
                  cert_file: Optional[Path], dev: bool) -> AS2Identity:
    checked(as2_name, as2)
    try:
        PartnerService(s).as2_name_free(as2)        # one party per AS2 name: ours, or a partner's
    except PartnerError as e:
        raise BadInput(str(e)) from None
    material = _key_material(s, settings, as2, key_file, cert_file, dev)
    key_ref = material[0] if material else None
    ident = AS2Identity(as2_name=as2, signing_key_ref=key_ref, encryption_key_ref=key_ref)
    org.as2_identities.append(ident)
    s.add(org)
    s.flush()
    click.echo(_("organisation %(org)s: AS2 identity %(as2)s, key %(key)s", org=org.name, as2=as2, key=key_ref) if key_ref
               else _("organisation %(org)s: AS2 identity %(as2)s, no key yet", org=org.name, as2=as2))
    if material:
        cert = add_cert(s, org, material[1], "both", key_ref=key_ref)
        click.echo(_("  certificate #%(id)s: %(subject)s, valid until %(day)s", id=cert.id, subject=cert.subject,
                     day=day(cert.not_after)))
    return ident


@click.group("org", context_settings=CONTEXT_SETTINGS)
def org_group() -> None:
    """Our own organisations: the gateway sends and receives in their name (AS2 identities, keys).

    Exit codes: 0 done, 2 refused (nothing written).
    """


@org_group.command("add", context_settings=CONTEXT_SETTINGS)
@click.argument("name")
@click.option("--as2-name", "as2", required=True, metavar="NAME", help="Our AS2 name for this organisation.")
@_key_options
def org_add(name: str, as2: str, key_file: Optional[Path], cert_file: Optional[Path], dev: bool) -> None:
    """Add one of our organisations NAME with its first AS2 identity."""
    name = name.strip()
    if not name:
        raise BadInput(_("an organisation needs a name"))
    settings = current_settings()
    with transaction() as s:
        if s.scalar(sa.select(Organisation).where(Organisation.name == name)) is not None:
            raise BadInput(_("organisation '%(name)s' already exists (add identities with `edigate org identity add`)",
                             name=name))
        org = Organisation(name=name)
        _add_identity(s, settings, org, as2, key_file, cert_file, dev)


@org_group.command("list", context_settings=CONTEXT_SETTINGS)
@click.option("--json", "as_json", is_flag=True, help="JSON on stdout.")
def org_list(as_json: bool) -> None:
    """Our organisations, their AS2 names and soonest certificate expiry."""
    with transaction() as s:
        orgs = s.scalars(sa.select(Organisation).order_by(Organisation.name)).all()
        if as_json:
            echo_json([{"id": o.id, "name": o.name, "as2_names": [i.as2_name for i in o.as2_identities],
                         "certificate_expiry": iso(soonest_expiry(o.certificates))} for o in orgs])
            return
        if not orgs:
            click.echo(_("no organisations yet (see `edigate org add`)"))
            return
        table(["#", "name", "AS2 names", "cert expires"],
               [[str(o.id), o.name, ", ".join(i.as2_name for i in o.as2_identities) or "-",
                 day(soonest_expiry(o.certificates))] for o in orgs])


@org_group.command("show", context_settings=CONTEXT_SETTINGS)
@click.argument("ref", metavar="NAME")
@click.option("--json", "as_json", is_flag=True, help="JSON on stdout.")
def org_show(ref: str, as_json: bool) -> None:
    """One organisation: its AS2 identities, key references and certificates."""
    now = utc_now()
    with transaction() as s:
        o = find_org(s, ref)
        users = dict(s.execute(sa.select(Partner.as2_identity_id, sa.func.count())
                               .group_by(Partner.as2_identity_id)).all())
        idents = [{"as2_name": i.as2_name, "active": i.active, "signing_key_ref": i.signing_key_ref,
                   "encryption_key_ref": i.encryption_key_ref, "partners": users.get(i.id, 0)}
                  for i in o.as2_identities]
        certs = sorted(o.certificates, key=lambda c: c.id)
        if as_json:
            echo_json({"id": o.id, "name": o.name, "created_at": iso(o.created_at), "as2_identities": idents,
                        "certificates": [cert_dict(c, now) for c in certs]})
            return
        click.echo(_("organisation #%(id)s %(name)s", id=o.id, name=o.name))
        click.echo(_("  AS2 identities:"))
        for i in idents:
            keys = {i["signing_key_ref"], i["encryption_key_ref"]} - {None}
            click.echo("    " + (_("%(as2)s: key %(keys)s; %(n)s partner(s) use it explicitly", as2=i["as2_name"],
                                       keys=", ".join(sorted(keys)) or "-", n=i["partners"]) if i["active"] else
                                     _("%(as2)s (inactive): key %(keys)s; %(n)s partner(s) use it explicitly",
                                       as2=i["as2_name"], keys=", ".join(sorted(keys)) or "-", n=i["partners"])))
        click.echo(_("  certificates:") if certs else _("  certificates: none"))
        for c in certs:
            click.echo(f"    {cert_line(c, now)}")


@org_group.group("identity", context_settings=CONTEXT_SETTINGS)
def org_identity() -> None:
    """AS2 identities of our organisations (several per organisation)."""


@org_identity.command("add", context_settings=CONTEXT_SETTINGS)
@click.argument("ref", metavar="ORG")
@click.option("--as2-name", "as2", required=True, metavar="NAME", help="The new AS2 name.")
@_key_options
def org_identity_add(ref: str, as2: str, key_file: Optional[Path], cert_file: Optional[Path], dev: bool) -> None:
    """Give organisation ORG one more AS2 identity."""
    settings = current_settings()
    with transaction() as s:
        _add_identity(s, settings, find_org(s, ref), as2, key_file, cert_file, dev)
