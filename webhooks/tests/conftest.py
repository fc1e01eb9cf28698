"""The shared billing fixtures (payments.tests.support)."""

from payments.tests.support import (  # noqa: F401 - fixtures
    _media_in_tmp,
    org,
    other_team,
    owner,
    pro,
    staff_browser,
    team,
    team_plan,
)
