"""`POST /api/v1/contacts/{id}/merge/`: fold another contact into this one (contacts.merge.contact_merge)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, extend_schema_field, inline_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError as DrfValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api.authentication import request_actor
from accounts.api.permissions import ALL_ROLES, CONTACT_WRITERS
from contacts.merge import contact_merge
from contacts.selectors import contact_can_write, contact_get
from lifecycle_crm.api.schema import WRITE_ERRORS


@extend_schema_field(
    {
        "type": "object",
        "description": "Rows moved to the survivor by kind (touchpoints, tags, …); its stage before and after.",
        "properties": {"stage_before": {"type": "string"}, "stage_after": {"type": "string"}},
        "required": ["stage_before", "stage_after"],
        "additionalProperties": {"type": "integer", "minimum": 0},
    }
)
class MovedCountsField(serializers.DictField):
    """The merge log's `moved`: counts by kind plus the survivor's stage before and after."""


class ContactMergeInputSerializer(serializers.Serializer):
    merge_id = serializers.IntegerField(min_value=1, help_text="Id of the contact to fold into this one (removed).")


class ContactMergeApi(APIView):
    """Merge the contact `merge_id` into contact `{id}`, which survives with everything of both.

    The caller must be allowed to change both contacts (admins and integrations any, a
    sales rep only contacts they own). Answers with the merge log.
    """

    # The project's default permissions (IsAuthenticated + RolePermission) with the contact writers'
    # roles; the object check (a rep's own contacts) is contact_can_write on both contacts.
    read_roles = ALL_ROLES
    write_roles = CONTACT_WRITERS

    @extend_schema(
        request=ContactMergeInputSerializer,
        responses={
            200: inline_serializer(
                "ContactMergeResult",
                {
                    "merge_log_id": serializers.IntegerField(),
                    "survivor": serializers.IntegerField(),
                    "merged_contact_id": serializers.IntegerField(),
                    "merged_email": serializers.EmailField(),
                    "moved": MovedCountsField(),
                    "stage": serializers.CharField(),
                },
            ),
            **WRITE_ERRORS,
        },
    )
    def post(self, request: Request, pk: int) -> Response:
        payload = ContactMergeInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        survivor = contact_get(user=request.user, pk=pk)
        other = contact_get(user=request.user, pk=payload.validated_data["merge_id"])
        if survivor is None:
            return Response({"detail": "No such contact."}, status=status.HTTP_404_NOT_FOUND)
        if other is None:
            raise DrfValidationError({"merge_id": ["No such contact."]})
        if not (
            contact_can_write(user=request.user, contact=survivor)
            and contact_can_write(user=request.user, contact=other)
        ):
            return Response(
                {"detail": "You may merge only contacts you are allowed to change."}, status=status.HTTP_403_FORBIDDEN
            )
        # ValidationError from the service becomes a 400 in the shared API error shape.
        log = contact_merge(survivor=survivor, other=other, user=request_actor(request))
        return Response(
            {
                "merge_log_id": log.pk,
                "survivor": survivor.pk,
                "merged_contact_id": log.merged_contact_id,
                "merged_email": log.merged_email,
                "moved": log.moved,
                "stage": log.moved["stage_after"],
            }
        )
