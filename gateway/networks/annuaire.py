"""The PPF directory (annuaire): a local mirror routing reads, kept current, and our members' lines in it.

Since September 2026 every French company receives its invoices through a
certified platform (PA), and the PPF annuaire says which one, line by line
(SIREN, SIREN+SIRET, SIREN+SIRET+routing code, SIREN+suffix). Routing
(``gateway.flow.route``) asks **only the mirror** kept here, never the network:
a slow or unreachable annuaire delays a refresh, never an invoice.

**The mirror.** ``refresh`` reads every line through the API
(``annuaire_client``), page by page, into a new *generation* of
``AnnuaireLine`` rows, then makes it current by one update of the state row;
readers join the state row in the same statement (``line_for``), so they see
the old mirror or the new one, never a mix. A refresh that fails (unreachable,
5xx, malformed, over the bounds EDIGATE_ANNUAIRE_MAX_PAGES / _MAX_LINES) drops
its partial generation, keeps the current one and says why in
``refresh_error`` (``refresh failed: …``); it is tried again after
``RETRY_FAILED`` rather than a whole interval. Lines wrong on their own are
skipped and named in ``refresh_error`` while the refresh stands. Memory holds
one page at a time, whatever the directory's size.

**Schedule.** The job sweep (``register``) prompts a refresh when it is due
(EDIGATE_ANNUAIRE_REFRESH); the refresh first claims its turn by
compare-and-set on ``refreshed_at``, so two workers prompted together refresh
once. A refresh that changed the mirror prompts ``jobs.reroute_held``.

**Which line answers.** The most specific line in effect today (Paris time):
the routing code's, else the SIRET's, else the SIREN's; a line whose
``dateDebutEffet`` is after today or whose end (``dateFinEffet`` or
``dateFinEffective``, the earlier; the end day still counts) is before today
does not count. Among lines of one level in effect, the latest begun wins.

**Which partner is a platform.** A partner of ours *is* platform ``NNNN``
when it has the identifier ``PA:NNNN`` (scheme ``PA``, the directory's
matricule; unique gateway-wide, so one partner per platform). A partner
receiving through the ``pa`` channel whose settings name ``platform_id``
``NNNN`` counts too, when no partner has the identifier.

**Publishing.** ``publish_lines`` posts, naming our platform
(EDIGATE_PLATFORM_ID), the lines of our members: active partners known by a
0225 address, a SIRET (0009) or a SIREN (0002), except platforms and
networks' access points (they receive elsewhere). Each posted line is recorded
with its ``idInstance`` (``AnnuairePublication``), claimed before it is posted,
so a second run, or two at once, post it once; a refusal is reported in the
API's words and not recorded (the next run tries again).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Iterable, Optional
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from gateway.db import (AnnuaireLine, AnnuairePublication, AnnuaireState, Network, Partner, PartnerIdentifier,
                        compare_and_set, utcnow)
from gateway.db.annuaire import STATE_ID
from gateway.model.addressing import FR_ADDRESS, SIREN, SIRET, FrenchAddress, french_address, routing_levels
from gateway.networks.annuaire_client import (AnnuaireClient, AnnuaireError, DirectoryLine, Refused, line_of)

log = logging.getLogger("edigate.annuaire")

PLATFORM_SCHEME = "PA"                   # a partner known as PA:NNNN is platform NNNN
PA_CHANNEL = "pa"                        # ... or receives through the pa channel with {"platform_id": "NNNN"}
FAILED = "refresh failed: "
RETRY_FAILED = timedelta(hours=1)
CLAIM_TIMEOUT = timedelta(minutes=15)    # a publication claimed this long ago and not done may be taken over
CHUNK = 2000
REPORTED_PROBLEMS = 20
ERROR_LENGTH = 4000
PARIS = ZoneInfo("Europe/Paris")


def today_in_france(now: Optional[datetime] = None) -> date:
    """The directory's dates are French calendar days."""
    return (now or utcnow()).astimezone(PARIS).date()


# --- reading the mirror ----------------------------------------------------------------------

def _current():
    """Lines of the current generation: joined with the state row, so one statement sees one mirror."""
    return (sa.select(AnnuaireLine)
            .join(AnnuaireState, sa.and_(AnnuaireState.id == STATE_ID,
                                         AnnuaireState.generation == AnnuaireLine.generation)))


