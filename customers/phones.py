"""Phone numbers in one shape (E.164) so that matching and de-duplication work."""

import phonenumbers


def phone_normalise(raw: str, *, region: str) -> str | None:
    """``raw`` as E.164 (``+998901234567``) using ``region`` for local numbers; None if it is not a valid number."""
    raw = (raw or "").strip()
    if not raw:
        return None
    try:
        number = phonenumbers.parse(raw, region.upper() or None)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
