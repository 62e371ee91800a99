"""POS API for loyalty: a card's balance and rewards, redemptions (with ``Idempotency-Key``), voucher use.

Auth comes from settings (a store's POS token, or a staff session). Scope: the
customers of ``api_stores(request)``; anything else is 404.
"""

import uuid

from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.decorators import api_view, permission_classes
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.response import Response

from customers.access import access_for
from customers.api_auth import ApiClient, api_stores
from customers.idempotency import HEADER, idempotent
from customers.idempotency import PARAMETER as IDEMPOTENCY
from customers.models import Customer, Role

from . import selectors, services
from .models import EntrySource, Reward


class IsPosOrStaff(BasePermission):
    """A POS token, or a logged-in member of staff (a login with no role gets 403)."""

    def has_permission(self, request, view) -> bool:
        return isinstance(request.user, ApiClient) or access_for(request.user).at_least(Role.STAFF)


def _customer(request, card: str) -> Customer:
    return get_object_or_404(
        Customer.objects.for_stores(api_stores(request)).select_related("home_store"), card_number=card
    )


def _reward_json(reward: Reward) -> dict:
    return {
        "id": reward.pk,
        "name": reward.name,
        "kind": reward.kind,
        "points_cost": reward.points_cost,
        "label": reward.value_label,
        "stock": reward.stock,
    }


def summary_json(summary: selectors.AccountSummary) -> dict:
    customer = summary.customer
    return {
        "card": customer.card_number,
        "balance": summary.balance,
        "value": str(summary.value),
        "currency": customer.home_store.currency,
        "in_debt": summary.in_debt,
        "tier": summary.tier.name if summary.tier else None,
        "expiring": {
            "points": summary.expiring_points,
            "on": summary.expiring_on.isoformat() if summary.expiring_on else None,
        },
        "eligible_rewards": [_reward_json(r) for r in summary.eligible],
        "next_reward": (
            {**_reward_json(summary.next_reward), "points_missing": summary.points_missing}
            if summary.next_reward
            else None
        ),
        "plain": summary.plain_words(),
    }