def _in_effect(day: date):
    return sa.and_(sa.or_(AnnuaireLine.starts_on.is_(None), AnnuaireLine.starts_on <= day),
                   sa.or_(AnnuaireLine.ends_on.is_(None), AnnuaireLine.ends_on >= day))


def line_for(session: Session, keys: Iterable[tuple[str, str]], day: date) -> Optional[AnnuaireLine]:
    """The line in effect on ``day`` for one level of an address (its (scheme, value) keys, as
    ``routing_levels`` gives them; only the 0225 key names a line), or None."""
    addresses = [value for scheme, value in keys if scheme == FR_ADDRESS]
    if not addresses:
        return None
    return session.scalar(_current().where(AnnuaireLine.address.in_(addresses), _in_effect(day))
                          .order_by(AnnuaireLine.starts_on.desc().nulls_last(), AnnuaireLine.id).limit(1))


@dataclass(frozen=True)
class Found:
    """Which line answered an address, and at which level (0: the most specific asked)."""
    line: AnnuaireLine
    level: int
    levels: int


def lookup(session: Session, scheme: str, value: str, day: Optional[date] = None) -> Optional[Found]:
    """The most specific line in effect for an identifier (a 0225 address, a SIRET, a SIREN)."""
    levels = routing_levels(scheme, value)
    day = day or today_in_france()
    for level, keys in enumerate(levels):
        line = line_for(session, keys, day)
        if line is not None:
            return Found(line, level, len(levels))
    return None


def own_platform(session: Session) -> Optional[str]:
    """Our matricule as the last refresh knew it (EDIGATE_PLATFORM_ID)."""
    return session.scalar(sa.select(AnnuaireState.platform_id).where(AnnuaireState.id == STATE_ID))


def platform_partner(session: Session, matricule: str) -> Optional[Partner]:
    """The active partner of ours that is platform ``matricule`` (see the module's docstring)."""
    partner = session.scalar(sa.select(Partner).join(PartnerIdentifier).where(
        PartnerIdentifier.scheme == PLATFORM_SCHEME, PartnerIdentifier.value == matricule,
        Partner.active.is_(True)).limit(1))
    if partner is not None:
        return partner
    for candidate in session.scalars(sa.select(Partner).where(Partner.preferred_channel == PA_CHANNEL,
                                                              Partner.active.is_(True)).order_by(Partner.id)):
        if _pa_platform(candidate) == matricule:
            return candidate
    return None


def _pa_platform(partner: Partner) -> Optional[str]:
    settings = partner.channel_settings or {}
    pa = settings.get(PA_CHANNEL) if isinstance(settings, dict) else None
    value = pa.get("platform_id") if isinstance(pa, dict) else None
    return value.strip() if isinstance(value, str) else None


def state(gw) -> AnnuaireState:
    with gw.session() as s:
        row = s.get(AnnuaireState, STATE_ID)
        s.expunge(row)
        return row


# --- refreshing the mirror -------------------------------------------------------------------

@dataclass
class RefreshResult:
    ok: bool
    count: int = 0                       # lines in the mirror now
    read: int = 0                        # lines read from the API
    pages: int = 0
    masked: int = 0                      # lines the API marks masked (not usable)
    problems: list[str] = field(default_factory=list)
    problem_count: int = 0
    changed: bool = False
    error: Optional[str] = None

    @property
    def summary(self) -> str:
        if not self.ok:
            return f"annuaire: {self.error}"
        text = f"annuaire: {self.count:,} line(s) in the mirror ({self.read:,} read in {self.pages} page(s))"
        if self.problem_count:
            text += f"; {self.problem_count} invalid line(s) skipped"
        return text


def is_failed(row: AnnuaireState) -> bool:
    return bool(row.refresh_error and row.refresh_error.startswith(FAILED))


def next_refresh(row: AnnuaireState, interval_seconds: int) -> Optional[datetime]:
    """When the mirror is due again (None: now)."""
    if row.refreshed_at is None:
        return None
    wait = timedelta(seconds=interval_seconds)
    if is_failed(row):
        wait = min(wait, RETRY_FAILED)
    return row.refreshed_at + wait


def claim_refresh(gw, now: datetime, *, force: bool = False) -> bool:
    """Compare-and-set ``refreshed_at``: one refresh at a time, none before it is due (``force``:
    whatever the schedule, still claimed so the schedule counts from now)."""
    with gw.session() as s:
        row = s.get(AnnuaireState, STATE_ID)
        due = next_refresh(row, gw.settings.annuaire_refresh_seconds)
        if not force and due is not None and due > now:
            return False
        earlier = row.refreshed_at
        return compare_and_set(s, AnnuaireState, AnnuaireState.id == STATE_ID,
                               (AnnuaireState.refreshed_at.is_(None) if earlier is None
                                else AnnuaireState.refreshed_at == earlier),
                               refreshed_at=now) == 1


