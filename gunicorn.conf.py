"""gunicorn's settings for the web process (gunicorn reads ./gunicorn.conf.py by itself).

One worker process per core with two threads each: on the 2-core benchmark machine this
served single touchpoint POSTs at 100/s with p95 25-77 ms, where 3 workers x 4 threads
queued them to 0.3-0.9 s (BENCHMARKS.md, REST API). `WEB_CONCURRENCY` sets the number of
workers; any option can still be changed with `GUNICORN_CMD_ARGS`, which overrides this file.
"""

import os

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("WEB_CONCURRENCY") or os.cpu_count() or 2)
worker_class = "gthread"
threads = 2
timeout = 60
accesslog = "-"
