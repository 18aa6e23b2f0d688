"""Customer-value models, pure NumPy/SciPy (no Django): one module per model and per step.

bgnbd, mbgnbd, pareto_nbd — purchase models; gamma_gamma — spend; registry — the purchase
models side by side; value — discounted CLV; backtest — calibration/holdout evaluation;
intervals — standard errors and CLV intervals; selection — the choice of the live model;
spend — when Gamma-Gamma may be used; simulate — synthetic bases. The names most callers
need are re-exported here, so `from analytics import clv; clv.bgnbd_fit(...)` keeps working.
"""

from analytics.clv.bgnbd import (
    BGNBDFit,
    BGNBDParams,
    _BGNBDData,
    bgnbd_expected_purchases,
    bgnbd_expected_purchases_new_customer,
    bgnbd_fit,
    bgnbd_loglik,
    bgnbd_probability_alive,
)
from analytics.clv.common import (
    DAYS_PER_WEEK,
    WEEKS_PER_MONTH,
    CustomerSummary,
    PurchaseFit,
    group_customers,
    summarize_purchases,
)
from analytics.clv.gamma_gamma import (
    GammaGammaFit,
    GammaGammaParams,
    _GammaGammaData,
    gamma_gamma_expected_spend,
    gamma_gamma_fit,
    gamma_gamma_loglik,
)
from analytics.clv.mbgnbd import (
    MBGNBDParams,
    _MBGNBDData,
    mbgnbd_expected_purchases,
    mbgnbd_expected_purchases_new_customer,
    mbgnbd_fit,
    mbgnbd_loglik,
    mbgnbd_probability_alive,
)
from analytics.clv.pareto_nbd import (
    ParetoNBDParams,
    _ParetoNBDData,
    pareto_nbd_expected_purchases,
    pareto_nbd_expected_purchases_new_customer,
    pareto_nbd_fit,
    pareto_nbd_loglik,
    pareto_nbd_probability_alive,
)
from analytics.clv.registry import MODEL_NAMES, MODELS, PurchaseModel, purchase_model
from analytics.clv.simulate import simulate_customers
from analytics.clv.value import (
    discounted_clv,
    discounted_expected_purchases,
    discounted_expected_purchases_grouped,
    model_of,
)

__all__ = [
    "DAYS_PER_WEEK",
    "MODELS",
    "MODEL_NAMES",
    "WEEKS_PER_MONTH",
    "BGNBDFit",
    "BGNBDParams",
    "CustomerSummary",
    "GammaGammaFit",
    "GammaGammaParams",
    "MBGNBDParams",
    "ParetoNBDParams",
    "PurchaseFit",
    "PurchaseModel",
    "_BGNBDData",
    "_GammaGammaData",
    "_MBGNBDData",
    "_ParetoNBDData",
    "bgnbd_expected_purchases",
    "bgnbd_expected_purchases_new_customer",
    "bgnbd_fit",
    "bgnbd_loglik",
    "bgnbd_probability_alive",
    "discounted_clv",
    "discounted_expected_purchases",
    "discounted_expected_purchases_grouped",
    "gamma_gamma_expected_spend",
    "gamma_gamma_fit",
    "gamma_gamma_loglik",
    "group_customers",
    "mbgnbd_expected_purchases",
    "mbgnbd_expected_purchases_new_customer",
    "mbgnbd_fit",
    "mbgnbd_loglik",
    "mbgnbd_probability_alive",
    "model_of",
    "pareto_nbd_expected_purchases",
    "pareto_nbd_expected_purchases_new_customer",
    "pareto_nbd_fit",
    "pareto_nbd_loglik",
    "pareto_nbd_probability_alive",
    "purchase_model",
    "simulate_customers",
    "summarize_purchases",
]
