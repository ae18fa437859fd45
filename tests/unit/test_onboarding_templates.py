"""Mail wording's defaults are data files of the package, in French and English, for every step.
Overrides, previews and the sandbox, on a campaign of a gateway's database, are tested in
tests/integration/test_onboarding_templates.py."""
from __future__ import annotations

from onboarding.templating import default_template


def test_default_templates_are_data_files_in_the_package():
    from importlib import resources
    files = {p.name for p in resources.files("onboarding").joinpath("templates").iterdir()}
    for step in ("information", "invitation", "reminder"):
        for lang in ("fr", "en"):
            assert {f"{step}.{lang}.subject.txt", f"{step}.{lang}.txt", f"{step}.{lang}.html"} <= files
            assert default_template(step, lang).origin == "default"
