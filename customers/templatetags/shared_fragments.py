"""Page chrome rendered once per process: ``{% shared_fragment "nav" user_role %}…{% endshared_fragment %}``.

The navigation links and the language list are the same for every user with the same role and
language, yet rendering them (up to 17 ``{% url %}``, ~20 translations, the language list) was ~30 %
of the Python function calls of a cached dashboard page (bench/README.md, "Session 5"). The tag keeps
the rendered HTML per (name, listed values, active language, URLconf, script prefix) in a dict of this
process.

The fragment must depend on nothing else: no ``{% csrf_token %}``, no ``request``, no user's name,
no messages — only the values listed after its name. Everything per request stays outside it.
Settings changes (tests) and template edits (``runserver``) empty the dict.
"""

from __future__ import annotations

from django import template
from django.conf import settings
from django.core.signals import setting_changed
from django.urls import get_script_prefix, get_urlconf
from django.utils import translation
from django.utils.autoreload import file_changed
from django.utils.safestring import SafeString, mark_safe

register = template.Library()

_FRAGMENTS: dict[tuple, SafeString] = {}
_MAX_FRAGMENTS = 512  # names × roles × languages: a few dozen; the bound only guards against a misuse


def fragments_clear(**kwargs) -> None:
    _FRAGMENTS.clear()


setting_changed.connect(fragments_clear, dispatch_uid="shared_fragments_setting_changed")
file_changed.connect(fragments_clear, dispatch_uid="shared_fragments_file_changed")


class SharedFragmentNode(template.Node):
    def __init__(self, nodelist: template.NodeList, name: str, vary_on: list[template.base.FilterExpression]):
        self.nodelist = nodelist
        self.name = name
        self.vary_on = vary_on

    def render(self, context: template.Context) -> SafeString:
        key = (
            self.name,
            tuple(str(v.resolve(context)) for v in self.vary_on),
            translation.get_language(),
            get_urlconf() or settings.ROOT_URLCONF,
            get_script_prefix(),
        )
        html = _FRAGMENTS.get(key)
        if html is None:
            html = mark_safe(self.nodelist.render(context))  # nosec B308 B703 - our own autoescaping template's output
            if len(_FRAGMENTS) < _MAX_FRAGMENTS:
                _FRAGMENTS[key] = html
        return html


@register.tag
def shared_fragment(parser: template.base.Parser, token: template.base.Token) -> SharedFragmentNode:
    bits = token.split_contents()
    if len(bits) < 2 or bits[1][0] not in "\"'" or bits[1][-1] != bits[1][0]:
        raise template.TemplateSyntaxError(f"{bits[0]} takes a quoted name, then the values it varies on")
    nodelist = parser.parse(("endshared_fragment",))
    parser.delete_first_token()
    return SharedFragmentNode(nodelist, bits[1][1:-1], [parser.compile_filter(b) for b in bits[2:]])
