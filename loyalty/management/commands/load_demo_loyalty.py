"""Set up loyalty for the demo chain (rules per currency, rewards, tiers). Idempotent."""

from django.core.management.base import BaseCommand

from loyalty.demo import demo_loyalty_setup


class Command(BaseCommand):
    help = "Loyalty rules in each store's currency, a rewards catalogue and two tiers for the demo chain."

    def handle(self, *args, **options):
        counts = demo_loyalty_setup()
        self.stdout.write(f"stores: {counts['stores']}; rewards: {counts['rewards']}; tiers: {counts['tiers']}")
