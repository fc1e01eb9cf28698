from django.apps import AppConfig


class PlansConfig(AppConfig):
    name = "plans"
    verbose_name = "Plans"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from django.db.models.signals import post_delete, post_save

        from .catalogue import invalidate
        from .models import BillableMetric, Plan, PlanCharge

        for model in (Plan, PlanCharge, BillableMetric):
            post_save.connect(invalidate, sender=model, dispatch_uid=f"catalogue-save-{model.__name__}")
            post_delete.connect(invalidate, sender=model, dispatch_uid=f"catalogue-delete-{model.__name__}")
