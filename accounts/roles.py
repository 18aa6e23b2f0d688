"""Roles of the CRM and how a user maps to one.

Admins are staff users (or superusers); marketers and sales reps are members of the
groups created by migration. API keys carry a role of their own (including
`integration`), so permission checks take a role, not a user.
"""

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import models


class Role(models.TextChoices):
    ADMIN = "admin", "Admin"
    MARKETER = "marketer", "Marketer"
    SALES_REP = "sales_rep", "Sales rep"
    INTEGRATION = "integration", "Integration"


MARKETERS_GROUP = "Marketers"
SALES_REPS_GROUP = "Sales reps"


def user_role(user: AbstractBaseUser | AnonymousUser | None) -> str | None:
    """The role of a logged-in user, or None for anonymous users and users with no role."""
    if user is None or not user.is_authenticated:
        return None
    if user.is_superuser or user.is_staff:
        return Role.ADMIN
    cached = getattr(user, "_crm_role", False)
    if cached is not False:
        return cached
    names = set(user.groups.values_list("name", flat=True))
    role = None
    if MARKETERS_GROUP in names:
        role = Role.MARKETER
    elif SALES_REPS_GROUP in names:
        role = Role.SALES_REP
    user._crm_role = role
    return role
