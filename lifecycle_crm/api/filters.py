"""Filter backend for views whose selector already applied the FilterSet: it only documents the parameters."""

from django_filters.rest_framework import DjangoFilterBackend


class SelectorFilterBackend(DjangoFilterBackend):
    """Declares `view.filterset_class` in the OpenAPI schema; filtering itself happened in the selector
    (so scope, validation and ordering are the same for the API and the dashboard)."""

    def filter_queryset(self, request, queryset, view):
        return queryset
