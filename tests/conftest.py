"""What every test can ask for, registered once: the peers, the gateway factories, the markers.

Layout (see README, "The tests"):

* ``unit/``: our modules in this process, without a gateway's home: no database, no Flask app,
  no ``Gateway`` (``make_gateway`` and the seeds of ``support/`` build one), no peer, server,
  outside program or child process; the quick loop (``pytest -m unit``, under a minute);
* ``conformance/``: the same limits, but our outputs and verdicts judged by the official
  artefacts of the shared corpus (samples through every syntax, XSDs, the CEN, Peppol, French
  and Factur-X schematrons, agreement on mutants, the seeded fuzz): minutes of CPU, skipped
  where the corpus is absent;
* ``integration/``: a gateway's home wired in this process (its database, the flow, the web
  app, the command line on a migrated home), or one real peer or outside program each
  (django-pyas2, sshd, PostgreSQL, Redis, SMTP, Chromium, OpenSSL, poppler, rclone, a child
  process…);
* ``e2e/``: a running ``edigate serve`` (or several processes of ours);
* ``peers/``: one module per peer, its fixture registered here;
* ``support/``: builders, seeds, corpus access, processes, ``free_port``, ``wait_for``.

Each test gets the marker of its folder (``pytest -m unit``); ``slow`` marks the few long
ones; ``xdist_group`` keeps tests that share something outside their own temporary folder
on one worker (``make test`` runs in parallel with ``--dist loadgroup``).
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Callable, Iterator, Optional

import pytest

from gateway.config import load_settings
from gateway.runtime import Gateway

# The peers, session-scoped where starting one costs something. Defined once, here: a module
# importing a session fixture would get its own copy (and two sync Playwrights collide).
from tests.peers.chromium import browser, page  # noqa: F401
from tests.peers.postgres import postgres_server, postgres_url  # noqa: F401
from tests.peers.pyas2 import pyas2_python  # noqa: F401
from tests.peers.redis_server import redis_server, redis_url  # noqa: F401
from tests.peers.smtp import smtp_server  # noqa: F401
from tests.peers.sshd import sshd_peer  # noqa: F401
from tests.support.database import MigratedTemplate, copying_template, refusing_migrations
from tests.support.gateway_process import GatewayProcess
from tests.support.memory_temp import memory_temp_root
from tests.support.passwords import cheap_password_hashes
from tests.support.url_rules import builders_compiled_once

TESTS = Path(__file__).resolve().parent
FOLDERS = {
    "unit": "in-process, without a gateway's home: no database, web app, Gateway, peer or child process (tests/unit)",
    "conformance": "in-process like unit, judged by the shared corpus' official validators and samples (tests/conformance)",
    "integration": "a gateway's home in-process (database, flow, web app), or a real peer or outside program (tests/integration)",
    "e2e": "a running edigate serve or several processes of ours (tests/e2e)",
}
MARKERS = {
    **FOLDERS,
    "slow": "takes tens of seconds on its own (pytest -m 'not slow' leaves it out)",
    "real_migrations": "opens new SQLite databases through the Alembic migrations, not the session's migrated copy",
}


def pytest_configure(config: pytest.Config) -> None:
    for name, what in MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {what}")
    # the command line's messages in English whatever the machine's locale says (a French LANG would
    # make them French: gateway.cli.words); tests of the French ones give their own language
    os.environ["EDIGATE_LANG"] = "en"
    # tmp_path in memory where there is room (tests/support/memory_temp.py); pytest-xdist's workers
    # get their folders under the one the main process chooses here
    if not hasattr(config, "workerinput"):
        root = memory_temp_root(os.environ, config.option.basetemp)
        if root is not None:
            os.environ["PYTEST_DEBUG_TEMPROOT"] = str(root)
            config.stash[_IN_MEMORY] = True


_IN_MEMORY = pytest.StashKey[bool]()


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """A run whose temporary folders were in memory and which passed leaves nothing there (one
    that failed keeps them to be looked at, pytest removing all but the last three runs')."""
    if not session.config.stash.get(_IN_MEMORY, False) or exitstatus != 0:
        return
    factory = getattr(session.config, "_tmp_path_factory", None)
    basetemp = getattr(factory, "_basetemp", None)
    if basetemp is not None:
        shutil.rmtree(basetemp, ignore_errors=True)


# What a unit test may not ask for: a peer, a gateway in its own process, or a gateway's home in this
# one (make_gateway, which the web and onboarding seeds of tests/support build on).
NOT_IN_UNIT = {"postgres_server", "postgres_url", "redis_server", "redis_url", "smtp_server", "sshd_peer",
               "pyas2_python", "browser", "page", "make_gateway_process", "make_gateway"}


IN_PROCESS = {"unit", "conformance"}     # folders under the limits above


class _Unknown(Exception):
    """A marker the expression asks about whose presence is not known for a whole folder."""


def _folder_can_match(markexpr: str, folder: str) -> bool:
    """Whether any test of ``folder`` could match ``-m markexpr``: each test there carries the
    folder's marker and no other folder's; its other markers may be anything, so every way they
    could be present is tried (a few markers, so few ways)."""
    from _pytest.mark.expression import Expression
    expr = Expression.compile(markexpr)

    def matches(known: dict) -> bool:
        asked: list = []

        def marked(name: str, /, **kwargs) -> bool:
            if name in FOLDERS:
                return name == folder
            key = (name, tuple(sorted(kwargs.items())))
            if key not in known:
                asked.append(key)
                raise _Unknown
            return known[key]
        try:
            return expr.evaluate(marked)
        except _Unknown:
            return matches({**known, asked[0]: True}) or matches({**known, asked[0]: False})
    return matches({})


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> Optional[bool]:
    """A folder none of whose tests ``-m`` can select is not collected (``pytest -m unit`` imports
    no integration or e2e module, their peers and plugins' code). Anything else: pytest decides."""
    markexpr = config.option.markexpr
    if not markexpr or collection_path.parent != TESTS or collection_path.name not in FOLDERS:
        return None
    try:
        return None if _folder_can_match(markexpr, collection_path.name) else True
    except Exception:       # noqa: BLE001 - an expression pytest itself will report on: collect as usual
        return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The marker of the folder a test is in: ``unit``, ``conformance``, ``integration`` or ``e2e``; a
    test in ``unit/`` or ``conformance/`` that asks for a peer or a gateway is refused (it belongs in
    ``integration/``)."""
    misplaced = []
    folders: dict[Path, Optional[str]] = {}          # a module's items share its path: resolved once
    for item in items:
        if item.path not in folders:
            try:
                folders[item.path] = item.path.resolve().relative_to(TESTS).parts[0]
            except ValueError:
                folders[item.path] = None
        folder = folders[item.path]
        if folder is None:
            continue
        if folder in FOLDERS:
            item.add_marker(folder)
        if folder in IN_PROCESS and NOT_IN_UNIT & set(getattr(item, "fixturenames", ())):
            misplaced.append(f"{item.nodeid} uses {', '.join(sorted(NOT_IN_UNIT & set(item.fixturenames)))}")
    if misplaced:
        raise pytest.UsageError("tests in tests/unit/ or tests/conformance/ that need a peer or a gateway belong in tests/integration/:\n  "
                                + "\n  ".join(misplaced))


# --- databases: a migrated copy instead of a migration per test ------------------------------

@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> MigratedTemplate:
    """One SQLite file migrated by the real migrations, the first time a test needs a database."""
    return MigratedTemplate(tmp_path_factory.mktemp("migrated-sqlite"))


@pytest.fixture(autouse=True)
def _new_sqlite_databases_are_copies(request: pytest.FixtureRequest,
                                     migrated_sqlite: MigratedTemplate) -> Iterator[None]:
    """See tests/support/database.py; ``@pytest.mark.real_migrations`` turns it off. A unit
    test opens no database: one that does fails, as it belongs in tests/integration/."""
    if request.node.get_closest_marker("unit") or request.node.get_closest_marker("conformance"):
        with refusing_migrations("a unit test has no gateway home; this one belongs in tests/integration/"):
            yield
        return
    if request.node.get_closest_marker("real_migrations"):
        yield
        return
    with copying_template(migrated_sqlite):
        yield


@pytest.fixture(scope="session", autouse=True)
def _password_hashes_at_a_tests_cost() -> Iterator[None]:
    """See tests/support/passwords.py: scrypt, cheaper, in this process only."""
    with cheap_password_hashes():
        yield


@pytest.fixture(scope="session", autouse=True)
def _url_builders_compiled_once() -> Iterator[None]:
    """See tests/support/url_rules.py: most integration tests create the web app anew."""
    with builders_compiled_once():
        yield


# --- the gateway: in this process, or a running edigate serve ------------------------------

@pytest.fixture
def make_gateway(tmp_path: Path) -> Iterator[Callable[..., Gateway]]:
    """``make_gateway(**env)``: a ``Gateway`` in this process on a fresh home under ``tmp_path``
    (``EDIGATE_*`` settings as keywords; ``home=`` another folder; jobs run at once unless
    ``immediate_jobs=False``). Closed after the test."""
    made: list[Gateway] = []

    def make(home: Optional[Path] = None, *, immediate_jobs: bool = True, **env: str) -> Gateway:
        home = Path(home) if home is not None else tmp_path / ("home" if not made else f"home-{len(made)}")
        # pages in English unless a test asks otherwise: the suite reads English wording (the product's
        # default, French, is EDIGATE_LANGUAGE=fr; French pages are tested in tests/integration/test_french_*.py)
        env = {"EDIGATE_LANGUAGE": "en", **env}
        gw = Gateway(load_settings({"EDIGATE_HOME": str(home), **env}), immediate_jobs=immediate_jobs)
        made.append(gw)
        return gw

    yield make
    for gw in reversed(made):
        gw.close()


@pytest.fixture
def make_gateway_process(tmp_path: Path) -> Iterator[Callable[..., GatewayProcess]]:
    """``make_gateway_process(**kwargs)``: an ``edigate serve`` of its own on free ports and a
    fresh home under ``tmp_path`` (``GatewayProcess``: prepare records through ``.gateway()``,
    then ``.start()``). Stopped after the test."""
    made: list[GatewayProcess] = []

    def make(home: Optional[Path] = None, **kwargs) -> GatewayProcess:
        home = Path(home) if home is not None else tmp_path / ("gateway" if not made else f"gateway-{len(made)}")
        server = GatewayProcess(home, **kwargs)
        made.append(server)
        return server

    yield make
    for server in reversed(made):
        server.stop()
