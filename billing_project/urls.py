from csp.constants import SELF
from csp.decorators import csp_replace
from django.contrib import admin
from django.urls import include, path
from django_prometheus.exports import ExportToDjangoView
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView
from rest_framework.permissions import AllowAny

from billing import pages
from billing_project import health
from webhooks import sandbox_page

api_v1 = [
    path("", include("usage.urls")),  # first: the service hot paths resolve with the fewest tries
    path("", include("accounts.urls")),
    path("", include("billing.urls")),  # the use cases that span apps: sign-up, checkout, plan changes
    path("", include("organizations.urls")),
    path("", include("plans.urls")),
    path("", include("apikeys.urls")),
    path("", include("subscriptions.urls")),
    path("", include("invoices.urls")),
    path("", include("credits.urls")),
]

# The schema and its viewers are public: no Authorization header (a JWT, an API key,
# garbage) is read, so none can turn them into a 401.
PUBLIC_DOCS = {"authentication_classes": [], "permission_classes": [AllowAny]}

urlpatterns = [
    path("api/v1/", include(api_v1)),
    path("api/schema/", SpectacularAPIView.as_view(**PUBLIC_DOCS), name="schema"),
    path(
        "api/docs/",
        SpectacularSwaggerView.as_view(url_name="schema", template_name="billing/api_docs_swagger.html", **PUBLIC_DOCS),
        name="swagger-ui",
    ),
    path(
        "api/redoc/",
        # ReDoc writes <style> elements at run time and renders in a blob: worker.
        csp_replace({"style-src": [SELF, "'unsafe-inline'"], "worker-src": [SELF, "blob:"]})(
            SpectacularRedocView.as_view(url_name="schema", template_name="billing/api_docs_redoc.html", **PUBLIC_DOCS)
        ),
        name="redoc",
    ),
    path("health", health.HealthCheckView.as_view(), name="health"),
    path("health/detailed", health.HealthDetailView.as_view(), name="health-detailed"),
    path("ready", health.ReadyView.as_view(), name="ready"),
    path("live", health.LiveView.as_view(), name="live"),
    path("metrics", health.ops_only(ExportToDjangoView), name="metrics"),
    path("admin/", admin.site.urls),
    path("", include("webhooks.urls")),
    path("", include("web.urls")),  # the customer site: /, /login, /account/...
    path("sandbox/checkout/<slug:reference>", sandbox_page.sandbox_checkout, name="sandbox-checkout"),
    path("billing/portal/<str:token>", pages.billing_portal, name="billing-portal-page"),
    path(
        "billing/portal/<str:token>/invoices/<uuid:invoice_id>.pdf",
        pages.billing_portal_invoice_pdf,
        name="billing-portal-invoice-pdf",
    ),
]

admin.site.site_header = "Billing administration"
admin.site.site_title = "Billing admin"
