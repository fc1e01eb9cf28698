from django.urls import path
from rest_framework.routers import SimpleRouter

from . import views

# plans (plan-list) and plans/<uuid:plan_id> (plan-detail), without trailing slashes.
router = SimpleRouter(trailing_slash=False, use_regex_path=False)
router.register("plans", views.PlanViewSet, basename="plan")

urlpatterns = [
    *router.urls,
    path("entitlements", views.EntitlementViewSet.as_view({"get": "retrieve"}), name="entitlements"),
]
