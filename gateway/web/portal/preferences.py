"""The recipient's own settings on the portal (``/portal/preferences``): the language of its pages
and the time zone its times are shown in, as on the operator pages (``kit.preferences``)."""
from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for

from ..kit import preferences as preferences_form
from ..kit.login import recipient_required
from .views import bp


@bp.route("/preferences", methods=["GET", "POST"])
@recipient_required
def preferences():
    if request.method == "POST":
        saved, message = preferences_form.save(request.form)
        flash(message, "info" if saved else "error")
        return redirect(url_for("portal.preferences"), code=303)
    return render_template("portal/preferences.html", **preferences_form.options())
