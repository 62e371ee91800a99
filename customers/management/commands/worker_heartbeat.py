"""Run the worker heartbeat by hand (every scheduled job has a command): ``manage.py worker_heartbeat``."""

from django.core.management.base import BaseCommand

from customers.tasks import worker_heartbeat_task


class Command(BaseCommand):
    help = "Record a worker heartbeat now (what beat schedules every minute)."

    def handle(self, *args, **options):
        hostname = worker_heartbeat_task.apply().get()
        self.stdout.write(f"Heartbeat recorded for {hostname}.")
