from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import Count
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import ngettext

from . import selectors
from .models import BillableMetric, Plan, PlanCharge
from .services import CHARGE_TERMS, REVISABLE_FIELDS, plan_revise

# What a replaced version no longer lets staff change on its page: its terms are what its
# subscribers are billed on, and it is offered to no one.
REPLACED_READONLY = ["code", "price_cents", "currency", "interval", "is_active", "is_default"]


def _change_url(plan: Plan) -> str:
    return reverse("admin:plans_plan_change", args=[plan.pk])


def subscriptions_text(count: int) -> str:
    return ngettext("%(count)d subscription", "%(count)d subscriptions", count) % {"count": count}


class PlanChargeInline(admin.TabularInline):
    model = PlanCharge
    extra = 0
    autocomplete_fields = ["metric"]
    fields = ["metric", "included_quantity", "policy", "pricing_model", "unit_price", "package_size", "tiers"]

    # A replaced version's charges are what its subscribers are billed on: shown, not edited.
    def has_add_permission(self, request, obj=None):
        return super().has_add_permission(request, obj) and (obj is None or obj.is_current)

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and (obj is None or obj.is_current)

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and (obj is None or obj.is_current)


class PlanAdminForm(forms.ModelForm):
    class Meta:
        model = Plan
        fields = [
            "code",
            "name",
            "description",
            "price_cents",
            "currency",
            "interval",
            "trial_days",
            "features",
            "is_active",
            "is_default",
            "sort_order",
        ]

    def clean_code(self):
        # The database's "unique among current versions" cannot be checked by the model's
        # validation here (replaced_by is not a field of the form), so it is checked here.
        code = self.cleaned_data["code"]
        current = Plan.objects.filter(code=code, replaced_by__isnull=True)
        if self.instance.pk is not None:
            current = current.exclude(pk=self.instance.pk)
        if current.exists():
            raise ValidationError("A current plan with this code already exists.")
        return code


class VersionFilter(admin.SimpleListFilter):
    title = "version"
    parameter_name = "version_state"

    def lookups(self, request, model_admin):
        return [("current", "Current"), ("replaced", "Replaced")]

    def queryset(self, request, queryset):
        if self.value() == "current":
            return queryset.filter(replaced_by__isnull=True)
        if self.value() == "replaced":
            return queryset.filter(replaced_by__isnull=False)
        return queryset


