"""What subscriptions tells the apps above it, without knowing them."""

from django.dispatch import Signal

# An organization's plan, entitlements, quota periods or live subscription changed (sent
# with `organization_ids`): whatever caches them drops its entry (usage.context).
billing_context_changed = Signal()
