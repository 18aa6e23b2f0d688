"""Issue 19 finding 11: the schema states the types, ranges and enums the server enforces."""

import pytest
from drf_spectacular.generators import SchemaGenerator

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def schema():
    return SchemaGenerator().get_schema(request=None, public=True)


def _params(schema, path: str) -> dict[str, dict]:
    return {p["name"]: p["schema"] for p in schema["paths"][path]["get"]["parameters"]}


def test_contact_filters_are_typed_as_the_server_parses_them(schema):
    params = _params(schema, "/api/v1/contacts/")
    for name in ("owner_id", "tag_id", "stage_id"):
        assert params[name] == {"type": "array", "items": {"type": "integer", "minimum": 1, "maximum": 2**63 - 1}}
    for name in ("at_risk", "mine", "unowned"):
        assert params[name] == {"type": "boolean"}
    assert params["segment"]["type"] == "integer"
    assert params["rfm_segment"]["type"] == "array"
    assert "" not in params["rfm_segment"]["items"]["enum"] and "champions" in params["rfm_segment"]["items"]["enum"]
    assert params["clv_min"]["format"] == "decimal"


def test_report_parameters_carry_their_ranges_and_choices(schema, admin_client):
    assert _params(schema, "/api/v1/analytics/campaign_performance/")["window_days"] == {
        "type": "integer",
        "minimum": 1,
        "maximum": 3660,
    }
    assert _params(schema, "/api/v1/analytics/cohort_retention/")["months"]["maximum"] == 120
    assert set(_params(schema, "/api/v1/analytics/top_customers/")["measure"]["enum"]) == {"predicted", "historic"}
    assert admin_client.get("/api/v1/analytics/campaign_performance/?window_days=0").status_code == 400
    assert admin_client.get("/api/v1/analytics/top_customers/?measure=median").status_code == 400


def test_json_fields_are_typed(schema):
    components = schema["components"]["schemas"]
    conditions = components["StageRule"]["properties"]["conditions"]
    metrics = {option["properties"]["metric"]["enum"][0] for option in conditions["items"]["oneOf"]}
    from stages.rules import METRICS

    assert metrics == set(METRICS)
    assert components["Segment"]["properties"]["filters"]["additionalProperties"] is False
    assert components["Contact"]["properties"]["attributes"]["maxProperties"] == 200
    moved = components["ContactMergeResult"]["properties"]["moved"]
    assert moved["additionalProperties"] == {"type": "integer", "minimum": 0}
