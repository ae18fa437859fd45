"""The recipient's own settings on the portal (``/portal/preferences``): the language of its pages
and the time zone its times are shown in, as on the operator pages (``kit.preferences``)."""
from __future__ import annotations

from ..kit import preferences as preferences_form
from ..kit.login import recipient_required
from .views import bp


@bp.route("/preferences", methods=["GET", "POST"])
@recipient_required
def preferences():
    return preferences_form.page("portal.preferences", "portal/preferences.html")
