"""REST API for POS systems: post tickets (one or a batch), look up a customer by card.

Authentication is a per-store token (``Authorization: Token rg_…``, see
api_auth.py) or a staff session. Posting tickets goes through the same
service as the CSV importer (:func:`customers.importers.tickets_import`), so a
ticket the API accepts is a row the importer accepts, and vice versa.

Errors are JSON with field-level messages; every malformed body gets a 4xx.
"""

from decimal import Decimal

from django.utils import timezone
from django.utils.translation import gettext as _
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import OpenApiExample, extend_schema, inline_serializer
from rest_framework import exceptions, parsers, permissions, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from . import selectors
from .access import access_for
from .api_auth import ApiClient, api_stores
from .idempotency import HEADER as IDEMPOTENCY_HEADER
from .idempotency import PARAMETER as IDEMPOTENCY_PARAMETER
from .idempotency import idempotent
from .importers import COLUMNS, tickets_import
from .models import Role

MAX_BATCH = 1000


class SafeJSONParser(parsers.JSONParser):
    """DRF's JSON parser, but a body nested thousands deep is a 400, not a RecursionError (500)."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError as exc:
            raise exceptions.ParseError("JSON parse error - nested too deeply.") from exc


PARSERS = [SafeJSONParser, parsers.FormParser, parsers.MultiPartParser]


class IsShopClient(permissions.BasePermission):
    """A POS token, or a logged-in person with a role in some store."""

    def has_permission(self, request, view) -> bool:
        user = request.user
        if isinstance(user, ApiClient):
            return True
        return access_for(user).at_least(Role.STAFF)


class StoreTokenScheme(OpenApiAuthenticationExtension):
    """Documents ``Authorization: Token rg_…`` in the OpenAPI schema."""

    target_class = "customers.api_auth.StoreTokenAuthentication"
    name = "storeToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "A per-store POS key: `Token rg_…` (managers create them under API tokens).",
        }


# --- schema-only serializers (documentation; validation is the importer's) -----------------------------


class TicketInSerializer(serializers.Serializer):
    store = serializers.CharField(help_text="Store code, e.g. CHZ. Defaults to the token's store.", required=False)
    ticket = serializers.CharField(help_text="Ticket number, unique per store.")
    purchased_at = serializers.CharField(help_text="ISO 8601; without an offset it is the store's local time.")
    total = serializers.CharField(help_text="Decimal amount (point or comma); negative for a return.")
    items = serializers.IntegerField(required=False, help_text="Number of items (default 1).")
    customer_card = serializers.CharField(required=False)
    customer_email = serializers.CharField(required=False)
    customer_phone = serializers.CharField(required=False, help_text="Local numbers use the store's country.")
    staff = serializers.CharField(required=False, help_text="Username of the person who served.")
    return_of = serializers.CharField(required=False, help_text="Ticket number of the sale this returns.")
    return_code = serializers.CharField(
        required=False,
        help_text=(
            "The return code printed (and as a QR code) on an outreach note, or the note's voucher code: the "
            "sale is credited to the note. Refused if no note has it, or if the note was written to another "
            "customer than the ticket's. On a ticket without card, email or phone it also links the sale to "
            "the note's customer unless the chain turned that off (RETURN_CODES_IDENTIFY_CUSTOMER)."
        ),
    )


class TicketResultSerializer(serializers.Serializer):
    index = serializers.IntegerField()
    store = serializers.CharField()
    ticket = serializers.CharField()
    id = serializers.IntegerField()
    status = serializers.ChoiceField(choices=["created", "duplicate"])
    is_return = serializers.BooleanField()


TICKETS_RESPONSE = inline_serializer(
    "TicketsPosted",
    {
        "created": serializers.IntegerField(),
        "duplicates": serializers.IntegerField(),
        "customers_created": serializers.IntegerField(),
        "tickets": TicketResultSerializer(many=True),
        "warnings": serializers.ListField(child=serializers.DictField()),
    },
)


class CustomerCardSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    card_number = serializers.CharField()
    first_name = serializers.CharField()
    last_name = serializers.CharField()
    home_store = serializers.CharField(source="home_store.code")
    details_missing = serializers.BooleanField()
    created_at = serializers.DateTimeField()


# --- views -----------------------------------------------------------------------------------------------


def _as_text(value) -> str | None:
    """A JSON value as the importer's text, or None if it is not a string or a number."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, int | Decimal):
        return str(value)
    if isinstance(value, float):
        return repr(value) if value == value and abs(value) != float("inf") else None
    return None


