from django.urls import path

from . import views

urlpatterns = [
    path("usage", views.UsageViewSet.as_view({"get": "overview"}), name="usage"),
    path("usage/history", views.UsageViewSet.as_view({"get": "history"}), name="usage-history"),
    path("usage/limits", views.UsageViewSet.as_view({"get": "limits"}), name="usage-limits"),
    path("usage/report", views.UsageReportView.as_view(), name="usage-report"),
    path("usage/batch-report", views.UsageBatchReportView.as_view(), name="usage-batch-report"),
    path("usage/quota-check", views.QuotaCheckView.as_view(), name="usage-quota-check"),
]
