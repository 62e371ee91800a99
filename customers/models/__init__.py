"""The customer file's models. ``core`` holds stores, staff, customers and tickets; ``records``
what the shop knows about a customer (interests, service notes, consent, feedback); ``imports``
the history of POS ticket imports.

Every public name of both modules is importable from ``customers.models``.
"""

from .core import *  # noqa: F403
from .core import _hash_token  # noqa: F401  (used by the API token tests and admin)
from .imports import *  # noqa: F403
from .records import *  # noqa: F403
