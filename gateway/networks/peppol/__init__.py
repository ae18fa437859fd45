"""Peppol: participants found through the SML (DNS) and their SMP, and our own SMP's answers.

One module per job: ``identifiers`` (participant, document type and process
identifiers), ``sml`` (the DNS names and lookups), ``smp`` (fetching,
verifying and reading an SMP's answers), ``cache``, ``discovery``
(``find_endpoint``: all of it, bounded in time), ``publish`` (what our SMP
answers, ``gateway.web.smp`` serves it), ``settings`` and ``refusal``.
"""
