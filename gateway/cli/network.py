"""``edigate network``: the other e-invoicing networks we are interconnected with.

A network is reached through an access point, which is a partner of ours (its
AS2 or SFTP settings and certificates are the partner's, set with ``edigate
partner`` / ``edigate sftp``); the network record adds the syntaxes it
accepts, how recipients are addressed to it, and where it publishes its
participant directory. ``add`` and ``set`` share one checking function.

Exit codes: 0 done; 1 problems (``refresh``: it failed, or rows were skipped;
``import``: rows were skipped, the rest is imported); 2 refused or unusable
input (nothing written).
"""
from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Optional
from urllib.parse import urlsplit

import click
import sqlalchemy as sa
from sqlalchemy.orm import Session

from gateway.model import identifiers
from gateway.db import Network, NetworkParticipant, Partner, SftpAccount, SftpRemote
from gateway.flow.route import lookup_participant
from gateway.networks.directory import import_directory, is_failed, next_refresh, refresh_network
from gateway.networks.listing import FORMATS, MAX_BYTES, DirectoryError, fetch, guess_format, is_url
from gateway.cli.common import (CONTEXT_SETTINGS, EXIT_PROBLEMS, BadInput, checked, current,
                                transaction, echo_json, find_partner, iso, table, utc_now, warn)
from gateway.cli import errors
from gateway.cli.words import _, label_rows
from gateway.i18n import N_

CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
MIN_INTERVAL = 60
UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


class Failed(errors.Failed):
    """Tried and not (entirely) done: exit 1, the message says why."""
    exit_code = EXIT_PROBLEMS


# --- input ---------------------------------------------------------------------------------------

def parse_interval(text: str) -> int:
    """``1d``, ``12h``, ``30m``, ``90s`` or plain seconds → seconds (at least a minute)."""
    m = re.fullmatch(r"\s*(\d+)\s*([smhdw]?)\s*", text.lower())
    if not m:
        raise ValueError(f"refresh interval {text!r}: expected a number with a unit, e.g. 1d, 12h, 30m")
    seconds = int(m.group(1)) * UNITS[m.group(2) or "s"]
    if seconds < MIN_INTERVAL:
        raise ValueError(f"refresh interval {text!r}: at least {MIN_INTERVAL} seconds")
    return seconds


def interval_text(seconds: int) -> str:
    for unit in ("w", "d", "h", "m"):
        if seconds % UNITS[unit] == 0:
            return f"{seconds // UNITS[unit]}{unit}"
    return f"{seconds}s"


def _formats(text: str) -> list[str]:
    from gateway.syntaxes import writable          # heavy: only when formats are given
    out: list[str] = []
    for name in (n.strip().lower() for n in text.split(",")):
        if not name:
            continue
        if name not in writable():
            raise BadInput(_("unknown format '%(name)s'; choose among %(formats)s", name=name, formats=", ".join(writable())))
        if name not in out:
            out.append(name)
    if not out:
        raise BadInput(_("--formats needs at least one format (the network's preferred one first)"))
    return out


def _source(text: str) -> str:
    """An http(s) URL as given, or a local file's absolute path (workers run elsewhere)."""
    text = text.strip()
    if is_url(text):
        if not urlsplit(text).hostname:
            raise BadInput(_("directory URL '%(url)s' has no host", url=text))
        return text
    if "://" in text:
        raise BadInput(_("directory '%(source)s': give a local path or an http(s) URL", source=text))
    path = Path(text).expanduser()
    if not path.is_file():
        raise BadInput(_("directory file '%(file)s' does not exist (or is not a file)", file=text))
    return str(path.resolve())


def _addressing(pairs: tuple[str, ...]) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise BadInput(_("--addressing '%(pair)s': expected KEY=VALUE, e.g. endpoint=BT-49", pair=pair))
        out[key.strip()] = value.strip()
    return out


