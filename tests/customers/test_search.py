"""Search by name, phone, email or card: typos and partial input forgiven, paged without COUNT(*)."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from customers import selectors
from customers.models import Customer
from customers.selectors import _search_plain
from tests.factories import CustomerFactory
from tests.outreach.notes_helpers import coded_note

pytestmark = pytest.mark.django_db


def _names(qs):
    return [c.full_name for c in qs]


@pytest.fixture
def people(store, other_store):
    return {
        "jasur": CustomerFactory(
            first_name="Jasur",
            last_name="Toshmatov",
            home_store=store,
            email="jasur.t@example.test",
            phone="+998901112233",
            city="Toshkent",
        ),
        "elena": CustomerFactory(first_name="Elena", last_name="Petrova", home_store=store, phone="+998935550000"),
        "malika": CustomerFactory(first_name="Malika", last_name="Yusupova", home_store=store),
        "other": CustomerFactory(first_name="Jasur", last_name="Toshmatov", home_store=other_store),
    }


@pytest.mark.parametrize(
    "query",
    ["Toshmatov", "tosmatov", "Jasur Tosmatov", "toshmatov jasur", "Jasr Toshmatv", "tosh", "JASUR"],
)
def test_a_misspelled_or_partial_name_finds_the_customer_first(staff, people, query):
    results = list(selectors.customer_list(user=staff, query=query))
    assert results and results[0] == people["jasur"], query


def test_phone_in_local_or_international_form_finds_the_customer(staff, people):
    for query in ("90 111 22 33", "+998 90 111-22-33", "1112233"):
        assert list(selectors.customer_list(user=staff, query=query)) == [people["jasur"]], query


def test_card_number_whole_or_in_part_finds_the_customer(staff, people):
    card = people["elena"].card_number
    assert list(selectors.customer_list(user=staff, query=card))[0] == people["elena"]
    assert people["elena"] in selectors.customer_list(user=staff, query=card[-6:])


def test_email_whole_or_in_part_finds_the_customer(staff, people):
    assert list(selectors.customer_list(user=staff, query="Jasur.T@Example.test"))[0] == people["jasur"]
    assert list(selectors.customer_list(user=staff, query="jasur.t@"))[0] == people["jasur"]


def test_search_never_shows_customers_of_stores_the_user_does_not_work_in(staff, people):
    results = list(selectors.customer_list(user=staff, query="Jasur Toshmatov"))
    assert people["other"] not in results


def test_search_ignores_unrelated_names(staff, people):
    assert people["malika"] not in selectors.customer_list(user=staff, query="Toshmatov")


def test_the_plain_fallback_agrees_on_exact_partial_input(staff, people):
    """The SQLite path (plain LIKE) finds what PostgreSQL finds when nothing is misspelled."""
    base = Customer.objects.for_stores([people["jasur"].home_store]).active()
    for query in ("Tosh", "jasur.t@", "1112233", people["elena"].card_number):
        trigram = set(selectors.customer_list(user=staff, query=query))
        plain = set(_search_plain(base, query))
        assert plain and plain <= trigram, query


def test_pages_are_fetched_without_counting_the_table(login, staff, store):
    for i in range(30):
        CustomerFactory(first_name=f"Zebo{i:02d}", last_name="Rahimova", home_store=store)
    client = login(staff)
    with CaptureQueriesContext(connection) as queries:
        response = client.get(reverse("customers:list"), {"q": "Rahimova"})
    assert response.status_code == 200
    page = response.context["page"]
    assert len(page.object_list) == 25 and page.has_next and not page.has_previous
    assert not any("COUNT(" in q["sql"].upper() for q in queries.captured_queries)
    second = client.get(reverse("customers:list"), {"q": "Rahimova", "page": "2"}).context["page"]
    assert len(second.object_list) == 5 and not second.has_next and second.has_previous
    assert not {c.pk for c in page.object_list} & {c.pk for c in second.object_list}


def test_a_junk_page_number_shows_the_first_page(login, staff, people):
    response = login(staff).get(reverse("customers:list"), {"page": "abc"})
    assert response.context["page"].number == 1


@pytest.mark.parametrize(
    ("lookup", "index"),
    [
        ({"search_name__trigram_word_similar": "tosmatov"}, "customer_name_trgm"),
        ({"search_name__contains": "tosh"}, "customer_name_trgm"),
        ({"phone__contains": "1112233"}, "customer_phone_trgm"),
        ({"card_number__contains": "123456"}, "customer_card_trgm"),
    ],
)
def test_search_conditions_are_served_by_trigram_indexes(people, lookup, index):
    """Each condition the search ORs together can use its GIN trigram index (seq scans off to force the choice)."""
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        plan = Customer.objects.filter(**lookup).explain()
    assert index in plan


def test_email_condition_is_served_by_the_lower_email_trigram_index(people):
    from django.db.models.functions import Lower

    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        plan = Customer.objects.alias(e=Lower("email")).filter(e__contains="jasur.t@").explain()
    assert "customer_email_trgm" in plan


def test_today_offers_sign_up_as_a_big_button(login, staff):
    html = login(staff).get(reverse("home")).content.decode()
    assert 'data-testid="signup-button"' in html and reverse("customers:kiosk_start") in html


def test_a_renamed_customer_is_found_by_the_new_name_only(staff, people):
    jasur = people["jasur"]
    jasur.last_name = "Qodirov"
    jasur.save(update_fields=["last_name"])
    assert list(selectors.customer_list(user=staff, query="qodirov"))[0] == jasur
    assert jasur not in selectors.customer_list(user=staff, query="toshmatov")


def test_erased_and_deleted_names_leave_the_search_name_list(people):
    """The distinct-name list behind name search keeps no name that no customer bears."""

    def names():
        with connection.cursor() as cursor:
            cursor.execute("SELECT name FROM customers_searchname")
            return {r[0] for r in cursor.fetchall()}

    assert "malika yusupova" in names()
    people["malika"].delete()
    assert "malika yusupova" not in names()
    people["jasur"].first_name = people["jasur"].last_name = ""
    people["jasur"].save(update_fields=["first_name", "last_name"])
    assert "jasur toshmatov" in names()  # the other store's Jasur Toshmatov still bears it
    people["other"].delete()
    assert "jasur toshmatov" not in names()


def test_pages_run_on_past_the_bearers_of_the_nearest_names(staff, store, monkeypatch):
    monkeypatch.setattr(selectors, "NEAREST_NAMES", 1)
    for i, last in enumerate(["Toshmatov", "Toshmatova", "Toshmatovich"] * 10):
        CustomerFactory(first_name=f"Ali{i:02d}", last_name=last, home_store=store)
    qs = selectors.customer_list(user=staff, query="toshmatov")
    pages = [selectors.page_of(qs, page=n).object_list for n in (1, 2)]
    assert len(pages[0]) == 25 and len(pages[1]) == 5
    assert len({c.pk for p in pages for c in p}) == 30
    assert pages[0][0].last_name == "Toshmatov"


# --- Return codes: the note card a customer brings back ----------------------------------------------


@pytest.mark.parametrize("typed", ["K7WB3Q", "k7wb3q", "k7w-b3q", " K7W B3Q "])
def test_a_notes_return_code_typed_into_the_search_finds_its_customer_alone(staff, people, store, typed):
    coded_note(people["elena"], store=store, code="K7WB3Q")
    assert list(selectors.customer_list(user=staff, query=typed)) == [people["elena"]]


def test_staff_typing_a_return_code_into_the_customer_search_land_on_the_customer(login, staff, people, store):
    coded_note(people["elena"], store=store, code="K7WB3Q")
    response = login(staff).get(reverse("customers:list"), {"q": "k7wb-3q"}, follow=True)
    assert response.redirect_chain == [(people["elena"].get_absolute_url(), 302)]
    assert "Return code K7WB3Q: a note to this customer." in response.content.decode()


def test_a_code_of_another_stores_note_is_not_found_by_staff_of_a_different_store(
    login, staff, staff_of_other_store, people, store, other_store
):
    coded_note(people["other"], store=other_store, code="YUN234")
    # A chain campaign's note to a CHZ customer that YUN's staff wrote: YUN's note, not CHZ's to find.
    coded_note(people["malika"], store=other_store, code="YUN567")
    for code in ("YUN234", "YUN567"):
        assert not selectors.customer_list(user=staff, query=code).exists(), code
        assert selectors.customer_by_return_code(user=staff, query=code) is None, code
        response = login(staff).get(reverse("customers:list"), {"q": code})
        assert response.status_code == 200 and not response.context["page"].object_list, code
    assert list(selectors.customer_list(user=staff_of_other_store, query="YUN234")) == [people["other"]]


def test_a_return_code_is_found_only_in_the_stores_the_switcher_narrows_to(owner, people, store, other_store):
    coded_note(people["jasur"], store=store, code="CHZ789")
    assert list(selectors.customer_list(user=owner, query="CHZ789")) == [people["jasur"]]
    assert list(selectors.customer_list(user=owner, stores=[store], query="CHZ789")) == [people["jasur"]]
    assert not selectors.customer_list(user=owner, stores=[other_store], query="CHZ789").exists()


def test_a_code_no_note_has_is_searched_as_text(staff, people):
    """Six letters no note carries are an ordinary name search ("Malika" is shaped like a code)."""
    assert list(selectors.customer_list(user=staff, query="Malika")) == [people["malika"]]
    assert selectors.customer_by_return_code(user=staff, query="Malika") is None


@pytest.mark.slow
def test_a_return_code_finds_its_customer_on_the_embedded_sqlite_default(tmp_path):
    """The same search on SQLite (the fallback without DATABASE_URL): a subprocess migrates a fresh file."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "CELERY_BROKER_URL", "REDIS_URL"}}
    env.update(SQLITE_PATH=str(tmp_path / "search.sqlite3"), DJANGO_SETTINGS_MODULE="crm.settings")
    script = """
from django.db import connection
from customers import selectors
from tests.outreach.notes_helpers import coded_note
from tests.factories import CustomerFactory, MembershipFactory, StoreFactory, UserFactory
assert connection.vendor == "sqlite"
chz, yun = StoreFactory(code="CHZ"), StoreFactory(code="YUN")
anna = UserFactory(username="anna")
MembershipFactory(user=anna, store=chz)
elena = CustomerFactory(home_store=chz, first_name="Elena")
other = CustomerFactory(home_store=yun, first_name="Olim")
coded_note(elena, store=chz, code="K7WB3Q")
coded_note(other, store=yun, code="YUN234")
print("found", [c.first_name for c in selectors.customer_list(user=anna, query="k7w-b3q")])
print("other", [c.first_name for c in selectors.customer_list(user=anna, query="YUN234")])
"""
    for args in (["migrate", "-v0"], ["shell", "-v0", "-c", script]):
        result = subprocess.run(
            [sys.executable, "manage.py", *args], cwd=root, env=env, capture_output=True, text=True, timeout=240
        )
        assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines() == ["found ['Elena']", "other []"]
