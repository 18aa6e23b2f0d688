"""Role checks for the dashboard views: the same roles the navigation shows (accounts.roles)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse

from accounts.roles import Role, user_role

MARKETING = (Role.ADMIN, Role.MARKETER)
EVERYONE = (Role.ADMIN, Role.MARKETER, Role.SALES_REP)
SALES = (Role.ADMIN, Role.SALES_REP)


def roles_required(roles: Iterable[str]) -> Callable:
    """Log-in required, then one of `roles`; anyone else gets the 403 page (never a half-empty page)."""
    allowed = set(roles)

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @login_required
        @wraps(view)
        def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            if user_role(request.user) not in allowed:
                raise PermissionDenied("Your role does not give access to this page.")
            return view(request, *args, **kwargs)

        return wrapped

    return decorator
