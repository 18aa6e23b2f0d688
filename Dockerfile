# Lifecycle CRM production image: gunicorn for the web, the same image for Celery worker and beat.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# An unprivileged user runs every process; /var/lib/crm holds beat's schedule file.
RUN groupadd --system --gid 10001 crm \
    && useradd --system --uid 10001 --gid crm --home-dir /home/crm --create-home crm \
    && mkdir -p /var/lib/crm \
    && chown crm:crm /var/lib/crm

# Dependencies first, so a code change does not reinstall them (psycopg2-binary, numpy and
# scipy ship wheels: no compiler needed).
COPY requirements.txt .
RUN pip install -r requirements.txt

COPY --chown=crm:crm . .

# Static files are collected (hashed and compressed by WhiteNoise) at build time; the
# throw-away key only lets the settings load, it is never used to sign anything.
RUN DJANGO_SECRET_KEY=collectstatic-only-not-a-secret python manage.py collectstatic --noinput --verbosity 0

USER crm
EXPOSE 8000

# Options live in gunicorn.conf.py (one worker per core, two threads each); GUNICORN_CMD_ARGS overrides them.
CMD ["gunicorn", "lifecycle_crm.wsgi:application"]
