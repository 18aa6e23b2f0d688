"""The OpenAPI shape of a stage rule's `conditions`, generated from the metric registry (stages.rules.METRICS).

Why generated: the registry is the one list of metrics, their operators, value types,
bounds and parameters; a schema written by hand would drift from it. Each metric becomes
one object shape (its `metric` a one-value enum), so a generated client offers exactly the
conditions the server accepts.
"""

from __future__ import annotations

from typing import Any

from contacts.models import TouchpointKind
from stages.rules import MAX_DAYS, METRICS, Metric

_PARAM_SCHEMAS: dict[str, dict[str, Any]] = {
    "days": {"type": "integer", "minimum": 1, "maximum": MAX_DAYS, "nullable": True},
    "kinds": {"type": "array", "minItems": 1, "items": {"type": "string", "enum": sorted(TouchpointKind.values)}},
}


def _value_schema(metric: Metric) -> dict[str, Any]:
    if metric.value_type == "bool":
        return {"type": "boolean"}
    schema: dict[str, Any] = {"type": "integer" if metric.value_type == "int" else "number"}
    if metric.minimum is not None:
        schema["minimum"] = metric.minimum
    if metric.maximum is not None:
        schema["maximum"] = metric.maximum
    return schema


def _condition_schema(metric: Metric) -> dict[str, Any]:
    params = {
        "type": "object",
        "additionalProperties": False,
        "properties": {name: _PARAM_SCHEMAS[kind] for name, kind in metric.params.items()},
    }
    if metric.required:
        params["required"] = sorted(metric.required)
    return {
        "type": "object",
        "title": f"Condition on {metric.name}",
        "description": metric.help,
        "additionalProperties": False,
        "required": ["metric", "op", "value", *(["params"] if metric.required else [])],
        "properties": {
            "metric": {"type": "string", "enum": [metric.name]},
            "op": {"type": "string", "enum": list(metric.ops)},
            "value": _value_schema(metric),
            "params": params,
        },
    }


CONDITIONS_SCHEMA: dict[str, Any] = {
    "type": "array",
    "minItems": 1,
    "items": {"oneOf": [_condition_schema(metric) for metric in METRICS.values()]},
    "description": "All must hold (or any, by `match`); one object per condition, shaped by its metric.",
}
