from django.urls import path

from . import views

urlpatterns = [
    path("webhooks/<slug:gateway>", views.receive, name="webhook"),
]
