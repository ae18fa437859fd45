"""onboarding: bring counterparties onto the network (see DESIGN.md).

* ``models``: the records (counterparties, campaigns, waves, invitations, mails, events).
* ``importer``: counterparties from CSV, with a per-row report and de-duplication.
* ``campaigns`` + ``templating`` (wording: data files in ``templates/``, overrides, sandbox).
* ``links``: signed registration, opt-out and open-pixel links.
* ``mailing`` (waves, reminders, one idempotent send per mail), ``bounces`` (DSNs),
  ``tasks`` (the jobs and the sweep), ``tracking`` (events, funnel, timeline, CSV).
* ``enrol`` and ``web``: self-service registration and the staff pages.
* ``cli``: ``edigate onboarding``.
"""
