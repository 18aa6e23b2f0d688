"""Role permissions: each view names the roles that may read and the roles that may write.

The matrix (issue 5): admins everything; marketers read everything and write campaigns,
segments and stage rules; sales reps read and write the contacts they own and their
touchpoints; integration keys write contacts and touchpoints and read the rest. Object
rules (a rep's own contacts) live in `contacts.selectors.contact_can_write`.
"""

from __future__ import annotations

from rest_framework.permissions import SAFE_METHODS, BasePermission

from accounts.roles import Role, user_role

ALL_ROLES = frozenset(Role.values)
ADMIN = frozenset({Role.ADMIN})
CONFIG_WRITERS = frozenset({Role.ADMIN, Role.MARKETER})  # campaigns, segments, stage rules
CONTACT_WRITERS = frozenset({Role.ADMIN, Role.INTEGRATION, Role.SALES_REP})  # object-checked for reps


class RolePermission(BasePermission):
    """Allow safe methods to `view.read_roles` (default: every role) and others to `view.write_roles`."""

    message = "Your role does not allow this."

    def has_permission(self, request, view) -> bool:
        role = user_role(request.user)
        if role is None:
            return False
        if request.method in SAFE_METHODS:
            return role in getattr(view, "read_roles", ALL_ROLES)
        return role in getattr(view, "write_roles", ADMIN)