def refresh(gw, now: Optional[datetime] = None, *, force: bool = False,
            client: Optional[AnnuaireClient] = None) -> Optional[RefreshResult]:
    """Read the whole directory into a new generation and make it current.

    None: not this caller's turn (not due, or another worker claimed it). ``force`` (an
    operator's ``annuaire refresh``) skips the schedule."""
    settings = gw.settings
    if not settings.annuaire_url:
        return RefreshResult(ok=False, error="the annuaire is not configured (EDIGATE_ANNUAIRE_URL is not set)")
    now = now or utcnow()
    if not claim_refresh(gw, now, force=force):
        return None
    client = client or AnnuaireClient.from_settings(settings)
    generation = _new_generation(gw)
    result = RefreshResult(ok=True)
    try:
        for page in client.pages(page_size=settings.annuaire_page_size, max_pages=settings.annuaire_max_pages,
                                 max_lines=settings.annuaire_max_lines):
            result.pages = page.number
            result.read += len(page.lines)
            rows = []
            for position, raw in enumerate(page.lines, 1):
                try:
                    line = line_of(raw)
                except ValueError as e:
                    result.problem_count += 1
                    if len(result.problems) < REPORTED_PROBLEMS:
                        result.problems.append(f"page {page.number}, line {position}: {e}")
                    continue
                if line is None:
                    result.masked += 1
                    continue
                rows.append(_row(line, generation))
            with gw.session() as s:
                _insert(s, rows)
    except AnnuaireError as e:
        _discard(gw, generation)
        return _failed(gw, e.message, now, result)
    except Exception as e:              # our bug, or the database: the mirror stands, the error is on record
        _discard(gw, generation)
        log.exception("annuaire refresh failed")
        return _failed(gw, f"{type(e).__name__}: {e}", now, result)
    with gw.session() as s:
        result.count = s.scalar(sa.select(sa.func.count()).select_from(AnnuaireLine)
                                .where(AnnuaireLine.generation == generation)) or 0
    if result.count == 0:
        _discard(gw, generation)
        why = (f"no valid line among the {result.read:,} read; first problem {result.problems[0]}"
               if result.problems else "the directory lists no line (an empty or cut-short answer?)")
        return _failed(gw, why, now, result)
    with gw.session() as s:
        before = s.get(AnnuaireState, STATE_ID)
        previous = before.generation
        swapped = compare_and_set(
            s, AnnuaireState, AnnuaireState.id == STATE_ID, AnnuaireState.generation < generation,
            generation=generation, line_count=result.count, refreshed_at=now, succeeded_at=now,
            source=settings.annuaire_url, platform_id=settings.platform_id,
            refresh_error=_skip_note(result) if result.problem_count else None)
        result.changed = swapped == 1 and _differs(s, previous, generation)
    if swapped != 1:                    # a later refresh made its own generation current meanwhile
        _discard(gw, generation)
        return _failed(gw, "a later refresh finished first; its mirror stands", now, result, record=False)
    _drop_older(gw, generation)
    log.info("%s", result.summary)
    if result.changed and getattr(gw.jobs, "reroute_held", None) is not None:
        gw.jobs.reroute_held()
    return result


def _row(line: DirectoryLine, generation: int) -> dict[str, Any]:
    return {"generation": generation, "address": line.address, "siren": line.siren, "siret": line.siret,
            "routing_code": line.routing_code, "suffix": line.suffix, "platform_id": line.platform_id,
            "platform_name": (line.platform_name or None) and line.platform_name[:200],
            "platform_type": line.platform_type, "starts_on": line.starts_on, "ends_on": line.ends_on,
            "id_instance": line.id_instance, "addressing_id": line.addressing_id}


def _insert(s: Session, rows: list[dict[str, Any]]) -> None:
    """Insert a page's lines; a line listed again (same ``idInstance``: paging shifted under us) once."""
    if not rows:
        return
    dialect = s.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    elif dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    else:                               # pragma: no cover - the two engines we run on
        insert = None
    for i in range(0, len(rows), CHUNK):
        chunk = rows[i:i + CHUNK]
        if insert is not None:
            s.execute(insert(AnnuaireLine).on_conflict_do_nothing(), chunk)
        else:
            s.execute(sa.insert(AnnuaireLine), chunk)


