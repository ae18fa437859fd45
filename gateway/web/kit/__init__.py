"""What every blueprint of the web app shares, so no blueprint has its own copy.

* ``current``: ``gateway()``, the app's Gateway inside a request;
* ``errors``: how errors are answered: the API's one JSON shape, or a kind of HTML
  error page (operator, portal, or one an extension defines), registered once per
  blueprint by ``json_errors`` / ``page_errors``; no blueprint calls ``errorhandler``;
* ``login``: the login session, the login and logout views of each door (operator
  pages, recipient portal), ``login_required``, ``recipient_required``;
* ``tokens``: the API's bearer tokens (``require_token``);
* ``roles``: which roles may do what;
* ``headers``: the security headers of every HTML page (CSP and the rest);
* ``display``: how pages show times and statuses.

Blueprints import the modules they use (``from gateway.web.kit.login import login_required``);
this package itself imports nothing.
"""
