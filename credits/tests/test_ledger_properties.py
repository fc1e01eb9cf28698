"""Property: whatever sequence of grants, purchases, spends, refunds, invoice applications,
returns from invoices, adjustments, expiry jobs and passing time happens, the cached
balance, the ledger and the lots agree with each other and with a plain model of FIFO
lots, the balance never goes negative, no lot is used past its expiry and credit given
back from an invoice goes to the lots it came from and never outlives their expiry."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db.models import F, Sum
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test

from billing_project.errors import InsufficientCredits
from credits import services
from credits.models import CreditBalance, CreditLedgerEntry, CreditLot, CreditLotUse, EntryKind
from credits.selectors import balance_of
from organizations.tests.factories import OrganizationFactory

from .helpers import new_invoice

pytestmark = pytest.mark.django_db

EPOCH = datetime(2040, 1, 1, tzinfo=UTC)
amounts = st.integers(1, 5_000)
keys = st.sampled_from([f"key-{i}" for i in range(6)])


@dataclass(eq=False)
class ModelLot:
    expires_at: datetime | None
    order: int  # the sequence of the entry that opened it
    remaining: int


@dataclass
class ModelApplication:
    invoice: object
    taken: list[tuple[ModelLot, int]]  # in the order the application took them
    returned: dict  # ModelLot -> given back so far

    @property
    def left(self) -> int:
        return sum(amount for _, amount in self.taken) - sum(self.returned.values())


# Entries that take credit for a use (not expiries).
DEBIT_KINDS = (EntryKind.SPEND, EntryKind.INVOICE_APPLICATION, EntryKind.ADJUSTMENT)


class CreditLedgerMachine(RuleBasedStateMachine):
    """One fresh organization per run; a model of its lots predicts every outcome."""

    @initialize()
    def start(self):
        self.org = OrganizationFactory(currency="USD")
        self.now = EPOCH
        self.lots: list[ModelLot] = []
        self.entries = 0
        self.used_keys: dict[str, tuple[str, int]] = {}  # key -> (kind, signed amount)
        self.applications: list[ModelApplication] = []

    def at_now(self):
        """Services stamp entries and expire lots by the current time: the machine's clock."""
        return time_machine.travel(self.now, tick=False)

    # --- the model ---

    @property
    def balance(self) -> int:
        return sum(lot.remaining for lot in self.lots)

    def _past_expiry(self) -> list[ModelLot]:
        return [lot for lot in self.lots if lot.remaining and lot.expires_at is not None and lot.expires_at <= self.now]

    @property
    def available(self) -> int:
        return self.balance - sum(lot.remaining for lot in self._past_expiry())

    def _expire(self) -> None:
        """What every debit (and return) does first, and the job: one entry per lot past due."""
        for lot in self._past_expiry():
            lot.remaining = 0
            self.entries += 1

    def _credit(self, amount: int, expires_at: datetime | None = None) -> None:
        self.entries += 1
        self.lots.append(ModelLot(expires_at, self.entries, amount))

    def _debit(self, amount: int) -> list[tuple[ModelLot, int]]:
        self.entries += 1
        spending_order = sorted(
            (lot for lot in self.lots if lot.remaining),
            key=lambda lot: (lot.expires_at is None, lot.expires_at or EPOCH, lot.order),
        )
        taken_from = []
        for lot in spending_order:
            taken = min(lot.remaining, amount)
            if taken:
                assert lot.expires_at is None or lot.expires_at > self.now
                lot.remaining -= taken
                taken_from.append((lot, taken))
            amount -= taken
        assert amount == 0
        return taken_from

    # --- rules ---

    @rule(amount=amounts, expires_in_days=st.none() | st.integers(0, 20))
    def grant(self, amount, expires_in_days):
        expires_at = None if expires_in_days is None else self.now + timedelta(days=expires_in_days)
        with self.at_now():
            services.credits_grant(organization=self.org, amount_cents=amount, reason="grant", expires_at=expires_at)
        self._credit(amount, expires_at)

    @rule(amount=amounts, key=st.none() | keys)
    def purchase(self, amount, key):
        previous = self.used_keys.get(key) if key else None
        call = {"organization": self.org, "amount_cents": amount, "reference": f"ref-{key}", "idempotency_key": key}
        if previous is not None and previous != ("purchase", amount):
            with pytest.raises(services.IdempotencyKeyReused), self.at_now():
                services.credits_purchase(**call)
            return
        with self.at_now():
            entry = services.credits_purchase(**call)
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
            with pytest.raises(services.IdempotencyKeyReused), self.at_now():
                services.credits_spend(**call)
        elif previous is not None:
            with self.at_now():
                result = services.credits_spend(**call)
            assert result.duplicate is True
        elif amount > self.available:
            with pytest.raises(InsufficientCredits), self.at_now():
                services.credits_spend(**call)  # the expiry it began with is rolled back too
        else:
            with self.at_now():
                result = services.credits_spend(**call)
            self._expire()
            self._debit(amount)
            self.used_keys[key] = ("spend", amount)
            assert (result.duplicate, result.balance_cents) == (False, self.balance)

    @rule(amount=amounts)
    def refund(self, amount):
        with self.at_now():
            services.credits_refund(organization=self.org, amount_cents=amount, reference="refund")
        self._credit(amount)

    @rule(max_amount=st.integers(0, 8_000))
    def apply_to_invoice(self, max_amount):
        invoice = new_invoice(self.org)
        with self.at_now():
            applied = services.credits_apply_to_invoice(
                organization=self.org, invoice=invoice, max_amount_cents=max_amount, reference="finalize"
            )
        self._expire()
        assert applied == min(self.balance, max_amount)
        if applied:
            self.applications.append(ModelApplication(invoice, self._debit(applied), {}))

    @rule(pick=st.integers(0, 1_000), amount=st.integers(1, 8_000))
    def give_back(self, pick, amount):
        """A void or a credit note returns part of the credit an earlier invoice used."""
        if not self.applications:
            return
        application = self.applications[pick % len(self.applications)]
        left = application.left
        with self.at_now():
            entry = services.credits_return(
                organization=self.org, invoice=application.invoice, amount_cents=amount, reference="cn"
            )
        if not left:
            assert entry is None
            return
        assert entry.amount_cents == min(amount, left)
        self.entries += 1
        to_give = entry.amount_cents
        for lot, taken in reversed(application.taken):  # most recently taken first
            given = min(taken - application.returned.get(lot, 0), to_give)
            lot.remaining += given
            application.returned[lot] = application.returned.get(lot, 0) + given
            to_give -= given
        assert to_give == 0
        self._expire()

    @rule(amount=st.integers(-5_000, 5_000).filter(bool))
    def adjust(self, amount):
        if amount < 0 and -amount > self.available:
            with pytest.raises(InsufficientCredits), self.at_now():
                services.credits_adjust(organization=self.org, amount_cents=amount, reason="fix")
            return
        with self.at_now():
            services.credits_adjust(organization=self.org, amount_cents=amount, reason="fix")
        if amount > 0:
            self._credit(amount)
        else:
            self._expire()
            self._debit(-amount)

    @rule(hours=st.integers(0, 10 * 24))
    def time_passes(self, hours):
        """Time goes on; the hourly job may not have run yet."""
        self.now += timedelta(hours=hours)

    @rule()
    def expiry_job(self):
        with self.at_now():
            services.credits_expire_due(now=self.now)
        self._expire()

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
        assert balance_of(organization=self.org, now=self.now)[0] == self.available

    @invariant()
    def lot_uses_account_for_every_movement(self):
        if not hasattr(self, "org"):
            return
        lots = CreditLot.objects.filter(organization=self.org).annotate(used=Sum("uses__amount_cents"))
        for lot in lots:
            assert lot.remaining_cents == lot.amount_cents + (lot.used or 0)
        opened = dict(CreditLot.objects.filter(organization=self.org).values_list("source_entry_id", "amount_cents"))
        entries = CreditLedgerEntry.objects.filter(organization=self.org).annotate(used=Sum("lot_uses__amount_cents"))
        for entry in entries:
            assert entry.amount_cents == (entry.used or 0) + opened.get(entry.pk, 0)

    @invariant()
    def no_lot_is_used_past_its_expiry(self):
        if not hasattr(self, "org"):
            return
        uses = CreditLotUse.objects.filter(
            lot__organization=self.org, amount_cents__lt=0, entry__kind__in=DEBIT_KINDS, lot__expires_at__isnull=False
        ).values_list("entry__created_at", "lot__expires_at")
        for used_at, expires_at in uses:
            assert used_at < expires_at

    @invariant()
    def returned_credit_goes_back_where_it_came_from_and_never_outlives_it(self):
        if not hasattr(self, "org"):
            return
        for application in self.applications:
            taken = dict(
                CreditLotUse.objects.filter(
                    entry__invoice=application.invoice, entry__kind=EntryKind.INVOICE_APPLICATION
                ).values_list("lot_id", "amount_cents")
            )
            given = dict(
                CreditLotUse.objects.filter(entry__invoice=application.invoice, entry__kind=EntryKind.RETURN)
                .values("lot_id")
                .annotate(total=Sum("amount_cents"))
                .values_list("lot_id", "total")
            )
            assert set(given) <= set(taken)
            assert all(given[lot_id] <= -taken[lot_id] for lot_id in given)
        # What came back to a lot at or after its expiry was expired at once: such a lot
        # holds nothing (debits after that never refill it; only a return would).
        late_returns = CreditLotUse.objects.filter(
            lot__organization=self.org,
            entry__kind=EntryKind.RETURN,
            lot__expires_at__isnull=False,
            entry__created_at__gte=F("lot__expires_at"),
        ).values_list("lot_id", flat=True)
        assert not CreditLot.objects.filter(pk__in=late_returns, remaining_cents__gt=0).exists()


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
