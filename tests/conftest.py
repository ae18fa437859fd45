# Shared fixtures: a real PostgreSQL server for the session (see tests/peers/postgres.py).
from tests.peers.postgres import postgres_server, postgres_url  # noqa: F401
# Headless Chromium (see tests/peers/chromium.py): one Playwright for the whole session, defined once here;
# a module importing the fixtures would get its own session copy, and two sync Playwrights collide.
from tests.peers.chromium import browser, page  # noqa: F401,E402
