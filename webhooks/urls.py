from django.urls import path

from . import stripe_view, views

urlpatterns = [
    path("webhooks/stripe", stripe_view.stripe_webhook, name="webhook-stripe"),
    path("webhooks/<slug:gateway>", views.receive, name="webhook"),
]
