# Shared fixtures: a real PostgreSQL server for the session (see tests/pg.py).
from tests.pg import postgres_server, postgres_url  # noqa: F401
