"""Referral codes and the customer's signed link: derived from the contact id, so every contact has them at once.

A code is `<id in base 36>-<5 characters of an HMAC>`: nothing to store or backfill, unguessable
without the secret, and checked on the way in. The member link is a Django-signed token of the
contact id (no login): whoever holds the link may redeem that member's points, nobody else's.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from django.conf import settings
from django.core import signing

DIGITS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
LINK_SALT = "loyalty.member-link"


def _mac(contact_id: int) -> str:
    key = (settings.SECRET_KEY + ":loyalty.referral").encode()
    digest = hmac.new(key, str(contact_id).encode(), hashlib.sha256).digest()
    return base64.b32encode(digest).decode()[:5]


def _base36(number: int) -> str:
    out = ""
    while True:
        number, rest = divmod(number, 36)
        out = DIGITS[rest] + out
        if not number:
            return out


def referral_code(contact_id: int) -> str:
    """The contact's referral code, e.g. `2F-K7QXM`."""
    return f"{_base36(contact_id)}-{_mac(contact_id)}"


def referral_code_contact_id(code: str) -> int | None:
    """The contact id a code names, or None when the code is malformed or forged (case and spaces forgiven)."""
    head, _, mac = (code or "").strip().upper().partition("-")
    if not head or not mac or any(ch not in DIGITS for ch in head) or len(head) > 12:
        return None
    contact_id = int(head, 36)
    return contact_id if hmac.compare_digest(mac, _mac(contact_id)) else None


def member_token(contact_id: int) -> str:
    """The signed token of a member's own redemption link."""
    return signing.dumps(contact_id, salt=LINK_SALT)


def member_token_contact_id(token: str) -> int | None:
    """The contact id a member token was signed for, or None when it is not genuine."""
    try:
        value = signing.loads(token, salt=LINK_SALT)
    except signing.BadSignature:
        return None
    return value if isinstance(value, int) else None