def _network_options(f: Callable) -> Callable:
    options = [
        click.option("--name", metavar="NAME", help="What operators call it."),
        click.option("--partner", "partner_ref", metavar="PARTNER",
                     help="The access point we deliver to: a partner with AS2 or SFTP settings."),
        click.option("--formats", metavar="F1,F2", help="The syntaxes it accepts, preferred first (ubl,cii…)."),
        click.option("--directory", "directory", metavar="PATH|URL",
                     help="Where it publishes its participant directory (a file, or an http(s) URL); "
                          "\"\" removes it."),
        click.option("--directory-format", type=click.Choice(FORMATS),
                     help="csv (scheme,value,name), json, or xml (Peppol Directory export); "
                          "default: from the file extension."),
        click.option("--refresh-every", metavar="INTERVAL", help="How often the directory is fetched (1d, 12h…)."),
        click.option("--addressing", metavar="KEY=VALUE", multiple=True,
                     help="How recipients are addressed to it (repeatable), read by the network channel."),
    ]
    for option in reversed(options):
        f = option(f)
    return f


def _settings(s: Session, o: dict[str, Any], network: Optional[Network]) -> dict[str, Any]:
    """The column values the options ask for, checked; options not given are left out."""
    out: dict[str, Any] = {}
    if o["name"] is not None:
        if not o["name"].strip():
            raise BadInput(_("a network needs a name"))
        out["name"] = o["name"].strip()
    if o["partner_ref"] is not None:
        out["partner"] = find_partner(s, o["partner_ref"])
    if o["formats"] is not None:
        out["formats"] = _formats(o["formats"])
    if o["directory"] is not None:
        out["directory_source"] = _source(o["directory"]) if o["directory"].strip() else None
    fmt = o["directory_format"]
    source = out.get("directory_source", network.directory_source if network else None)
    if fmt is None and "directory_source" in out and source:
        fmt = guess_format(source)
        if fmt is None:
            raise BadInput(_("cannot tell the directory's format from '%(source)s': give --directory-format (%(formats)s)",
                             source=source, formats=", ".join(FORMATS)))
    if fmt is not None:
        out["directory_format"] = fmt
    if o["refresh_every"] is not None:
        out["refresh_interval_seconds"] = checked(parse_interval, o["refresh_every"])
    if o["addressing"]:
        out["addressing"] = _addressing(o["addressing"])
    return out


def _warn_unreachable(s: Session, p: Partner) -> None:
    """An access point we have no transport settings for cannot be delivered to: say so now."""
    as2 = bool(p.as2_id and p.as2_url)
    sftp = s.scalar(sa.select(sa.func.count()).select_from(SftpRemote).where(
        SftpRemote.partner_id == p.id, SftpRemote.push_dir.is_not(None))) or s.scalar(
        sa.select(sa.func.count()).select_from(SftpAccount).where(SftpAccount.partner_id == p.id))
    if not as2 and not sftp:
        warn(_("access point '%(name)s' has neither AS2 (id and URL) nor SFTP settings yet: forwarding to this "
               "network will fail until it has", name=p.name))
    if not p.active:
        warn(_("access point '%(name)s' is disabled: nothing is routed through this network until it is enabled",
               name=p.name))


def find_network(s: Session, ref: str) -> Network:
    n = s.scalar(sa.select(Network).where(Network.code == ref))
    if n is None:
        same = s.scalars(sa.select(Network).where(sa.func.lower(Network.code) == ref.lower())).all()
        n = same[0] if len(same) == 1 else None
    if n is None and (ref.isascii() and ref.isdigit()):
        n = s.get(Network, int(ref))
    if n is None:
        known = ", ".join(s.scalars(sa.select(Network.code).order_by(Network.code))) or "none yet"
        raise BadInput(_("no network '%(ref)s' (known: %(known)s; see `edigate network add`)", ref=ref, known=known))
    return n


# --- output --------------------------------------------------------------------------------------

