"""Property: whatever sequence of grants, purchases, spends, refunds, invoice applications,
adjustments and expiries happens, the cached balance, the ledger and the lots agree with
each other and with a plain model of FIFO lots, and the balance never goes negative."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test

from accounts.tests.factories import OrganizationFactory
from billing_project.errors import InsufficientCredits
from credits import services
from credits.models import CreditBalance, CreditLedgerEntry, CreditLot

from .conftest import new_invoice

pytestmark = pytest.mark.django_db

EPOCH = datetime(2040, 1, 1, tzinfo=UTC)
amounts = st.integers(1, 5_000)
keys = st.sampled_from([f"key-{i}" for i in range(6)])


@dataclass
class ModelLot:
    expires_at: datetime | None
    order: int  # the sequence of the entry that opened it
    remaining: int


class CreditLedgerMachine(RuleBasedStateMachine):
    """One fresh organization per run; a model of its lots predicts every outcome."""

    @initialize()
    def start(self):
        self.org = OrganizationFactory(currency="USD")
        self.now = EPOCH
        self.lots: list[ModelLot] = []
        self.entries = 0
        self.used_keys: dict[str, tuple[str, int]] = {}  # key -> (kind, signed amount)

    # --- the model ---

    @property
    def balance(self) -> int:
        return sum(lot.remaining for lot in self.lots)

    def _credit(self, amount: int, expires_at: datetime | None = None) -> None:
        self.entries += 1
        self.lots.append(ModelLot(expires_at, self.entries, amount))

    def _debit(self, amount: int) -> None:
        self.entries += 1
        spending_order = sorted(
            (lot for lot in self.lots if lot.remaining),
            key=lambda lot: (lot.expires_at is None, lot.expires_at or EPOCH, lot.order),
        )
        for lot in spending_order:
            taken = min(lot.remaining, amount)
            lot.remaining -= taken
            amount -= taken
        assert amount == 0

    # --- rules ---

    @rule(amount=amounts, expires_in_days=st.none() | st.integers(0, 20))
    def grant(self, amount, expires_in_days):
        expires_at = None if expires_in_days is None else self.now + timedelta(days=expires_in_days)
        services.credits_grant(organization=self.org, amount_cents=amount, reason="grant", expires_at=expires_at)
        self._credit(amount, expires_at)

    @rule(amount=amounts, key=st.none() | keys)
    def purchase(self, amount, key):
        previous = self.used_keys.get(key) if key else None
        if previous is not None and previous != ("purchase", amount):
            with pytest.raises(services.IdempotencyKeyReused):
                services.credits_purchase(
                    organization=self.org, amount_cents=amount, reference=f"ref-{key}", idempotency_key=key
                )
            return
        entry = services.credits_purchase(
            organization=self.org, amount_cents=amount, reference=f"ref-{key}", idempotency_key=key
        )
        assert entry.amount_cents == amount
        if previous is None:
            self._credit(amount)
            if key:
                self.used_keys[key] = ("purchase", amount)

    @rule(amount=amounts, key=keys)
    def spend(self, amount, key):
        previous = self.used_keys.get(key)
        call = {"organization": self.org, "amount_cents": amount, "reference": f"ref-{key}", "idempotency_key": key}
        if previous is not None and previous != ("spend", amount):
            with pytest.raises(services.IdempotencyKeyReused):
                services.credits_spend(**call)
        elif previous is not None:
            result = services.credits_spend(**call)
            assert result.duplicate is True
        elif amount > self.balance:
            with pytest.raises(InsufficientCredits):
                services.credits_spend(**call)
        else:
            result = services.credits_spend(**call)
            self._debit(amount)
            self.used_keys[key] = ("spend", amount)
            assert (result.duplicate, result.balance_cents) == (False, self.balance)

    @rule(amount=amounts)
    def refund(self, amount):
        services.credits_refund(organization=self.org, amount_cents=amount, reference="refund")
        self._credit(amount)

    @rule(max_amount=st.integers(0, 8_000))
    def apply_to_invoice(self, max_amount):
        invoice = new_invoice(self.org)
        applied = services.credits_apply_to_invoice(
            organization=self.org, invoice=invoice, max_amount_cents=max_amount, reference="finalize"
        )
        assert applied == min(self.balance, max_amount)
        if applied:
            self._debit(applied)

    @rule(amount=st.integers(-5_000, 5_000).filter(bool))
    def adjust(self, amount):
        if amount < 0 and -amount > self.balance:
            with pytest.raises(InsufficientCredits):
                services.credits_adjust(organization=self.org, amount_cents=amount, reason="fix")
            return
        services.credits_adjust(organization=self.org, amount_cents=amount, reason="fix")
        if amount > 0:
            self._credit(amount)
        else:
            self._debit(-amount)

    @rule(days=st.integers(0, 10))
    def expire(self, days):
        self.now += timedelta(days=days)
        services.credits_expire_due(now=self.now)
        for lot in self.lots:
            if lot.expires_at is not None and lot.expires_at <= self.now and lot.remaining:
                lot.remaining = 0
                self.entries += 1

    # --- what must always hold ---

    @invariant()
    def ledger_balance_and_lots_agree(self):
        if not hasattr(self, "org"):
            return
        entries = list(CreditLedgerEntry.objects.filter(organization=self.org).order_by("sequence"))
        cached = CreditBalance.objects.filter(pk=self.org.pk).values_list("balance_cents", flat=True).first() or 0
        lots = CreditLot.objects.filter(organization=self.org).select_related("source_entry")

        assert cached == sum(entry.amount_cents for entry in entries) == self.balance
        assert cached >= 0
        assert entries[-1].balance_after_cents == cached if entries else cached == 0
        assert [entry.sequence for entry in entries] == list(range(1, self.entries + 1))
        assert sum(lot.remaining_cents for lot in lots) == cached
        assert {lot.source_entry.sequence: lot.remaining_cents for lot in lots} == {
            lot.order: lot.remaining for lot in self.lots
        }


def test_credit_ledger_state_machine():
    run_state_machine_as_test(
        CreditLedgerMachine,
        settings=settings(
            max_examples=40,
            stateful_step_count=25,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
        ),
    )