@admin.register(Plan)
class PlanAdmin(admin.ModelAdmin):
    """Plans by version. Editing the terms of a plan with subscribers (price, currency,
    interval, charges) saves a new version through plans.services.plan_revise; the
    subscribers stay on theirs until moved with one of the actions (subscriptions.admin
    adds them)."""

    form = PlanAdminForm
    list_display = [
        "name",
        "code",
        "version",
        "version_state",
        "live_subscription_count",
        "price_cents",
        "currency",
        "interval",
        "trial_days",
        "is_active",
        "is_default",
    ]
    list_filter = [VersionFilter, "is_active", "interval", "currency"]
    search_fields = ["name", "code"]
    # Explicit: the live_subscriptions annotation's GROUP BY drops Meta.ordering.
    ordering = ["sort_order", "code", "-version"]
    readonly_fields = ["id", "version", "replaced_by", "versions_of_code", "created_at", "updated_at"]
    inlines = [PlanChargeInline]

    def get_queryset(self, request):
        queryset = super().get_queryset(request).select_related("replaced_by")
        return selectors.plans_with_live_subscription_counts(queryset)

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        if obj is None:
            return fields
        if not obj.is_current:
            return fields + REPLACED_READONLY
        if obj.has_subscribers() or Plan.objects.filter(code=obj.code).count() > 1:
            fields.append("code")  # the code names every version (and what clients know the plan by)
        return fields

    # --- columns -------------------------------------------------------------------------

    @admin.display(description="State")
    def version_state(self, plan: Plan) -> str:
        if plan.is_current:
            return "current"
        return format_html(
            'replaced by <a href="{}">version {}</a>', _change_url(plan.replaced_by), plan.replaced_by.version
        )

    @admin.display(description="Live subscriptions", ordering="live_subscriptions")
    def live_subscription_count(self, plan: Plan) -> int:
        return plan.live_subscriptions

    @admin.display(description="Versions of this code")
    def versions_of_code(self, plan: Plan) -> str:
        if plan.pk is None:
            return "-"
        rows = format_html_join(
            "",
            '<tr><td><a href="{}">version {}</a></td><td>{}</td><td>{} {} / {}</td><td>{}</td></tr>',
            (
                (
                    _change_url(version),
                    version.version,
                    "current" if version.is_current else "replaced",
                    version.price_cents,
                    version.currency,
                    version.interval,
                    subscriptions_text(version.live_subscriptions),
                )
                for version in selectors.plan_versions(code=plan.code)
            ),
        )
        return format_html(
            "<table><thead><tr><th>Version</th><th>State</th><th>Base fee</th><th>Live subscriptions</th></tr>"
            "</thead><tbody>{}</tbody></table>",
            rows,
        )

    # --- saving: a change goes through plan_revise ----------------------------------------

    def save_model(self, request, obj, form, change):
        if not change:
            super().save_model(request, obj, form, change)
        # A change is saved with its charges in save_related, in one plan_revise call.

    def save_related(self, request, form, formsets, change):
        if not change:
            return super().save_related(request, form, formsets, change)
        changes = {name: form.cleaned_data[name] for name in form.changed_data if name in REVISABLE_FIELDS}
        charges = None
        for formset in formsets:
            if formset.model is PlanCharge and formset.has_changed():
                charges = self._charges_of(formset)
            self._record_formset_changes(formset)
        stored = Plan.objects.get(pk=form.instance.pk)
        revised = plan_revise(plan=stored, changes=changes, charges=charges, actor=request.user)
        if revised.pk != stored.pk:
            request._plan_revision = (stored, revised)
            self.log_addition(
                request, revised, [{"added": {"name": f"version {revised.version}", "object": str(stored)}}]
            )

    @staticmethod
    def _kept_forms(formset):
        deleted = set(map(id, formset.deleted_forms))
        return [
            form
            for form in formset.forms
            if id(form) not in deleted and (form.instance.pk is not None or form.has_changed())
        ]

    def _charges_of(self, formset) -> list[dict]:
        """The whole list of charges the formset leaves the plan with."""
        return [
            {"metric": form.cleaned_data["metric"], **{name: form.cleaned_data[name] for name in CHARGE_TERMS}}
            for form in self._kept_forms(formset)
        ]

    def _record_formset_changes(self, formset) -> None:
        """What formset.save() would have noted, for the admin's change message (the charges
        themselves are saved by plan_revise)."""
        kept = self._kept_forms(formset)
        formset.new_objects = [form.instance for form in kept if form.instance.pk is None]
        formset.changed_objects = [
            (form.instance, form.changed_data) for form in kept if form.instance.pk is not None and form.has_changed()
        ]
        formset.deleted_objects = [form.instance for form in formset.deleted_forms if form.instance.pk is not None]

    def response_change(self, request, obj):
        revision = getattr(request, "_plan_revision", None)
        if revision is None:
            return super().response_change(request, obj)
        old, new = revision
        staying = selectors.plans_with_live_subscription_counts(Plan.objects.filter(pk=old.pk)).get()
        self.message_user(
            request,
            f"Saved as version {new.version}; "
            + ngettext(
                "%(count)d subscription stays on version %(version)d until moved.",
                "%(count)d subscriptions stay on version %(version)d until moved.",
                staying.live_subscriptions,
            )
            % {"count": staying.live_subscriptions, "version": old.version},
            messages.WARNING,
        )
        return super().response_change(request, new)


class MetricChargeFormSet(forms.BaseInlineFormSet):
    """Charges listed on a metric's page. Those of a plan with subscribers are frozen:
    they change on the plan's page, where the edit becomes a new version of the plan."""

    def clean(self):
        super().clean()
        deleted = set(map(id, self.deleted_forms))
        for form in self.forms:
            if id(form) not in deleted and not form.has_changed():
                continue
            chosen = getattr(form, "cleaned_data", {}).get("plan")
            plan_ids = {form.initial.get("plan"), chosen.pk if chosen else None} - {None}
            for plan in Plan.objects.filter(pk__in=plan_ids):
                if plan.has_subscribers():
                    raise ValidationError(
                        f"{plan} has subscribers: change its charges on the plan's page, "
                        "where the edit is saved as a new version."
                    )


class MetricChargeInline(admin.TabularInline):
    model = PlanCharge
    formset = MetricChargeFormSet
    fk_name = "metric"
    extra = 0
    fields = ["plan", "included_quantity", "policy", "pricing_model", "unit_price", "package_size", "tiers"]


@admin.register(BillableMetric)
class BillableMetricAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "unit", "aggregation", "event_type_list", "plan_count", "is_active"]
    list_filter = ["aggregation", "is_active"]
    search_fields = ["code", "name"]
    # Explicit: the plan_count annotation's GROUP BY drops Meta.ordering, which left the
    # autocomplete of the charge inline paginating an unordered queryset.
    ordering = ["code"]
    readonly_fields = ["id", "created_at"]
    inlines = [MetricChargeInline]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(plan_count=Count("charges"))

    @admin.display(description="Event types")
    def event_type_list(self, metric) -> str:
        return ", ".join(metric.event_types)

    @admin.display(description="Plans", ordering="plan_count")
    def plan_count(self, metric) -> int:
        return metric.plan_count
