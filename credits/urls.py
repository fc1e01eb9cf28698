from django.urls import path
from rest_framework.routers import SimpleRouter

from . import views

# credits/balance (credits-balance) and credits/transactions (credits-transactions): the
# organization's credit; credits/spend is the API-key service endpoint (lean dispatch).
router = SimpleRouter(trailing_slash=False, use_regex_path=False)
router.register("credits", views.CreditViewSet, basename="credits")

urlpatterns = [
    *router.urls,
    path("credits/spend", views.CreditSpendView.as_view(), name="credits-spend"),
]
