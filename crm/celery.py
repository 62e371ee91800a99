"""The Celery application (cookiecutter-django recipe).

Configuration comes from Django settings under the ``CELERY_`` namespace, so the
same env-driven settings module decides between a real Redis broker and eager
in-process execution (the embedded default).
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm.settings")

app = Celery("crm")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
