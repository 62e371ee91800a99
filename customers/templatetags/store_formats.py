"""Money, numbers and dates as a store writes them (``customers.locales``).

``{% load store_formats %}`` then ``{{ amount|money:store }}``, ``{{ day|store_date:store }}``.
"""

from django import template
from django.utils.html import format_html

from customers import locales

register = template.Library()


@register.filter
def money(amount, store):
    """Left-to-right on every page, so a Persian page keeps ``25,00 soʻm`` (and CLDR's ``ریال 1,500``) whole."""
    if amount is None or amount == "" or store is None:
        return amount
    return format_html('<span dir="ltr" class="money">{}</span>', locales.store_money(amount, store))


@register.filter
def store_date(day, store):
    if day is None or day == "":
        return ""
    return locales.store_date(day, store or None)
