from django.contrib import admin
from django.db.models import Count

from accounts.admin import UserAdmin as AccountsUserAdmin
from accounts.models import User

from .models import Invitation, Membership, Organization


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]
    fields = ["user", "role", "created_at"]
    readonly_fields = ["created_at"]


class InvitationInline(admin.TabularInline):
    model = Invitation
    extra = 0
    fields = ["email", "role", "invited_by", "created_at", "expires_at", "accepted_at", "revoked_at"]
    readonly_fields = fields
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False


# credits.admin registers a subclass of this one in its place, adding the credit balance
# and the "Grant credits" action (credits is above organizations).
@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "billing_email", "country", "currency", "is_personal", "member_count", "created_at"]
    list_filter = ["is_personal", "currency", "country", "created_at"]
    search_fields = ["name", "slug", "billing_email", "id", "memberships__user__email"]
    readonly_fields = ["id", "created_at", "updated_at"]
    inlines = [MembershipInline, InvitationInline]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(member_count=Count("memberships", distinct=True))

    @admin.display(ordering="member_count", description="Members")
    def member_count(self, organization) -> int:
        return organization.member_count


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin):
    list_display = ["email", "organization", "role", "status", "created_at", "expires_at"]
    list_filter = ["role", "created_at"]
    search_fields = ["email", "organization__name", "organization__slug"]
    readonly_fields = [field.name for field in Invitation._meta.fields]

    def has_add_permission(self, request):
        return False


# --- on the user admin ----------------------------------------------------------------------


class UserMembershipInline(admin.TabularInline):
    model = Membership
    fk_name = "user"
    extra = 0
    autocomplete_fields = ["organization"]
    fields = ["organization", "role", "created_at"]
    readonly_fields = ["created_at"]


# In place of accounts' user admin (accounts is below organizations and cannot name Membership).
admin.site.unregister(User)


@admin.register(User)
class UserAdmin(AccountsUserAdmin):
    """accounts' user admin, with the user's memberships inline."""

    inlines = [*AccountsUserAdmin.inlines, UserMembershipInline]
