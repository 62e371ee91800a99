"""Template context every page needs: the user's role and the store switcher."""

from django.http import HttpRequest

from .access import SESSION_STORE_KEY, access_for, stores_for


def access(request: HttpRequest) -> dict:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"user_role": None}
    acc = access_for(user)
    context = {"user_role": acc.role, "user_access": acc}
    if acc.role is not None:
        # Someone who works in one store needs no switcher, and no query to find that out.
        several = acc.chain_wide or len(acc.store_ids) > 1
        # A view that already read the user's stores (the dashboard) leaves them on the request.
        known = getattr(request, "visible_stores", None)
        if not several:
            context["switchable_stores"] = []
        elif known is not None:
            context["switchable_stores"] = known
        else:
            context["switchable_stores"] = list(stores_for(user).only("pk", "code", "name"))
        context["active_store_code"] = request.session.get(SESSION_STORE_KEY, "")
    return context
