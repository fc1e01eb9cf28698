from django.contrib import admin, messages
from django.utils import timezone

from .authentication import forget_cached_key
from .models import APIKey


@admin.register(APIKey)
class APIKeyAdmin(admin.ModelAdmin):
    list_display = ["name", "organization", "prefix", "mode", "status", "created_at", "last_used_at", "expires_at"]
    list_filter = ["mode", "created_at", "revoked_at"]
    search_fields = ["name", "prefix", "organization__name", "organization__slug"]
    readonly_fields = [
        "id",
        "organization",
        "prefix",
        "key_hash",
        "mode",
        "created_by",
        "created_at",
        "last_used_at",
        "rotated_at",
        "revoked_at",
    ]
    fields = ["id", "organization", "name", "prefix", "mode", "scopes", "expires_at", *readonly_fields[6:]]
    actions = ["revoke"]

    def has_add_permission(self, request):
        return False  # secrets are issued through the API, where the owner sees them once

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        forget_cached_key(obj.key_hash)

    @admin.action(description="Revoke the selected keys")
    def revoke(self, request, queryset):
        keys = list(queryset.filter(revoked_at__isnull=True))
        queryset.filter(pk__in=[key.pk for key in keys]).update(revoked_at=timezone.now())
        for key in keys:
            forget_cached_key(key.key_hash)
        self.message_user(request, f"Revoked {len(keys)} key(s).", messages.SUCCESS)
