"""Analytics over REST: one endpoint per report module in analytics/reports/, and the latest CLV model fit.

Each report module declares a typed query dataclass (`<Name>Query`, holding a
`ReportFilters` and its own options) and a `<name>_report(query)` function returning a
typed result with `as_dict()`. The endpoint for a module is built from those types: its
query-string serializer from the query dataclass (so bad input is a 400 naming the
parameter) and its OpenAPI response from the result dataclass. A report module added
later gets its endpoint with no change here.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import types
import typing
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api.permissions import ALL_ROLES
from analytics.clv_model_page import clv_backtest_as_dict
from analytics.reports.base import ReportFilters
from analytics.reports.registry import REPORTS
from analytics.selectors import clv_backtest_latest, clv_model_fit_as_dict, clv_model_fit_latest
from contacts.models import Channel
from lifecycle_crm.api.schema import READ_ERRORS, ErrorSerializer

logger = logging.getLogger(__name__)

MIN_DATE, MAX_DATE = dt.date(1900, 1, 1), dt.date(2999, 12, 31)
MAX_ID = 2**63 - 1


def _date_field(**kwargs) -> serializers.DateField:
    def in_range(value: dt.date) -> None:
        if not MIN_DATE <= value <= MAX_DATE:
            raise serializers.ValidationError(f"Between {MIN_DATE} and {MAX_DATE}.")

    return serializers.DateField(validators=[in_range], **kwargs)


def _unwrap_optional(hint: Any) -> tuple[Any, bool]:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        nullable = len(args) < len(typing.get_args(hint))
        return (args[0] if len(args) == 1 else Any), nullable
    return hint, False


def _field_for(
    hint: Any, *, for_input: bool, name: str, path: str, bounds: Mapping[str, Any] | None = None
) -> serializers.Field:
    """A serializer field for a dataclass type hint (inputs are optional query parameters).

    `bounds` is the query field's metadata (`minimum`/`maximum`), so the schema states the
    range the report accepts and a generated client or fuzzer stays inside it."""
    hint, nullable = _unwrap_optional(hint)
    common: dict[str, Any] = {"required": False} if for_input else {"allow_null": nullable}
    origin = typing.get_origin(hint)
    if origin is typing.Literal and for_input:
        return serializers.ChoiceField(choices=[str(v) for v in typing.get_args(hint)], **common)
    if hint is bool:
        return serializers.BooleanField(**common)
    if hint is int:
        if for_input:
            bounds = bounds or {}
            return serializers.IntegerField(
                min_value=bounds.get("minimum", -(2**31)), max_value=bounds.get("maximum", 2**31 - 1), **common
            )
        return serializers.IntegerField(**common)
    if hint is float:
        return serializers.FloatField(**common)
    if hint is Decimal:
        return serializers.DecimalField(max_digits=20, decimal_places=2, **common)
    if hint is dt.datetime:
        return serializers.DateTimeField(**common)
    if hint is dt.date:
        return _date_field(**common) if for_input else serializers.DateField(**common)
    if hint is str:
        return serializers.CharField(max_length=200, **common) if for_input else serializers.CharField(**common)
    if origin in (list, tuple) and not for_input:
        args = typing.get_args(hint)
        return serializers.ListField(child=_field_for(args[0] if args else Any, for_input=False, name=name, path=path))
    if origin is dict and not for_input:
        args = typing.get_args(hint)
        child = (
            _field_for(args[1], for_input=False, name=name, path=path) if len(args) == 2 else serializers.JSONField()
        )
        return serializers.DictField(child=child, **common)
    if dataclasses.is_dataclass(hint) and not for_input:
        return dataclass_serializer(hint, path=f"{path}{hint.__name__}")(**common)
    return serializers.JSONField(**common) if not for_input else serializers.CharField(max_length=200, **common)


_SERIALIZERS: dict[str, type[serializers.Serializer]] = {}


def dataclass_serializer(cls: type, *, path: str) -> type[serializers.Serializer]:
    """A read serializer mirroring a result dataclass (for the OpenAPI schema)."""
    name = f"{path}"
    if name in _SERIALIZERS:
        return _SERIALIZERS[name]
    hints = typing.get_type_hints(cls)
    attrs = {
        f.name: _field_for(hints[f.name], for_input=False, name=f.name, path=path) for f in dataclasses.fields(cls)
    }
    serializer = type(name, (serializers.Serializer,), attrs)
    _SERIALIZERS[name] = serializer
    return serializer


FILTER_FIELDS = {
    "period_start": lambda: _date_field(required=False, help_text="First day of the period (YYYY-MM-DD)."),
    "period_end": lambda: _date_field(required=False, help_text="Last day of the period (YYYY-MM-DD)."),
    "channel": lambda: serializers.ChoiceField(
        choices=Channel.choices, required=False, help_text="Acquisition channel."
    ),
    "campaign": lambda: serializers.IntegerField(
        min_value=1, max_value=MAX_ID, required=False, help_text="Campaign id."
    ),
    "owner": lambda: serializers.IntegerField(
        min_value=1, max_value=MAX_ID, required=False, help_text="Owner user id."
    ),
    "segment": lambda: serializers.IntegerField(min_value=1, max_value=MAX_ID, required=False, help_text="Segment id."),
}


@dataclasses.dataclass(frozen=True)
class ReportSpec:
    """What a report module offers the API: its name, query and result types and its function."""

    name: str
    query_class: type
    result_class: type | None
    run: Any
    doc: str

    def params_serializer(self) -> type[serializers.Serializer]:
        attrs: dict[str, Any] = {}
        hints = typing.get_type_hints(self.query_class)
        for f in dataclasses.fields(self.query_class):
            if f.name == "filters":
                attrs.update({name: make() for name, make in FILTER_FIELDS.items()})
            else:
                attrs[f.name] = _field_for(hints[f.name], for_input=True, name=f.name, path="", bounds=f.metadata)
        return type(f"{_camel(self.name)}ReportParams", (serializers.Serializer,), attrs)

    def response_serializer(self) -> Any:
        if self.result_class is None or not dataclasses.is_dataclass(self.result_class):
            return inline_serializer(f"{_camel(self.name)}Report", {"result": serializers.JSONField()})
        return dataclass_serializer(self.result_class, path=f"{_camel(self.name)}Report")


def _camel(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


def discover_reports() -> list[ReportSpec]:
    """Every module of analytics.reports that has a `*Query` dataclass and a `<module>_report` function."""
    specs = []
    for name, module in sorted(REPORTS.items()):
        run = getattr(module, f"{name}_report", None)
        query_class = next(
            (
                obj
                for attr, obj in vars(module).items()
                if attr.endswith("Query") and dataclasses.is_dataclass(obj) and obj.__module__ == module.__name__
            ),
            None,
        )
        if run is None or query_class is None:
            continue
        result_hint = typing.get_type_hints(run).get("return")
        specs.append(
            ReportSpec(
                name=name,
                query_class=query_class,
                result_class=result_hint,
                run=run,
                doc=(module.__doc__ or "").strip(),
            )
        )
    return specs


class ReportApi(APIView):
    """Base of the generated report endpoints."""

    spec: ReportSpec
    params_serializer: type[serializers.Serializer]
    read_roles = ALL_ROLES

    def get(self, request: Request) -> Response:
        params = self.params_serializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        values = dict(params.validated_data)
        filter_values = {
            "period_start": values.pop("period_start", None),
            "period_end": values.pop("period_end", None),
            "channel": values.pop("channel", None),
            "campaign_id": values.pop("campaign", None),
            "owner_id": values.pop("owner", None),
            "segment_id": values.pop("segment", None),
        }
        kwargs = {k: v for k, v in values.items() if v is not None}
        if "filters" in {f.name for f in dataclasses.fields(self.spec.query_class)}:
            kwargs["filters"] = ReportFilters(**filter_values)
        try:
            query = self.spec.query_class(**kwargs)
            if hasattr(query, "validate"):
                query.validate()
            result = self.spec.run(query)
        except DjangoValidationError:
            raise
        except (TypeError, ValueError) as exc:
            raise serializers.ValidationError({"non_field_errors": [str(exc)]}) from None
        return Response(result.as_dict() if hasattr(result, "as_dict") else result)


def report_view(spec: ReportSpec, *, name: str | None = None):
    """An APIView class for one report, with its OpenAPI description."""
    params = spec.params_serializer()
    summary = spec.doc.splitlines()[0] if spec.doc else f"The {spec.name} report"

    # A function of its own per report: extend_schema annotates the function object.
    def get(self, request: Request) -> Response:
        return ReportApi.get(self, request)

    get = extend_schema(
        summary=summary,
        description=spec.doc,
        parameters=[params],
        responses={200: spec.response_serializer(), **READ_ERRORS},
        operation_id=f"analytics_{name or spec.name}",
    )(get)
    return type(
        f"{_camel(name or spec.name)}ReportApi", (ReportApi,), {"spec": spec, "params_serializer": params, "get": get}
    )


_BGNBD = inline_serializer(
    "BgNbdParameters",
    {
        "r": serializers.FloatField(allow_null=True),
        "alpha": serializers.FloatField(allow_null=True),
        "a": serializers.FloatField(allow_null=True),
        "b": serializers.FloatField(allow_null=True),
        "loglik": serializers.FloatField(allow_null=True),
    },
)
_GG = inline_serializer(
    "GammaGammaParameters",
    {
        "p": serializers.FloatField(allow_null=True),
        "q": serializers.FloatField(allow_null=True),
        "gamma": serializers.FloatField(allow_null=True),
        "loglik": serializers.FloatField(allow_null=True),
    },
)
CLV_MODEL = inline_serializer(
    "ClvModelFit",
    {
        "as_of": serializers.DateField(),
        "n_customers": serializers.IntegerField(),
        "bgnbd": _BGNBD,
        "gamma_gamma": _GG,
        "model": serializers.ChoiceField(choices=["bgnbd", "mbgnbd", "pareto_nbd"]),
        "model_label": serializers.CharField(),
        "choice": serializers.DictField(allow_null=True),
        "params": serializers.DictField(child=serializers.FloatField()),
        "standard_errors": serializers.DictField(child=serializers.FloatField(allow_null=True)),
        "loglik": serializers.FloatField(allow_null=True),
        "holdout": serializers.DictField(allow_null=True),
        "backtest_id": serializers.IntegerField(allow_null=True),
        "models": serializers.DictField(),
        "spend": serializers.DictField(allow_null=True),
        "guidance": serializers.ListField(child=serializers.CharField()),
    },
)
CLV_BACKTEST = inline_serializer(
    "ClvBacktest",
    {
        "id": serializers.IntegerField(),
        "as_of": serializers.DateField(),
        "calibration_end": serializers.DateField(),
        "holdout_end": serializers.DateField(),
        "n_customers": serializers.IntegerField(),
        "actual_total": serializers.FloatField(),
        "chosen_model": serializers.CharField(),
        "reason": serializers.CharField(),
        "models": serializers.DictField(),
        "by_frequency": serializers.DictField(),
        "tracking": serializers.DictField(),
    },
)


class ClvModelApi(APIView):
    """The latest fit of the BG/NBD and Gamma-Gamma models (parameters, log-likelihoods, sample size)."""

    read_roles = ALL_ROLES

    @extend_schema(
        summary="The latest CLV model fit",
        responses={
            200: CLV_MODEL,
            404: OpenApiResponse(ErrorSerializer, description="No model has been fitted yet."),
            **{k: v for k, v in READ_ERRORS.items() if k != 404},
        },
        operation_id="analytics_clv_model",
    )
    def get(self, request: Request) -> Response:
        fit = clv_model_fit_latest()
        if fit is None:
            raise NotFound(
                "No CLV model has been fitted yet: run `manage.py recompute_lifecycle` (or wait for the nightly run)."
            )
        return Response(clv_model_fit_as_dict(fit))


class ClvBacktestApi(APIView):
    """The latest calibration/holdout backtest of the purchase models: per-model errors and the charts' series."""

    read_roles = ALL_ROLES

    @extend_schema(
        summary="The latest CLV backtest",
        responses={
            200: CLV_BACKTEST,
            404: OpenApiResponse(ErrorSerializer, description="No backtest has been run yet."),
            **{k: v for k, v in READ_ERRORS.items() if k != 404},
        },
        operation_id="analytics_clv_backtest",
    )
    def get(self, request: Request) -> Response:
        backtest = clv_backtest_latest()
        if backtest is None:
            raise NotFound(
                "No CLV backtest has been run yet: the recompute runs one when there is enough purchase history."
            )
        return Response(clv_backtest_as_dict(backtest))
