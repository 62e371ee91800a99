"""``{% load loyalty_tags %}{% points_summary customer %}``: the plain-words points card for any page.

Lets the customer file's templates show points without the customers app importing loyalty.
"""

from django import template
from django.utils import timezone

from loyalty.selectors import account_summary

register = template.Library()


@register.inclusion_tag("loyalty/partials/points_summary.html")
def points_summary(customer):
    return {"summary": account_summary(customer=customer, as_of=timezone.now())}
