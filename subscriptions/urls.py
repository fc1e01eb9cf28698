from django.urls import path

from . import views

# One subscription per organization, the current one: no id in the path.
urlpatterns = [
    path("subscriptions", views.SubscriptionViewSet.as_view({"get": "retrieve"}), name="subscription"),
]
