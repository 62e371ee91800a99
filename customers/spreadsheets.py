"""Cells that leave the building in CSV or XLSX must never run as formulas (CSV/formula injection).

A customer can type ``=HYPERLINK(...)`` as their name on the kiosk; a spreadsheet would run it.
Every export of ours passes its text cells through :func:`neutralise`.
"""

DANGEROUS_PREFIXES = ("=", "+", "-", "@", "\t", "\r", "\n")


def neutralise(value):
    """Make a text cell inert in a spreadsheet: a leading =, +, -, @, tab, CR or LF gets an apostrophe."""
    if isinstance(value, str) and value.startswith(DANGEROUS_PREFIXES):
        return "'" + value
    return value
