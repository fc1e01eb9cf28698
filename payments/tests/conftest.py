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

from .fake_midtrans import fake_midtrans  # noqa: F401 - the fake Midtrans API fixture
from .fake_stripe import fake_stripe  # noqa: F401 - the fake Stripe API fixture
from .fake_xendit import fake_xendit  # noqa: F401 - the fake Xendit API fixture
