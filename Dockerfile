# syntax=docker/dockerfile:1
# runbookd container image.
#
#   docker build -t runbookd .
#   docker run -p 9096:9096 -v runbookd-data:/var/lib/runbookd --read-only --tmpfs /tmp \
#     -e RUNBOOKD_ADMIN_TOKEN=… -e SLACK_BOT_TOKEN=… -e PAGERDUTY_ROUTING_KEY=… runbookd
#
# It runs as the unprivileged user runbookd (uid 10001) and works on a read-only root filesystem: it
# writes only the data volume /var/lib/runbookd (the SQLite database and its WAL) and /tmp. deploy/
# runs it that way with Compose and on Kubernetes (docs/operations.md, "Deployments"); tests/deploy/
# checks this file and runs runbookd on a read-only root.
#
# The shipped runbookd.yml and rules/ are in /etc/runbookd (mount your own over them); every setting and
# secret comes from the environment (see runbookd.yml). Dry run stays on until RUNBOOKD_DRY_RUN=false.

FROM python:3.11-slim AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY receiver ./receiver
# Wheels of runbookd and all its dependencies, so the final image holds no build tools or sources.
RUN pip wheel --wheel-dir /wheels .

FROM python:3.11-slim
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels pip install --no-index /wheels/*.whl

# An unprivileged user that owns only the data directory; the config stays read-only to it.
RUN useradd --system --uid 10001 --user-group --home-dir /var/lib/runbookd --create-home \
        --shell /usr/sbin/nologin runbookd
COPY runbookd.yml /etc/runbookd/runbookd.yml
COPY rules /etc/runbookd/rules

# Listen on all interfaces inside the container; the database on the volume, not in /etc.
ENV RUNBOOKD_LISTEN=0.0.0.0:9096 \
    RUNBOOKD_STORAGE=sqlite:////var/lib/runbookd/runbookd.db
VOLUME ["/var/lib/runbookd"]
WORKDIR /var/lib/runbookd
USER runbookd:runbookd
EXPOSE 9096

# /-/healthy on the port RUNBOOKD_LISTEN names; urlopen raises (exit 1) on a refused connection or non-2xx.
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; port = os.environ.get('RUNBOOKD_LISTEN', '0.0.0.0:9096').rpartition(':')[2]; urllib.request.urlopen(f'http://127.0.0.1:{port}/-/healthy', timeout=4)"]

CMD ["runbookd", "serve", "--config", "/etc/runbookd/runbookd.yml"]