def _state(n: Network) -> str:
    if not n.directory_source and n.refreshed_at is None:
        return "no directory"
    if n.refreshed_at is None:
        return "never refreshed"
    if is_failed(n):
        return "refresh failed"
    return "rows skipped" if n.refresh_error else "ok"


def _minute(dt: Optional[datetime]) -> str:
    return f"{dt:%Y-%m-%d %H:%M} UTC" if dt else "-"


def _network_dict(n: Network) -> dict[str, Any]:
    return {"id": n.id, "code": n.code, "name": n.name, "active": n.active,
            "partner": n.partner.name, "partner_id": n.partner_id, "formats": n.formats,
            "addressing": n.addressing, "directory_source": n.directory_source,
            "directory_format": n.directory_format, "refresh_interval_seconds": n.refresh_interval_seconds,
            "refreshed_at": iso(n.refreshed_at), "next_refresh": iso(next_refresh(n)) if n.directory_source else None,
            "participant_count": n.participant_count, "state": _state(n), "refresh_error": n.refresh_error}


# the states a network's directory can be in (``_state``), as ``show`` words them
STATES = {"no directory": N_("no directory"), "never refreshed": N_("never refreshed"),
          "refresh failed": N_("refresh failed"), "rows skipped": N_("rows skipped"), "ok": "ok"}


def _show(n: Network) -> None:
    p = n.partner
    transport = (_("AS2 %(as2_id)s at %(url)s", as2_id=p.as2_id, url=p.as2_url) if p.as2_id and p.as2_url
                 else (p.preferred_channel or "-"))
    nxt = next_refresh(n) if n.directory_source else None
    state = _(STATES[_state(n)])
    rows = [(N_("access point"), f"{p.name} (#{p.id}, {transport})" + ("" if p.active else _(", disabled"))),
            (N_("formats"), ", ".join(n.formats) or "-"),
            (N_("addressing"), ", ".join(f"{k}={v}" for k, v in n.addressing.items()) or "-"),
            (N_("directory"), f"{n.directory_source} ({n.directory_format})" if n.directory_source else "-"),
            (N_("refresh every"), interval_text(n.refresh_interval_seconds)),
            (N_("participants"), str(n.participant_count)),
            (N_("last refresh"), _minute(n.refreshed_at) + f" ({state})"),
            (N_("next refresh"), (_("now") if nxt is None else _minute(nxt)) if n.directory_source else "-")]
    if n.refresh_error:
        rows.append((N_("error") if _state(n) == "refresh failed" else N_("note"), n.refresh_error))
    click.echo(_("network #%(id)s %(code)s: %(name)s (%(state)s)", id=n.id, code=n.code, name=n.name,
                 state=_("active") if n.active else _("disabled")))
    for line in label_rows(rows):
        click.echo(line)


def _report(result) -> None:
    click.echo(result.summary)
    for problem in result.problems:
        warn(_("skipped %(problem)s", problem=problem))
    if result.repeated:
        click.echo(_("  %(n)s identifier(s) listed more than once (counted once)", n=result.repeated))


# --- commands ------------------------------------------------------------------------------------

@click.group("network", context_settings=CONTEXT_SETTINGS)
def network_group() -> None:
    """Interconnected networks: their access point, formats and participant directory.

    Routing forwards an invoice to a network when its recipient is no member of ours but is
    listed in the network's directory. Exit codes: 0 done, 1 problems, 2 refused.
    """


