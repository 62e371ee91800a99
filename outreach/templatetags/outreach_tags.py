"""Template tags other apps' screens use to show outreach facts (the customer page's segment badges)."""

from django import template

from outreach.selectors import segment_badges as _segment_badges

register = template.Library()


@register.inclusion_tag("outreach/partials/segment_badges.html")
def segment_badges(customer):
    """The customer's segments, each with the reason in words, from the last chain-wide run."""
    return {"badges": _segment_badges(customer)}
