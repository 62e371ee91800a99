"""Screens of the customer file. Thin: check access, validate, call a selector or service."""

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from . import selectors
from .access import SESSION_STORE_KEY, role_required, stores_for, stores_in_scope
from .models import Role


@role_required(Role.STAFF)
def home(request: HttpRequest) -> HttpResponse:
    """Today: the counter's start page (search, sign-up, my notes)."""
    return render(request, "customers/home.html", {"stores": stores_in_scope(request)})


@role_required(Role.STAFF)
def customer_list(request: HttpRequest) -> HttpResponse:
    query = request.GET.get("q", "")
    customers = selectors.customer_list(user=request.user, stores=stores_in_scope(request), query=query)
    page = Paginator(customers, 25).get_page(request.GET.get("page"))
    return render(request, "customers/customer_list.html", {"page": page, "query": query})


@role_required(Role.STAFF)
def customer_detail(request: HttpRequest, pk: int) -> HttpResponse:
    customer = selectors.customer_get(user=request.user, pk=pk)
    return render(
        request,
        "customers/customer_detail.html",
        {
            "customer": customer,
            "tickets": selectors.customer_tickets(customer=customer),
            "summary": selectors.customer_visit_summary(customer=customer),
        },
    )


@require_POST
@role_required(Role.STAFF)
def store_switch(request: HttpRequest) -> HttpResponse:
    """Narrow every screen to one store (or back to all the user may see)."""
    code = request.POST.get("store", "")
    if code and not stores_for(request.user).filter(code=code).exists():
        messages.error(request, _("You do not work in that store."))
        code = ""
    request.session[SESSION_STORE_KEY] = code
    target = request.POST.get("next") or "/"
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        target = "/"
    return redirect(target)
