from datetime import timedelta

from django import forms
from django.contrib import admin, messages
from django.db import transaction
from django.shortcuts import render

from billing_project.errors import DomainError

from .models import Status, Subscription, SubscriptionEvent
from .services import subscription_event_record


class ExtendTrialForm(forms.Form):
    days = forms.IntegerField(min_value=1, max_value=365)


class SubscriptionEventInline(admin.TabularInline):
    model = SubscriptionEvent
    extra = 0
    can_delete = False
    fields = ["created_at", "event", "from_status", "to_status", "reason", "actor", "data"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Subscription)
class SubscriptionAdmin(admin.ModelAdmin):
    list_display = [
        "organization",
        "plan",
        "status",
        "current_period_start",
        "current_period_end",
        "cancel_at_period_end",
        "trial_end",
    ]
    list_filter = ["status", "plan", "cancel_at_period_end"]
    search_fields = ["organization__name", "organization__slug", "id"]
    list_select_related = ["organization", "plan"]
    readonly_fields = [
        "id",
        "organization",
        "status",
        "billing_anchor",
        "current_period_start",
        "current_period_end",
        "canceled_at",
        "ended_at",
        "created_at",
        "updated_at",
    ]
    fields = [
        "id",
        "organization",
        "plan",
        "status",
        "billing_anchor",
        "current_period_start",
        "current_period_end",
        "trial_end",
        "cancel_at_period_end",
        "cancel_reason",
        "canceled_at",
        "ended_at",
        "scheduled_plan",
        "gateway",
        "payment_method",
        "created_at",
        "updated_at",
    ]
    inlines = [SubscriptionEventInline]
    # billing.admin adds "cancel" and "change_plan_without_charge" (they invoice and credit).
    actions = ["extend_trial"]

    def has_add_permission(self, request):
        return False  # subscriptions start at checkout

    def has_delete_permission(self, request, obj=None):
        return False

    def _form_action(self, request, queryset, form_class, action: str, title: str, apply):
        if "apply" in request.POST:
            form = form_class(request.POST)
            if form.is_valid():
                done = 0
                for subscription in queryset:
                    try:
                        apply(subscription, form.cleaned_data)
                        done += 1
                    except DomainError as exc:
                        self.message_user(request, f"{subscription}: {exc.message}", messages.ERROR)
                if done:
                    self.message_user(request, f"{title}: {done} subscription(s).", messages.SUCCESS)
                return None
        else:
            form = form_class()
        return render(
            request,
            "admin/subscriptions/action_form.html",
            {
                "form": form,
                "objects": queryset,
                "action": action,
                "title": title,
                **self.admin_site.each_context(request),
            },
        )

    @admin.action(description="Extend the trial")
    def extend_trial(self, request, queryset):
        def extend(subscription, data):
            with transaction.atomic():
                locked = Subscription.objects.select_for_update().get(pk=subscription.pk)
                if locked.status != Status.TRIALING:
                    raise DomainError("Only a trialing subscription has a trial to extend.")
                delta = timedelta(days=data["days"])
                locked.trial_end += delta
                locked.current_period_end += delta
                locked.billing_anchor += delta
                locked.save(update_fields=["trial_end", "current_period_end", "billing_anchor", "updated_at"])
                subscription_event_record(
                    subscription=locked, event="trial_extended", actor=request.user, data={"days": data["days"]}
                )

        return self._form_action(request, queryset, ExtendTrialForm, "extend_trial", "Trial extended", extend)
