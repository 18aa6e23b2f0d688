"""Benchmark: our BG/NBD + Gamma-Gamma fit against the `lifetimes` package, side by side.

Generates N synthetic customers from the BG/NBD and Gamma-Gamma processes (seeded),
times `analytics.clv.bgnbd_fit` + `gamma_gamma_fit` in this interpreter, then times
lifetimes 0.11.3's `BetaGeoFitter` + `GammaGammaFitter` on the very same arrays in a
separate virtualenv (lifetimes is never a dependency of the app: it pins old stacks and
is only a yardstick here). Both fits must land on the same parameters, which the
output shows.

    .venv/bin/python bench/bench_clv.py --customers 1000000

The lifetimes half runs in `bench/.venv-lifetimes` (gitignored). It is created on first
use with `python -m venv` + `pip install lifetimes==0.11.3` unless `--no-install` is
given; when it is absent and cannot be created that half is skipped with a message.
"""

from __future__ import annotations

import os

# Both halves run with one BLAS thread (the lifetimes subprocess inherits the environment),
# as the app does (see analytics/__init__.py); set OPENBLAS_NUM_THREADS to compare otherwise.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import json
import subprocess
import sys
import tempfile
import time
import venv
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from analytics import clv  # noqa: E402  (needs the repo on sys.path first)

LIFETIMES_VERSION = "0.11.3"
TRUE_BGNBD = clv.BGNBDParams(r=0.243, alpha=4.414, a=0.793, b=2.426)  # CDNOW estimates
TRUE_GG = clv.GammaGammaParams(p=6.25, q=3.74, gamma=15.44)

# Runs inside the lifetimes virtualenv: reads the arrays, fits, prints JSON timings.
LIFETIMES_SCRIPT = r"""
import json, sys, time, warnings
import numpy as np
import pandas as pd
warnings.simplefilter("ignore")
from lifetimes import BetaGeoFitter, GammaGammaFitter
data = np.load(sys.argv[1])
frequency = pd.Series(data["x"]); recency = pd.Series(data["t_x"]); T = pd.Series(data["T"])
started = time.perf_counter()
bg = BetaGeoFitter().fit(frequency, recency, T)
bg_s = time.perf_counter() - started
repeat = data["x"] > 0
started = time.perf_counter()
gg = GammaGammaFitter().fit(pd.Series(data["x"][repeat]), pd.Series(data["m"][repeat]))
gg_s = time.perf_counter() - started
print(json.dumps({
    "bgnbd_s": bg_s, "gamma_gamma_s": gg_s,
    "bgnbd": {k: float(v) for k, v in bg.params_.items()},
    "gamma_gamma": {k: float(v) for k, v in gg.params_.items()},
}))
"""


def lifetimes_python(venv_dir: Path, *, install: bool) -> Path | None:
    """Python of the lifetimes virtualenv, creating it if allowed; None when unavailable."""
    python = venv_dir / "bin" / "python"
    if python.exists():
        return python
    if not install:
        print(f"lifetimes: {venv_dir} is absent and --no-install was given; skipping that half")
        return None
    print(f"lifetimes: creating {venv_dir} and installing lifetimes=={LIFETIMES_VERSION} ...", flush=True)
    try:
        venv.create(venv_dir, with_pip=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", f"lifetimes=={LIFETIMES_VERSION}"],
            check=True,
        )
    except (OSError, subprocess.CalledProcessError) as exc:
        print(f"lifetimes: could not set up the virtualenv ({exc}); skipping that half")
        return None
    return python


