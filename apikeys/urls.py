from rest_framework.routers import SimpleRouter

from . import views

# Paths without a trailing slash and with uuid converters, as API.md has them:
# api-keys (apikey-list), api-keys/<uuid:key_id> (apikey-detail), .../rotate (apikey-rotate).
router = SimpleRouter(trailing_slash=False, use_regex_path=False)
router.register("api-keys", views.APIKeyViewSet, basename="apikey")

urlpatterns = router.urls