@network_group.command("add", context_settings=CONTEXT_SETTINGS)
@click.argument("code")
@_network_options
def network_add(code: str, **o: Any) -> None:
    """Add network CODE, reached through its access point --partner. Its directory is fetched
    at the next sweep, or now with `edigate network refresh CODE`."""
    code = code.strip()
    if not CODE.match(code):
        raise BadInput(_("network code '%(code)s': letters, digits, '.', '_' and '-', at most 64", code=code))
    if o["partner_ref"] is None:
        raise BadInput(_("a network needs its access point: --partner PARTNER"))
    o["formats"] = o["formats"] if o["formats"] is not None else "ubl"
    with transaction() as s:
        other = s.scalar(sa.select(Network).where(sa.func.lower(Network.code) == code.lower()))
        if other is not None:
            raise BadInput(_("a network '%(code)s' already exists (#%(id)s); change it with `edigate network set "
                             "%(code)s …`", code=other.code, id=other.id))
        values = _settings(s, o, None)
        values.setdefault("name", code)
        n = Network(code=code, **values)
        s.add(n)
        s.flush()
        click.echo(_("added network #%(id)s %(code)s through %(partner)s, formats %(formats)s", id=n.id, code=n.code,
                     partner=n.partner.name, formats=", ".join(n.formats))
                   + (_(", directory %(source)s", source=n.directory_source) if n.directory_source else ""))
        if not n.directory_source:
            warn(_("network %(code)s has no directory: nobody is routed through it until one is imported "
                   "(`edigate network import %(code)s FILE`) or a source is set (--directory)", code=code))
        _warn_unreachable(s, n.partner)


@network_group.command("set", context_settings=CONTEXT_SETTINGS)
@click.argument("ref", metavar="CODE")
@_network_options
@click.option("--enable/--disable", "active", default=None, help="Route through it, or stop (its records stay).")
def network_set(ref: str, active: Optional[bool], **o: Any) -> None:
    """Change the settings given (the others stay)."""
    with transaction() as s:
        n = find_network(s, ref)
        values = _settings(s, o, n)
        if active is not None:
            values["active"] = active
        changed = [k for k, v in values.items() if getattr(n, k) != v]
        for key, value in values.items():
            setattr(n, key, value)
        s.flush()
        click.echo(_("network %(code)s: changed %(what)s", code=n.code, what=", ".join(changed)) if changed
                   else _("network %(code)s: nothing to change", code=n.code))
        if "partner" in values:
            _warn_unreachable(s, n.partner)


@network_group.command("list", context_settings=CONTEXT_SETTINGS)
@click.option("--json", "as_json", is_flag=True, help="JSON on stdout.")
def network_list(as_json: bool) -> None:
    """Every network: access point, formats, participants, last refresh."""
    with transaction() as s:
        networks = s.scalars(sa.select(Network).order_by(Network.code)).all()
        if as_json:
            echo_json([_network_dict(n) for n in networks])
            return
        if not networks:
            click.echo(_("no networks yet (see `edigate network add`)"))
            return
        table(["#", "code", "name", "access point", "formats", "participants", "last refresh", "state"],
              [[str(n.id), n.code + ("" if n.active else " (disabled)"), n.name, n.partner.name,
                ",".join(n.formats), str(n.participant_count), _minute(n.refreshed_at), _state(n)]
               for n in networks])


@network_group.command("show", context_settings=CONTEXT_SETTINGS)
@click.argument("ref", metavar="CODE")
@click.option("--participants", "sample", type=click.IntRange(0), default=0, metavar="N",
              help="Also list the first N participants.")
@click.option("--json", "as_json", is_flag=True, help="JSON on stdout.")
def network_show(ref: str, sample: int, as_json: bool) -> None:
    """One network: access point, formats, directory, participant count, last refresh and its error."""
    with transaction() as s:
        n = find_network(s, ref)
        listed = s.execute(sa.select(NetworkParticipant.scheme, NetworkParticipant.value, NetworkParticipant.name)
                           .where(NetworkParticipant.network_id == n.id)
                           .order_by(NetworkParticipant.scheme, NetworkParticipant.value).limit(sample)).all() \
            if sample else []
        if as_json:
            d = _network_dict(n)
            if sample:
                d["participants"] = [{"scheme": sc, "value": v, "name": name} for sc, v, name in listed]
            echo_json(d)
            return
        _show(n)
        for sc, v, name in listed:
            click.echo(f"    {sc}:{v}" + (f"  {name}" if name else ""))


