"""The Celery application: configured from Django settings (CELERY_* names), tasks autodiscovered."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lifecycle_crm.settings")

app = Celery("lifecycle_crm")
app.config_from_object("django.conf:settings", namespace="CELERY")
if not app.conf.broker_url:
    # No broker configured: tasks run eagerly in-process (settings), and an in-memory
    # transport keeps kombu from guessing "amqp://localhost" for anything that asks.
    app.conf.broker_url = "memory://localhost/"
app.autodiscover_tasks()
