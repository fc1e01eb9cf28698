from django.urls import path

from . import views

urlpatterns = [
    path("api-keys", views.APIKeyListCreateView.as_view(), name="apikey-list"),
    path("api-keys/<uuid:key_id>", views.APIKeyDetailView.as_view(), name="apikey-detail"),
    path("api-keys/<uuid:key_id>/rotate", views.APIKeyRotateView.as_view(), name="apikey-rotate"),
]
