from django.urls import path

from . import views

urlpatterns = [
    path("credits/balance", views.CreditBalanceView.as_view(), name="credits-balance"),
    path("credits/transactions", views.CreditTransactionsView.as_view(), name="credits-transactions"),
    path("credits/spend", views.CreditSpendView.as_view(), name="credits-spend"),
]
