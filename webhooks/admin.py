from django.contrib import admin, messages

from .models import InboundEvent, Outcome
from .services import EventProcessingFailed, event_process


@admin.register(InboundEvent)
class InboundEventAdmin(admin.ModelAdmin):
    list_display = ["received_at", "gateway", "event_type", "event_id", "outcome", "attempts", "processed_at"]
    list_filter = ["gateway", "outcome", "event_type"]
    search_fields = ["event_id", "event_type"]
    actions = ["reprocess"]

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in InboundEvent._meta.fields]

    def has_add_permission(self, request):
        return False

    @admin.action(description="Process the selected failed events again")
    def reprocess(self, request, queryset):
        done = failed = 0
        for inbound in queryset.filter(outcome__in=[Outcome.FAILED, Outcome.PENDING]):
            try:
                event_process(inbound=inbound)
                done += 1
            except EventProcessingFailed as exc:
                failed += 1
                self.message_user(request, f"{inbound}: {exc}", messages.ERROR)
        self.message_user(request, f"Processed {done} event(s); {failed} failed again.", messages.INFO)
