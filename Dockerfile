# syntax=docker/dockerfile:1
# invoicebot's image: `docker build -t invoicebot .`, then see docker-compose.yml and the README's
# "Deploying on a container platform". No setting is baked in: secrets and DATABASE_URL come from
# the platform's environment at run time (.dockerignore keeps .env and databases out of the context).
#
# tests/test_container.py replays these steps outside Docker (the wheel, a clean venv, the command
# and the HEALTHCHECK below, parsed from this file); keep the two in step.

# --- build: the wheel, installed with its dependencies into a venv the final stage copies ---------
FROM python:3.11-slim-bookworm AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
# Only what the wheel is built from (pyproject's readme is README.md).
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY handlers ./handlers

RUN python -m pip wheel --no-deps --wheel-dir /wheels . \
 && python -m venv /opt/invoicebot \
 && /opt/invoicebot/bin/python -m pip install /wheels/*.whl

# --- the image: the venv, two small scripts, an unprivileged user ---------------------------------
# The same base as the build stage: the venv's python is a link to this image's /usr/local/bin/python3.11.
FROM python:3.11-slim-bookworm

ENV VIRTUAL_ENV=/opt/invoicebot \
    PATH=/opt/invoicebot/bin:$PATH \
    PYTHONUNBUFFERED=1

# A system user whose home is the working directory: with the SQLite default (development only),
# invoicebot.db lands there, writable by the bot and no one else. The code stays root's, read-only.
RUN groupadd --system --gid 10001 invoicebot \
 && useradd --system --uid 10001 --gid invoicebot --create-home --home-dir /app --shell /usr/sbin/nologin invoicebot

COPY --from=build /opt/invoicebot /opt/invoicebot
COPY --chmod=0755 deploy/start.sh /usr/local/bin/invoicebot-start
COPY --chmod=0644 deploy/healthcheck.py /usr/local/lib/invoicebot/healthcheck.py

WORKDIR /app
# Numeric, so that Kubernetes' runAsNonRoot can verify it is not root.
USER 10001:10001

# HOST and PORT are the bot's settings (0.0.0.0 and 3000 by default); a platform that assigns the
# port through PORT is obeyed, and the health check reads the same variables.
EXPOSE 3000

# /healthz is 200 while the database answers and every worker runs, 503 otherwise; it is cheap
# enough to probe every few seconds. start-period covers the migrations and the workers' start.
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "/usr/local/lib/invoicebot/healthcheck.py"]

# Migrations, then `invoicebot serve` (deploy/start.sh). Another command runs instead of it, e.g.
# `docker run IMAGE invoicebot migrate` as a platform's release step.
CMD ["invoicebot-start"]
