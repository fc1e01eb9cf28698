import gc
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "billing_project.settings")

application = get_wsgi_application()
# Everything loaded so far (Django, the apps, their modules) lives as long as the process:
# out of the collector's sight, a full collection scans only what requests make, instead
# of pausing a page for ~200 ms (measured by bench/pages.py).
gc.freeze()
