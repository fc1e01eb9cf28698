from django.apps import AppConfig


class WebConfig(AppConfig):
    """The customer billing site: server-rendered pages on the same services as the API."""

    name = "web"
    verbose_name = "Customer site"
