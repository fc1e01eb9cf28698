from django.urls import path

from . import views

urlpatterns = [
    path("subscriptions", views.SubscriptionView.as_view(), name="subscription"),
]
