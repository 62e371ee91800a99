"""Outreach models. ``segments``: segmentation by visit frequency (settings, runs, each customer's
state, history of moves); ``dashboard``: the dashboard's precomputed aggregates and export jobs;
``outreach.notes_models``: campaigns, notes, holdouts and queue runs.

Every public name is importable from ``outreach.models``.
"""

from ..notes_models import *  # noqa: F403  (notes: campaigns, notes, holdouts, queue runs)
from .dashboard import *  # noqa: F403
from .dashboard import ACTIVE_WINDOW_DAYS, VISITORS_30_DAYS  # noqa: F401
from .segments import *  # noqa: F403
