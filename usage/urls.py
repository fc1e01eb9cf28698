from django.urls import path

from . import views

urlpatterns = [
    path("usage", views.UsageView.as_view(), name="usage"),
    path("usage/history", views.UsageHistoryView.as_view(), name="usage-history"),
    path("usage/limits", views.UsageLimitsView.as_view(), name="usage-limits"),
    path("usage/report", views.UsageReportView.as_view(), name="usage-report"),
    path("usage/batch-report", views.UsageBatchReportView.as_view(), name="usage-batch-report"),
    path("usage/quota-check", views.QuotaCheckView.as_view(), name="usage-quota-check"),
]
