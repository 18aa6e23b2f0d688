from django.urls import path
from rest_framework.routers import SimpleRouter

from stages.api.views import (
    RuleApplicationViewSet,
    StageRuleDryRunApi,
    StageRuleViewSet,
    StageViewSet,
    TransitionViewSet,
)

router = SimpleRouter()
router.register("stages", StageViewSet, basename="stage")
router.register("stage-rules", StageRuleViewSet, basename="stage-rule")
router.register("transitions", TransitionViewSet, basename="transition")
router.register("rule-applications", RuleApplicationViewSet, basename="rule-application")
urlpatterns = [
    path("stage-rules/dry-run/", StageRuleDryRunApi.as_view(), name="stage-rule-dry-run"),
    *router.urls,
]
