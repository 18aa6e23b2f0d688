"""Who caused a write: a signed-in user, an API key (acting for its user or for nobody), or the system.

Provenance (issue 17): every move and touchpoint records the user or the API key behind it,
with a name kept as it was at that moment. Services accept what a view has (`request.user`,
which is an `ApiKeyUser` for key requests, or a User, or None) and split it here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Actor:
    """The database user (or None), the API key (or None) and a display name of whoever caused a write."""

    user: Any = None
    api_key: Any = None
    name: str = ""

    @property
    def user_id(self) -> int | None:
        return self.user.pk if self.user is not None else None

    @property
    def api_key_id(self) -> int | None:
        return self.api_key.pk if self.api_key is not None else None


def actor_split(who: Any) -> Actor:
    """An Actor from a User, an API-key principal (anything with `.api_key`), or None/anonymous."""
    if who is None or not getattr(who, "is_authenticated", False):
        return Actor()
    key = getattr(who, "api_key", None)
    if key is not None:
        user = key.user
        name = f"API key {key.name} (#{key.pk})"
        return Actor(user=user, api_key=key, name=name[:160])
    return Actor(user=who, name=f"{who.get_username()} (#{who.pk})"[:160])
