"""Loyalty set-up for the demo chain: rules that make sense in each store's currency, a small
rewards catalogue and two tiers. Idempotent (update_or_create on natural keys).

The points arithmetic follows the shops' advice (DOMAIN.md): simple values ("250 points =
a 25,000 UZS voucher"), a cap per ticket, a welcome gift on day one, stamp-like thresholds.
"""

from decimal import Decimal

from customers.models import Store

from .models import ProgramRules, Reward, RewardKind, Tier, TierBasis

# currency → (currency units per point, cap per ticket, points shown, their value, minimum ticket).
# Every store gives back about 2 % of what is spent: 250 points are worth 2 % of 250 points' spend.
CURRENCY_SCALE = {
    "UZS": (Decimal("1000"), 2000, 250, Decimal("5000"), Decimal("10000")),
    "IRR": (Decimal("10000"), 2000, 250, Decimal("50000"), Decimal("100000")),
    "RUB": (Decimal("10"), 2000, 250, Decimal("50"), Decimal("100")),
    "PHP": (Decimal("5"), 2000, 250, Decimal("25"), Decimal("50")),
}
DEFAULT_SCALE = (Decimal("1"), 500, 250, Decimal("5"), Decimal("1"))  # EUR, BGN, USD…


def demo_loyalty_setup() -> dict[str, int]:
    """Create or update the chain rules, a rules row per store, rewards and tiers."""
    ProgramRules.objects.update_or_create(store=None, defaults={"welcome_bonus": 50, "birthday_bonus": 100})
    stores = list(Store.objects.all())
    for store in stores:
        per_point, cap, shown_points, shown_value, min_ticket = CURRENCY_SCALE.get(store.currency, DEFAULT_SCALE)
        ProgramRules.objects.update_or_create(
            store=store,
            defaults={
                "points_per_unit": (Decimal(1) / per_point).quantize(Decimal("0.0001")),
                "cap_per_ticket": cap,
                "display_points": shown_points,
                "display_value": shown_value,
                "min_ticket": min_ticket,
                "welcome_bonus": 50,
                "birthday_bonus": 100,
            },
        )
        scale = shown_value / shown_points  # money per point in this store
        catalogue = [
            ("Voucher", RewardKind.FIXED, 250, {"amount": (scale * 250).quantize(Decimal("0.01"))}),
            ("Big voucher", RewardKind.FIXED, 500, {"amount": (scale * 550).quantize(Decimal("0.01"))}),
            ("10 % off one purchase", RewardKind.PERCENT, 400, {"percent": 10}),
            ("Tote bag", RewardKind.GIFT, 300, {}),
        ]
        for name, kind, cost, extra in catalogue:
            Reward.objects.update_or_create(
                store=store, name=name, defaults={"kind": kind, "points_cost": cost, **extra}
            )
    Tier.objects.update_or_create(
        name="Regular", defaults={"rank": 1, "basis": TierBasis.VISITS, "threshold": Decimal("0")}
    )
    Tier.objects.update_or_create(
        name="Premier",
        defaults={
            "rank": 2,
            "basis": TierBasis.VISITS,
            "threshold": Decimal("24"),
            "earn_multiplier": Decimal("1.5"),
            "perks": "Invitations to customer evenings first; gift wrapping.",
        },
    )
    return {"stores": len(stores), "rewards": Reward.objects.count(), "tiers": Tier.objects.count()}
