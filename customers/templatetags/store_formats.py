"""Money, numbers and dates as a store writes them (``customers.locales``).

``{% load store_formats %}`` then ``{{ amount|money:store }}``, ``{{ day|store_date:store }}``.
"""

from django import template

from customers import locales

register = template.Library()


@register.filter
def money(amount, store):
    if amount is None or amount == "" or store is None:
        return amount
    return locales.store_money(amount, store)


@register.filter
def store_date(day, store):
    if day is None or day == "":
        return ""
    return locales.store_date(day, store or None)
