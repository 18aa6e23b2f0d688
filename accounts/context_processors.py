"""Expose the current user's role to templates so navigation shows only what they may use."""

from django.http import HttpRequest

from accounts.roles import Role, user_role


def roles(request: HttpRequest) -> dict:
    role = user_role(getattr(request, "user", None))
    return {
        "crm_role": role,
        "crm_role_label": Role(role).label if role else "",
        "is_crm_admin": role == Role.ADMIN,
        "is_marketer": role in (Role.ADMIN, Role.MARKETER),
        "is_sales_rep": role == Role.SALES_REP,
    }
