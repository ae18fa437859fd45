"""onboarding: bring counterparties onto the network (see DESIGN.md).

* ``models``: the records (counterparties, campaigns, waves, invitations, mails, events).
* ``importer``: counterparties from CSV, with a per-row report and de-duplication.
* ``campaigns`` + ``templating`` + ``wording`` (the defaults from the catalogue, overrides, sandbox; the
  HTML part drawn from the text); ``counterparties`` (staff corrections, invite again); ``inbound``
  (how a supplier sends us its invoices, set up at enrolment).
* ``links``: signed registration, opt-out and open-pixel links.
* ``mailing`` (waves, reminders, one idempotent send per mail), ``bounces`` (DSNs),
  ``tasks`` (the jobs and the sweep), ``tracking`` (events, funnel, timeline, CSV).
* ``enrol`` and ``web``: self-service registration and the staff pages.
* ``cli``: ``edigate onboarding``.

This module is the gateway extension (``gateway.extensions``), declared in pyproject.toml
under ``[project.entry-points."edigate.extensions"]``: its three hooks plug the jobs, the
pages and the command in. It stays light, since the command line loads it to list the
commands; each hook imports its part when the gateway asks for it.
"""
from __future__ import annotations

from typing import Any

commands = {
    "onboarding": ("onboarding.cli:onboarding_group",
                   "Onboarding campaigns: counterparties, campaigns, waves, reminders, the funnel."),
}


def register_jobs(jobs: Any) -> Any:
    """The mail tasks and the sweep (``onboarding.tasks.OnboardingJobs``)."""
    from onboarding import tasks
    return tasks.register(jobs)


def init_app(app: Any, csrf: Any) -> None:
    """The staff pages and the registration form (``onboarding.web``)."""
    from onboarding import web
    web.init_app(app, csrf)
