from rest_framework.routers import SimpleRouter

from stages.api.views import StageRuleViewSet, StageViewSet, TransitionViewSet

router = SimpleRouter()
router.register("stages", StageViewSet, basename="stage")
router.register("stage-rules", StageRuleViewSet, basename="stage-rule")
router.register("transitions", TransitionViewSet, basename="transition")
urlpatterns = router.urls
