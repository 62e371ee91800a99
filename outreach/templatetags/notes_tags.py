"""``{% my_notes_badge %}``: the "My notes (N)" button on Today."""

from django import template

register = template.Library()


@register.inclusion_tag("outreach/notes/home_badge.html", takes_context=True)
def my_notes_badge(context) -> dict:
    from outreach.notes_selectors import my_open_notes_count

    request = context.get("request")
    user = getattr(request, "user", None)
    count = my_open_notes_count(user=user) if user is not None and user.is_authenticated else 0
    return {"count": count}
