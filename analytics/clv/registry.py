"""The purchase models side by side: one record per model with its fit and prediction functions.

The backtest, the model choice, the intervals and the service treat BG/NBD, MBG/NBD and
Pareto/NBD alike through this table, so adding a model is one entry here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from analytics.clv import bgnbd, mbgnbd, pareto_nbd


@dataclass(frozen=True, slots=True)
class PurchaseModel:
    """A purchase model: its name, parameter names, likelihood data class and prediction functions."""

    name: str
    label: str
    param_names: tuple[str, ...]
    params_cls: type
    data_cls: type
    fit: Callable[..., Any]
    expected_purchases: Callable[..., np.ndarray]
    probability_alive: Callable[..., np.ndarray]
    expected_new_customer: Callable[..., np.ndarray]

    def params_from(self, values: Any) -> Any:
        """A params object from a sequence in `param_names` order or a mapping."""
        if isinstance(values, dict):
            return self.params_cls(**{k: float(values[k]) for k in self.param_names})
        return self.params_cls(*(float(v) for v in values))

    def params_vector(self, params: Any) -> np.ndarray:
        return np.array([getattr(params, k) for k in self.param_names], dtype=np.float64)


MODELS: dict[str, PurchaseModel] = {
    "bgnbd": PurchaseModel(
        name="bgnbd",
        label="BG/NBD",
        param_names=("r", "alpha", "a", "b"),
        params_cls=bgnbd.BGNBDParams,
        data_cls=bgnbd._BGNBDData,
        fit=bgnbd.bgnbd_fit,
        expected_purchases=bgnbd.bgnbd_expected_purchases,
        probability_alive=bgnbd.bgnbd_probability_alive,
        expected_new_customer=bgnbd.bgnbd_expected_purchases_new_customer,
    ),
    "mbgnbd": PurchaseModel(
        name="mbgnbd",
        label="MBG/NBD",
        param_names=("r", "alpha", "a", "b"),
        params_cls=mbgnbd.MBGNBDParams,
        data_cls=mbgnbd._MBGNBDData,
        fit=mbgnbd.mbgnbd_fit,
        expected_purchases=mbgnbd.mbgnbd_expected_purchases,
        probability_alive=mbgnbd.mbgnbd_probability_alive,
        expected_new_customer=mbgnbd.mbgnbd_expected_purchases_new_customer,
    ),
    "pareto_nbd": PurchaseModel(
        name="pareto_nbd",
        label="Pareto/NBD",
        param_names=("r", "alpha", "s", "beta"),
        params_cls=pareto_nbd.ParetoNBDParams,
        data_cls=pareto_nbd._ParetoNBDData,
        fit=pareto_nbd.pareto_nbd_fit,
        expected_purchases=pareto_nbd.pareto_nbd_expected_purchases,
        probability_alive=pareto_nbd.pareto_nbd_probability_alive,
        expected_new_customer=pareto_nbd.pareto_nbd_expected_purchases_new_customer,
    ),
}
MODEL_NAMES: tuple[str, ...] = tuple(MODELS)


def purchase_model(name: str) -> PurchaseModel:
    """The model registered under `name`; ValueError names the choices."""
    try:
        return MODELS[name]
    except KeyError:
        raise ValueError(f"unknown purchase model {name!r}; choose one of {', '.join(MODELS)}") from None
