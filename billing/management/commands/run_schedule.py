from django.conf import settings
from django.core.management.base import BaseCommand

from billing_project.celery import app


class Command(BaseCommand):
    help = (
        "Run the periodic tasks of the database schedule (django-celery-beat: the billing cycle with renewals "
        "and dunning, credit expiry, counter reconciliation, key purges; editable in the admin under Periodic "
        "tasks) until stopped. Without a broker (CELERY_TASK_ALWAYS_EAGER, the embedded default) this is Celery "
        "beat with each due task run inline in this process; with one, a worker with an embedded beat. `make run` "
        "starts it beside the server."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--max-interval",
            type=float,
            default=None,
            help="Longest sleep between two looks at the schedule, in seconds (default 5; without a broker only).",
        )
        parser.add_argument("--loglevel", default="INFO", help="Celery's log level (default INFO).")

    def handle(self, *args, **options):
        if settings.CELERY_TASK_ALWAYS_EAGER:
            # Beat hands a due task to Task.apply_async, which under task_always_eager runs it
            # at once in this process (Task.apply) instead of sending it to a broker. Ctrl-C
            # or SIGTERM stops it after the task at hand, keeping the schedule's state.
            self.stdout.write(
                "Periodic tasks: due tasks of the database schedule run inline here (no broker, no worker)."
            )
            self.stdout.flush()
            app.Beat(loglevel=options["loglevel"], max_interval=options["max_interval"]).run()
            return
        self.stdout.write("Periodic tasks: a worker with an embedded beat, on the broker (CELERY_BROKER_URL).")
        self.stdout.flush()
        app.worker_main(argv=["worker", "--beat", f"--loglevel={options['loglevel']}"])