def _new_generation(gw) -> int:
    """A generation number nobody else has (the update holds the state row until commit)."""
    with gw.session() as s:
        compare_and_set(s, AnnuaireState, AnnuaireState.id == STATE_ID,
                        last_generation=AnnuaireState.last_generation + 1)
        return s.scalar(sa.select(AnnuaireState.last_generation).where(AnnuaireState.id == STATE_ID))


def _discard(gw, generation: int) -> None:
    with gw.session() as s:
        s.execute(sa.delete(AnnuaireLine).where(AnnuaireLine.generation == generation)
                  .execution_options(synchronize_session=False))


def _drop_older(gw, generation: int) -> None:
    """Lines of generations before the current one (the previous mirror, abandoned refreshes)."""
    with gw.session() as s:
        s.execute(sa.delete(AnnuaireLine).where(AnnuaireLine.generation < generation)
                  .execution_options(synchronize_session=False))


def _differs(s: Session, old: int, new: int) -> bool:
    """Whether the new mirror routes anything differently (a line, its platform or its dates)."""
    cols = (AnnuaireLine.address, AnnuaireLine.platform_id, AnnuaireLine.starts_on, AnnuaireLine.ends_on)

    def side(gen: int):
        return sa.select(*cols).where(AnnuaireLine.generation == gen)
    one = s.scalar(sa.select(sa.func.count()).select_from(side(new).except_(side(old)).subquery()))
    other = s.scalar(sa.select(sa.func.count()).select_from(side(old).except_(side(new)).subquery()))
    return bool(one or other)


def _skip_note(result: RefreshResult) -> str:
    shown = "; ".join(result.problems)
    more = (f"; and {result.problem_count - len(result.problems)} more"
            if result.problem_count > len(result.problems) else "")
    return f"{result.problem_count} invalid line(s) skipped: {shown}{more}"[:ERROR_LENGTH]


def _failed(gw, error: str, now: datetime, result: RefreshResult, *, record: bool = True) -> RefreshResult:
    with gw.session() as s:
        row = s.get(AnnuaireState, STATE_ID)
        kept = row.line_count
        message = f"{FAILED}{error}; kept the {kept:,} line(s) of the mirror"
        if record:
            row.refresh_error = message[:ERROR_LENGTH]
            row.refreshed_at = now
    result.ok, result.error, result.count = False, message, kept
    log.warning("annuaire: %s", message)
    return result


# --- publishing our members' lines -----------------------------------------------------------

@dataclass
class PublishReport:
    posted: list[tuple[str, Optional[int]]] = field(default_factory=list)     # (line, idInstance)
    already: int = 0                                                          # published before
    busy: int = 0                                                             # another run is at it
    refused: list[tuple[str, str]] = field(default_factory=list)              # (line, the API's words)
    error: Optional[str] = None                                               # nothing could be tried

    @property
    def ok(self) -> bool:
        return self.error is None and not self.refused


def member_lines(session: Session) -> list[tuple[int, FrenchAddress]]:
    """(partner id, line) for every line our members receive through us, each line once."""
    platforms = set(session.scalars(sa.select(PartnerIdentifier.partner_id)
                                    .where(PartnerIdentifier.scheme == PLATFORM_SCHEME)))
    platforms |= set(session.scalars(sa.select(Network.partner_id)))
    platforms |= {p.id for p in session.scalars(sa.select(Partner).where(Partner.preferred_channel == PA_CHANNEL))}
    rows = session.execute(
        sa.select(PartnerIdentifier.partner_id, PartnerIdentifier.scheme, PartnerIdentifier.value)
        .join(Partner, Partner.id == PartnerIdentifier.partner_id)
        .where(Partner.active.is_(True), PartnerIdentifier.scheme.in_((FR_ADDRESS, SIRET, SIREN)))
        .order_by(PartnerIdentifier.partner_id, PartnerIdentifier.id)).all()
    out: list[tuple[int, FrenchAddress]] = []
    seen: set[str] = set()
    for partner_id, scheme, value in rows:
        if partner_id in platforms:
            continue
        try:
            address = (french_address(value) if scheme == FR_ADDRESS else
                       FrenchAddress(value[:9], siret=value) if scheme == SIRET else FrenchAddress(value))
            if scheme != FR_ADDRESS:
                french_address(address.value)       # the shape of a SIRET or SIREN
        except ValueError:
            continue
        if address.value not in seen:
            seen.add(address.value)
            out.append((partner_id, address))
    return out