class RewardOut(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    kind = serializers.CharField()
    points_cost = serializers.IntegerField()
    label = serializers.CharField()
    stock = serializers.IntegerField(allow_null=True)


class NextRewardOut(RewardOut):
    points_missing = serializers.IntegerField()


class ExpiringOut(serializers.Serializer):
    points = serializers.IntegerField()
    on = serializers.DateField(allow_null=True)


class CardOut(serializers.Serializer):
    card = serializers.CharField()
    balance = serializers.IntegerField()
    value = serializers.DecimalField(max_digits=12, decimal_places=2)
    currency = serializers.CharField()
    in_debt = serializers.BooleanField()
    tier = serializers.CharField(allow_null=True)
    expiring = ExpiringOut()
    eligible_rewards = RewardOut(many=True)
    next_reward = NextRewardOut(allow_null=True)
    plain = serializers.CharField()


class RefusalOut(serializers.Serializer):
    detail = serializers.CharField()
    code = serializers.CharField(required=False)


class RedemptionOut(serializers.Serializer):
    voucher = serializers.CharField()
    reward = RewardOut()
    expires_at = serializers.DateTimeField()
    points = serializers.IntegerField()
    balance = serializers.IntegerField()


class VoucherUseOut(serializers.Serializer):
    voucher = serializers.CharField()
    label = serializers.CharField()
    used_at = serializers.DateTimeField()


IDEMPOTENCY_PARAMETER = IDEMPOTENCY


@extend_schema(responses={200: CardOut, 404: RefusalOut}, tags=["loyalty"])
@api_view(["GET"])
@permission_classes([IsAuthenticated, IsPosOrStaff])
def card_detail(request, card: str) -> Response:
    """Balance, tier, points expiring soon, rewards the card can take now and the next one."""
    customer = _customer(request, card)
    return Response(summary_json(selectors.account_summary(customer=customer, as_of=timezone.now())))


class RedemptionIn(serializers.Serializer):
    reward = serializers.IntegerField(min_value=1)


def _scope_key(request) -> str:
    key = request.headers.get(HEADER, "").strip()
    if not key:
        return f"api:{uuid.uuid4()}"  # no key: every request is a new redemption
    user = request.user
    who = f"token:{user.token.pk}" if isinstance(user, ApiClient) else f"user:{user.pk}"
    return f"api:{who}:{key}"


@extend_schema(
    request=RedemptionIn,
    responses={201: RedemptionOut, 400: OpenApiTypes.OBJECT, 404: RefusalOut, 409: RefusalOut, 422: RefusalOut},
    parameters=[IDEMPOTENCY_PARAMETER],
    tags=["loyalty"],
)
@api_view(["POST"])
@permission_classes([IsAuthenticated, IsPosOrStaff])
def card_redeem(request, card: str) -> Response:
    """Redeem one reward for a card. Send an ``Idempotency-Key``: a retry returns the same voucher."""
    customer = _customer(request, card)

    def handle() -> Response:
        body = RedemptionIn(data=request.data)
        if not body.is_valid():
            return Response(body.errors, status=status.HTTP_400_BAD_REQUEST)
        stores = api_stores(request)
        reward = (
            Reward.objects.for_stores(stores).filter(pk=body.validated_data["reward"]).first()
            if stores.exists()
            else None
        )
        if reward is None:
            return Response({"detail": "No such reward.", "code": "unknown_reward"}, status=404)
        user = request.user
        store = user.store if isinstance(user, ApiClient) else customer.home_store
        account = services.account_open(customer=customer)
        try:
            voucher = services.points_redeem(
                account=account,
                reward=reward,
                store=store,
                by=None if isinstance(user, ApiClient) else user,
                key=_scope_key(request),
                source=EntrySource.API,
                as_of=timezone.now(),
            )
        except services.LoyaltyError as refusal:
            return Response({"detail": refusal.message, "code": refusal.code}, status=status.HTTP_409_CONFLICT)
        account.refresh_from_db(fields=["balance"])
        return Response(
            {
                "voucher": voucher.code,
                "reward": _reward_json(reward),
                "expires_at": voucher.expires_at.isoformat(),
                "points": -voucher.entry.points,
                "balance": account.balance,
            },
            status=status.HTTP_201_CREATED,
        )

    return idempotent(request, handle)


class VoucherUseIn(serializers.Serializer):
    ticket_number = serializers.CharField(max_length=64, required=False, allow_blank=True, default="")


@extend_schema(
    request=VoucherUseIn,
    responses={200: VoucherUseOut, 400: OpenApiTypes.OBJECT, 404: RefusalOut, 409: RefusalOut, 422: RefusalOut},
    parameters=[IDEMPOTENCY_PARAMETER],
    tags=["loyalty"],
)
@api_view(["POST"])
@permission_classes([IsAuthenticated, IsPosOrStaff])
def voucher_use(request, code: str) -> Response:
    """Use a voucher code at the till. Exactly one of many simultaneous uses succeeds; the rest get 409."""
    body = VoucherUseIn(data=request.data)
    if not body.is_valid():
        return Response(body.errors, status=status.HTTP_400_BAD_REQUEST)
    user = request.user

    def handle() -> Response:
        try:
            use = services.voucher_use(
                code=code,
                stores=api_stores(request),
                by=None if isinstance(user, ApiClient) else user,
                source=EntrySource.API,
                as_of=timezone.now(),
                ticket_number=body.validated_data["ticket_number"],
            )
        except services.LoyaltyError as refusal:
            code_status = status.HTTP_404_NOT_FOUND if refusal.code == "unknown" else status.HTTP_409_CONFLICT
            return Response({"detail": refusal.message, "code": refusal.code}, status=code_status)
        return Response({"voucher": use.voucher.code, "label": use.voucher.label, "used_at": use.used_at.isoformat()})

    return idempotent(request, handle)
