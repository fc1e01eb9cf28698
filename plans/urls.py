from django.urls import path

from . import views

urlpatterns = [
    path("plans", views.PlanListView.as_view(), name="plan-list"),
    path("plans/<uuid:plan_id>", views.PlanDetailView.as_view(), name="plan-detail"),
    path("entitlements", views.EntitlementsView.as_view(), name="entitlements"),
]