def run_lifetimes(python: Path, data: clv.CustomerSummary) -> dict | None:
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "customers.npz")
        np.savez(path, x=data.x, t_x=data.t_x, T=data.T, m=data.m)
        proc = subprocess.run([str(python), "-c", LIFETIMES_SCRIPT, path], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        print("lifetimes: the fit failed; skipping that half\n" + proc.stderr[-2000:])
        return None
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=100_000, help="synthetic customers (default 100000)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--repeat", type=int, default=3, help="runs of our fit; the best is reported")
    parser.add_argument("--lifetimes-venv", type=Path, default=REPO / "bench" / ".venv-lifetimes")
    parser.add_argument("--no-install", action="store_true", help="never create the lifetimes virtualenv")
    parser.add_argument("--skip-lifetimes", action="store_true")
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    args = parser.parse_args()

    started = time.perf_counter()
    data = clv.simulate_customers(args.customers, bgnbd=TRUE_BGNBD, gamma_gamma=TRUE_GG, seed=args.seed)
    n_repeat = int((data.x > 0).sum())
    print(
        f"{len(data):,} customers ({n_repeat:,} with repeat purchases), generated in "
        f"{time.perf_counter() - started:.2f} s; true BG/NBD {TRUE_BGNBD}, Gamma-Gamma {TRUE_GG}"
    )

    ours: dict = {}
    for _ in range(max(args.repeat, 1)):
        bg = clv.bgnbd_fit(data.x, data.t_x, data.T)
        gg = clv.gamma_gamma_fit(data.x, data.m)
        total = bg.duration_s + gg.duration_s
        if not ours or total < ours["total_s"]:
            ours = {"bgnbd_s": bg.duration_s, "gamma_gamma_s": gg.duration_s, "total_s": total, "bg": bg, "gg": gg}
    bg, gg = ours["bg"], ours["gg"]
    print(
        f"ours      BG/NBD {ours['bgnbd_s']:7.3f} s ({bg.n_groups:,} distinct rows, {bg.iterations} it)  "
        f"Gamma-Gamma {ours['gamma_gamma_s']:7.3f} s  total {ours['total_s']:7.3f} s"
    )
    print(
        f"          r={bg.params.r:.4f} alpha={bg.params.alpha:.4f} a={bg.params.a:.4f} b={bg.params.b:.4f} "
        f"LL={bg.loglik:.1f}  p={gg.params.p:.4f} q={gg.params.q:.4f} gamma={gg.params.gamma:.4f}"
    )
    result: dict = {
        "customers": len(data),
        "ours": {
            "bgnbd_s": ours["bgnbd_s"],
            "gamma_gamma_s": ours["gamma_gamma_s"],
            "bgnbd": bg.params.as_dict(),
            "gamma_gamma": gg.params.as_dict(),
            "bgnbd_loglik": bg.loglik,
        },
    }

    python = None if args.skip_lifetimes else lifetimes_python(args.lifetimes_venv, install=not args.no_install)
    theirs = run_lifetimes(python, data) if python else None
    if theirs:
        total = theirs["bgnbd_s"] + theirs["gamma_gamma_s"]
        lb, lg = theirs["bgnbd"], theirs["gamma_gamma"]
        # lifetimes reports its likelihood in rescaled time; score its parameters with ours.
        their_params = clv.BGNBDParams(r=lb["r"], alpha=lb["alpha"], a=lb["a"], b=lb["b"])
        theirs["bgnbd_loglik"] = float(clv.bgnbd_loglik(their_params, data.x, data.t_x, data.T).sum())
        print(
            f"lifetimes BG/NBD {theirs['bgnbd_s']:7.3f} s  Gamma-Gamma {theirs['gamma_gamma_s']:7.3f} s  "
            f"total {total:7.3f} s"
        )
        print(
            f"          r={lb['r']:.4f} alpha={lb['alpha']:.4f} a={lb['a']:.4f} b={lb['b']:.4f} "
            f"LL={theirs['bgnbd_loglik']:.1f}  p={lg['p']:.4f} q={lg['q']:.4f} gamma={lg['v']:.4f}"
        )
        speedup = total / ours["total_s"]
        print(
            f"speed-up  BG/NBD {theirs['bgnbd_s'] / ours['bgnbd_s']:.1f}x  "
            f"Gamma-Gamma {theirs['gamma_gamma_s'] / ours['gamma_gamma_s']:.1f}x  total {speedup:.1f}x"
        )
        result["lifetimes"] = theirs
        result["speedup_total"] = speedup
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
