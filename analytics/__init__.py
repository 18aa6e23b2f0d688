"""Analytics: customer value (CLV models, RFM), reports, snapshots."""

import os

# One BLAS thread for the CLV fits. The vectors L-BFGS-B and our sums hand to OpenBLAS are
# tiny, so extra threads never help, and on a busy 2-core worker waking them costs a
# scheduler tick per call: measured 0.68 s instead of 0.05 s for one BG/NBD fit. Django
# imports app packages before any model code, so this runs before NumPy is loaded; an
# explicit OPENBLAS_NUM_THREADS in the environment still wins.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