def publish_lines(gw, *, client: Optional[AnnuaireClient] = None, now: Optional[datetime] = None) -> PublishReport:
    """Post our members' directory lines naming our platform, each once (see the module's docstring)."""
    settings = gw.settings
    report = PublishReport()
    if not settings.annuaire_url:
        report.error = "the annuaire is not configured (EDIGATE_ANNUAIRE_URL is not set)"
        return report
    if not settings.platform_id:
        report.error = "our platform's matricule is not set (EDIGATE_PLATFORM_ID): the lines would name nobody"
        return report
    ours, now = settings.platform_id, now or utcnow()
    client = client or AnnuaireClient.from_settings(settings)
    with gw.session() as s:
        lines = member_lines(s)
    for partner_id, address in lines:
        label = address.value
        claim = _claim(gw, partner_id, label, ours, now)
        if claim in ("already", "busy"):
            setattr(report, claim, getattr(report, claim) + 1)
            continue
        line = DirectoryLine(siren=address.siren, siret=address.siret, routing_code=address.routing_code,
                             suffix=address.suffix, platform_id=ours)
        try:
            answer = client.create(line, today_in_france(now))
        except AnnuaireError as e:
            _release(gw, claim)
            report.error = f"{label}: {e.message}"
            return report               # the annuaire cannot be reached: the rest waits for the next run
        if isinstance(answer, Refused):
            _release(gw, claim)
            report.refused.append((label, str(answer)))
            log.warning("annuaire refused line %s: %s", label, answer)
            continue
        with gw.session() as s:
            compare_and_set(s, AnnuairePublication, AnnuairePublication.id == claim,
                            published_at=utcnow(), id_instance=answer.id_instance, addressing_id=answer.addressing_id)
        report.posted.append((label, answer.id_instance))
    return report


def _claim(gw, partner_id: int, address: str, platform: str, now: datetime) -> Any:
    """The publication row's id, claimed for this run; "already" (published), "busy" (another run)."""
    with gw.session() as s:
        row = s.scalar(sa.select(AnnuairePublication).where(AnnuairePublication.address == address,
                                                            AnnuairePublication.platform_id == platform))
        if row is not None:
            if row.published_at is not None:
                return "already"
            if row.claimed_at > now - CLAIM_TIMEOUT:
                return "busy"
            taken = compare_and_set(s, AnnuairePublication, AnnuairePublication.id == row.id,
                                    AnnuairePublication.claimed_at == row.claimed_at,
                                    AnnuairePublication.published_at.is_(None), claimed_at=now)
            return row.id if taken == 1 else "busy"
    try:
        with gw.session() as s:
            row = AnnuairePublication(partner_id=partner_id, address=address, platform_id=platform,
                                      starts_on=today_in_france(now), claimed_at=now)
            s.add(row)
            s.flush()
            return row.id
    except IntegrityError:              # another run inserted it first
        return "busy"


def _release(gw, claim: int) -> None:
    with gw.session() as s:
        s.execute(sa.delete(AnnuairePublication).where(AnnuairePublication.id == claim,
                                                       AnnuairePublication.published_at.is_(None))
                  .execution_options(synchronize_session=False))


# --- its part of the jobs: the refresh task, prompted by the sweep when due ------------------------

class _AnnuaireJobs:
    def __init__(self, jobs):
        gw = jobs.gateway

        @jobs.huey.task(name="refresh_annuaire")
        def refresh_annuaire(due_at: Optional[datetime] = None) -> None:
            result = refresh(gw, due_at)         # claims its turn: a second prompt does nothing
            if result is not None and not result.ok:
                log.warning("%s", result.summary)

        self.gateway, self.refresh = gw, refresh_annuaire

    def sweep(self, now: datetime) -> dict[str, int]:
        gw = self.gateway
        if not gw.settings.annuaire_url:
            return {}
        row = state(gw)
        due = next_refresh(row, gw.settings.annuaire_refresh_seconds)
        if due is not None and due > now:
            return {}
        self.refresh(now)
        return {"annuaire_refreshes": 1}


def register(jobs) -> _AnnuaireJobs:
    """For ``gateway.jobs``: the refresh task, prompted by every sweep when the mirror is due."""
    return _AnnuaireJobs(jobs)