@network_group.command("import", context_settings=CONTEXT_SETTINGS)
@click.argument("ref", metavar="CODE")
@click.argument("source", metavar="FILE|URL")
@click.option("--format", "fmt", type=click.Choice(FORMATS), help="Default: from the file extension.")
@click.option("--allow-empty", is_flag=True, help="Accept a directory listing nobody (empties the network).")
def network_import(ref: str, source: str, fmt: Optional[str], allow_empty: bool) -> None:
    """Replace the network's participants with those listed in FILE, once (the scheduled refresh
    still reads the network's own source). Exit 1 when invalid rows were skipped, 2 when the file
    cannot be used (nothing changed)."""
    fmt = fmt or guess_format(source)
    if fmt is None:
        raise BadInput(_("cannot tell the format of '%(source)s': give --format (%(formats)s)", source=source,
                         formats=", ".join(FORMATS)))
    with transaction() as s:
        network_id = find_network(s, ref).id
    try:
        data = fetch(source, max_bytes=MAX_BYTES)
    except DirectoryError as e:
        raise BadInput(str(e)) from None
    result = import_directory(current().gateway(), network_id, data, fmt, source=source, now=utc_now(),
                              allow_empty=allow_empty)
    if not result.ok:
        raise BadInput(_("%(error)s; nothing changed", error=result.error))
    _report(result)
    if result.problems:
        raise Failed(_("%(n)s invalid row(s) skipped (listed above); the rest is imported", n=len(result.problems)))


@network_group.command("refresh", context_settings=CONTEXT_SETTINGS)
@click.argument("ref", metavar="CODE")
def network_refresh(ref: str) -> None:
    """Fetch the network's directory from its source now, whatever the schedule. A failed
    refresh keeps the participants listed before (exit 1, the error is recorded)."""
    with transaction() as s:
        n = find_network(s, ref)
        if not n.directory_source:
            raise BadInput(_("network %(code)s has no directory source: set one with `edigate network set %(code)s "
                             "--directory PATH|URL`, or use `edigate network import`", code=n.code))
        network_id = n.id
    result = refresh_network(current().gateway(), network_id, utc_now(), force=True)
    if not result.ok:
        raise Failed(result.error or _("refresh failed"))
    _report(result)
    if result.problems:
        raise Failed(_("%(n)s invalid row(s) skipped (listed above); the rest is imported", n=len(result.problems)))


@network_group.command("find", context_settings=CONTEXT_SETTINGS)
@click.argument("identifier", metavar="SCHEME:VALUE")
def network_find(identifier: str) -> None:
    """Which network reaches SCHEME:VALUE (a member of ours comes first when routing). Exit 1: none."""
    scheme, sep, value = identifier.partition(":")
    if not sep or not scheme.strip() or not value.strip():
        raise BadInput(_("'%(identifier)s': expected SCHEME:VALUE, e.g. SIRET:73282932000074 or 0088:4000001000005",
                         identifier=identifier))
    with transaction() as s:
        member = None
        try:
            member = s.scalar(Partner.by_identifier(*identifiers.parse(identifier)))
        except ValueError:
            pass
        if member is not None:
            click.echo(_("%(identifier)s is partner %(name)s (#%(id)s), a member: routed to it directly",
                         identifier=identifier, name=member.name, id=member.id))
        listed = lookup_participant(s, scheme, value)
        if listed is None:
            if member is None:
                raise Failed(_("%(identifier)s: no member and no network directory lists it", identifier=identifier))
            return
        n = listed.network
        click.echo(_("%(identifier)s is listed by network %(code)s as %(listed)s", identifier=identifier, code=n.code,
                     listed=listed.scheme + ":" + listed.value)
                   + (f" ({listed.name})" if listed.name else "")
                   + (_(", last seen %(when)s", when=_minute(listed.seen_at)) if listed.seen_at else ""))
