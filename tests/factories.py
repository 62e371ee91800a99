"""factory_boy factories shared by every test module.

Build data with these (or the persona fixtures in conftest.py), never with
hand-written ``objects.create`` chains, so that a new NOT NULL column changes
one place.
"""

import datetime as dt
from decimal import Decimal

import factory
from django.contrib.auth import get_user_model

from customers.models import Channel, Customer, Membership, PurchaseTicket, Role, Store

UTC = dt.UTC
TEST_PASSWORD = "correct horse battery staple"


class StoreFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Store
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"S{n:03d}")
    name = factory.LazyAttribute(lambda o: f"Store {o.code}")
    address = "Bunyodkor ko'chasi 1, Toshkent"
    time_zone = "Asia/Tashkent"
    currency = "UZS"
    country = "UZ"
    locale = "uz"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda o: f"{o.username}@example.test")
    first_name = factory.Faker("first_name")
    password = factory.PostGenerationMethodCall("set_password", TEST_PASSWORD)

    @factory.post_generation
    def _save(obj, create, extracted, **kwargs):  # noqa: N805 - factory_boy hook
        if create:
            obj.save()


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    store = factory.SubFactory(StoreFactory)
    role = Role.STAFF


class CustomerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Customer

    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    email = factory.Sequence(lambda n: f"customer{n}@example.test")
    phone = factory.Sequence(lambda n: f"+99890{n:07d}")
    city = "Toshkent"
    postal_address = factory.Sequence(lambda n: f"Qatortol ko'chasi {n}, Toshkent 100060")
    preferred_language = "uz"
    preferred_channel = Channel.POST
    home_store = factory.SubFactory(StoreFactory)


class TicketFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PurchaseTicket

    store = factory.LazyAttribute(lambda o: o.customer.home_store if o.customer else StoreFactory())
    number = factory.Sequence(lambda n: f"T{n:07d}")
    purchased_at = factory.LazyFunction(lambda: dt.datetime(2026, 10, 1, 10, 0, tzinfo=UTC))
    total = Decimal("25.00")
    items = 2
    customer = factory.SubFactory(CustomerFactory)
    is_return = factory.LazyAttribute(lambda o: o.total < 0)


def visits(customer: Customer, days: list[dt.date], *, total: Decimal = Decimal("25.00"), hour: int = 11):
    """Give ``customer`` one sale on each day in ``days`` (local noon-ish in the store's time zone)."""
    tz = customer.home_store.tz
    return [
        TicketFactory(
            customer=customer,
            store=customer.home_store,
            purchased_at=dt.datetime.combine(day, dt.time(hour, 0), tzinfo=tz),
            total=total,
        )
        for day in days
    ]
