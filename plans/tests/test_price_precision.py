"""Tier prices beyond the 6 decimal places a price is stored with are refused (audit item
13: 0.00000125 was stored on the line as 0.000001)."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from invoices.rating import tiers_from_json
from plans.models import PlanCharge, PricingModel, validate_tiers

from .factories import BillableMetricFactory, PlanFactory

pytestmark = pytest.mark.django_db


def tiers_with(price) -> list[dict]:
    return [{"up_to": 1000, "unit_price": "0.5", "flat_fee_cents": 0}, {"up_to": None, "unit_price": price}]


def test_a_tier_price_with_more_than_6_decimals_is_refused_naming_the_tier():
    with pytest.raises(ValidationError) as excinfo:
        validate_tiers(tiers_with("0.00000125"))

    [message] = excinfo.value.message_dict["tiers"]
    assert message.startswith("Tier 2:")
    assert "0.00000125" in message
    assert "6 decimal places" in message


def test_a_json_number_with_more_than_6_decimals_is_refused():
    with pytest.raises(ValidationError, match="6 decimal places"):
        validate_tiers(tiers_with(1.25e-06))


@pytest.mark.parametrize("price", ["0.000001", "0.1000000", "0.0000010", "1E-6", "3", 0.000001])
def test_a_tier_price_with_at_most_6_significant_decimals_is_accepted(price):
    validate_tiers(tiers_with(price))  # does not raise


@pytest.mark.parametrize("pricing_model", [PricingModel.GRADUATED, PricingModel.VOLUME])
def test_a_tiered_charge_with_the_audited_price_does_not_validate(pricing_model):
    charge = PlanCharge(
        plan=PlanFactory(),
        metric=BillableMetricFactory(),
        pricing_model=pricing_model,
        tiers=tiers_with("0.00000125"),
    )
    with pytest.raises(ValidationError) as excinfo:
        charge.full_clean()
    assert "6 decimal places" in excinfo.value.message_dict["tiers"][0]


def test_a_charge_saved_around_validation_cannot_be_rated():
    charge = PlanCharge.objects.create(
        plan=PlanFactory(),
        metric=BillableMetricFactory(),
        pricing_model=PricingModel.GRADUATED,
        tiers=tiers_with("0.00000125"),
    )
    charge.refresh_from_db()

    with pytest.raises(ValueError, match=r"Tier 2: .*6 decimal places"):
        tiers_from_json(charge.tiers)