class TicketsView(APIView):
    permission_classes = [permissions.IsAuthenticated, IsShopClient]
    parser_classes = PARSERS

    @extend_schema(
        summary="Post one ticket or a batch of up to 1,000",
        description=(
            'Send one ticket object, or `{"tickets": [...]}` (or a JSON list). All or nothing: if any ticket is '
            "refused, nothing is saved and the answer lists every problem by field. A ticket number already "
            "known for the store is a duplicate, not an error. Send an `Idempotency-Key` header to make retries "
            "safe: the same key and body get the original answer; the same key with another body gets 422."
        ),
        request=TicketInSerializer,
        responses={201: TICKETS_RESPONSE, 200: TICKETS_RESPONSE},
        parameters=[IDEMPOTENCY_PARAMETER],
        examples=[
            OpenApiExample(
                "One sale",
                value={"store": "CHZ", "ticket": "A-1001", "purchased_at": "2026-10-01T10:15:00", "total": "25.00"},
                request_only=True,
            )
        ],
    )
    def post(self, request):
        return idempotent(request, lambda: self._post(request))

    def _post(self, request) -> Response:
        data = request.data
        if hasattr(data, "dict"):  # a form post (the browsable API, tests): one ticket
            data = data.dict()
        if isinstance(data, dict) and "tickets" in data:
            items, batch = data["tickets"], True
        elif isinstance(data, list):
            items, batch = data, True
        elif isinstance(data, dict):
            items, batch = [data], False
        else:
            items, batch = None, False
        if not isinstance(items, list) or not items:
            return Response(
                {"detail": _('Send one ticket (a JSON object) or {"tickets": [...]} with at least one ticket.')},
                status=status.HTTP_400_BAD_REQUEST,
            )
        if len(items) > MAX_BATCH:
            return Response(
                {"detail": _("At most %(max)s tickets per request.") % {"max": f"{MAX_BATCH:,}"}},
                status=status.HTTP_400_BAD_REQUEST,
            )

        default_store = request.user.store.code if isinstance(request.user, ApiClient) else ""
        field_errors: list[dict] = [{} for _ in items]
        rows = []
        for index, item in enumerate(items):
            if not isinstance(item, dict):
                field_errors[index]["non_field_errors"] = [_("A ticket is a JSON object.")]
                continue
            values = []
            for column in COLUMNS:
                text = _as_text(item.get(column))
                if text is None:
                    field_errors[index].setdefault(column, []).append(_("Send text or a number."))
                    text = ""
                values.append(text)
            if not values[0]:
                values[0] = default_store
            rows.append((index, values))

        outcome = None
        if not any(field_errors):
            stores = api_stores(request)
            outcome = tickets_import(
                rows=rows,
                now=timezone.now(),
                allowed_store_ids=set(stores.values_list("pk", flat=True)),
                source="api",
            )
            for issue in outcome.errors:
                field_errors[issue.line].setdefault(issue.column, []).append(issue.message)
        if outcome is None or not outcome.committed:
            refused = sum(1 for e in field_errors if e)
            if batch:
                body = {
                    "detail": _("%(refused)s of %(count)s tickets were refused; nothing was saved.")
                    % {"refused": refused, "count": len(items)},
                    "tickets": field_errors,
                }
            else:
                body = {"detail": _("The ticket was refused; nothing was saved."), **field_errors[0]}
            return Response(body, status=status.HTTP_400_BAD_REQUEST)

        created = set(outcome.ticket_ids.tolist())
        codes = {s.pk: s.code for s in api_stores(request)}
        by_code = {code: pk for pk, code in codes.items()}
        pairs = [(by_code[values[0].upper()], values[1]) for _, values in rows]
        found = selectors.tickets_by_number(pairs=pairs)
        results = []
        for (index, _values), pair in zip(rows, pairs, strict=True):
            ticket = found[pair]
            results.append(
                {
                    "index": index,
                    "store": codes[pair[0]],
                    "ticket": ticket.number,
                    "id": ticket.pk,
                    "status": "created" if ticket.pk in created else "duplicate",
                    "is_return": ticket.is_return,
                }
            )
        body = {
            "created": outcome.inserted,
            "duplicates": outcome.duplicates,
            "customers_created": outcome.customers_created,
            "tickets": results,
            "warnings": [{"index": w.line, "field": w.column, "message": w.message} for w in outcome.warnings],
        }
        return Response(body, status=status.HTTP_201_CREATED if outcome.inserted else status.HTTP_200_OK)


class CustomerByCardView(APIView):
    permission_classes = [permissions.IsAuthenticated, IsShopClient]

    @extend_schema(
        summary="Look up a customer by loyalty card",
        description="Only customers whose home store the token (or the logged-in user) may see; others are 404.",
        responses={200: CustomerCardSerializer},
    )
    def get(self, request, card: str):
        customer = selectors.customer_get_by_card(stores=api_stores(request), card=card.strip())
        return Response(CustomerCardSerializer(customer).data)


__all__ = ["IDEMPOTENCY_HEADER", "CustomerByCardView", "TicketsView"]
