"""Per store, a thank-you and a win-back campaign for the demo chain. Idempotent."""

from django.core.management.base import BaseCommand

from outreach.demo import demo_campaigns_setup


class Command(BaseCommand):
    help = "Create the demo chain's thank-you and win-back campaigns (once per store)."

    def handle(self, *args, **options):
        self.stdout.write(f"campaigns: {demo_campaigns_setup()}")
