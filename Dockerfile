# consent-proxy container image. Build: docker build -t consent-proxy .
# Run:   docker run --rm -p 127.0.0.1:8000:8000 -p 127.0.0.1:9090:9090 \
#          -e CONSENT_PROXY_UPSTREAM=http://origin.internal:8080 consent-proxy
# Config: mount a directory holding config.yaml over /etc/consent-proxy (a directory, never a
# single file, so an edited file or a Kubernetes ConfigMap swap is seen and reloaded).
#
# BASE_IMAGE is an official tag, deliberately not a digest: pin your own digest in your build
# pipeline. Both stages use the same base so the virtualenv's interpreter path matches.
ARG BASE_IMAGE=python:3.11-slim-bookworm

FROM ${BASE_IMAGE} AS build
# Optional offline build (deploy/docker-smoke.sh): a wheelhouse/ directory in the build context
# plus --build-arg PIP_NO_INDEX=1 --build-arg PIP_FIND_LINKS=/src/wheelhouse.
ARG PIP_NO_INDEX=""
ARG PIP_FIND_LINKS=""
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
COPY . .
# One self-contained virtualenv, byte-compiled here because the runtime root filesystem is
# read-only. The `fast` extra adds uvloop.
RUN python3 -m venv /opt/consent-proxy \
    && /opt/consent-proxy/bin/pip install --no-cache-dir ".[fast]" \
    && /opt/consent-proxy/bin/python -m compileall -q /opt/consent-proxy \
    && /opt/consent-proxy/bin/consent-proxy check /src/deploy/docker/config.yaml

FROM ${BASE_IMAGE}
# A fixed, high UID/GID that collides with no host user (and satisfies runAsNonRoot checks
# that need a numeric USER).
ARG UID=10001
RUN groupadd --system --gid "${UID}" consent-proxy \
    && useradd --system --uid "${UID}" --gid "${UID}" --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin consent-proxy
COPY --from=build /opt/consent-proxy /opt/consent-proxy
COPY deploy/docker/config.yaml /etc/consent-proxy/config.yaml
# The admin port must be reachable from outside the container (probes, Prometheus), so it binds
# 0.0.0.0 here; publish it only to a private network. The environment wins over the config
# file, so a mounted config keeps these two; set them to "" to let the file decide.
ENV PATH=/opt/consent-proxy/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    CONSENT_PROXY_LISTEN=0.0.0.0:8000 \
    CONSENT_PROXY_ADMIN=0.0.0.0:9090
USER ${UID}:${UID}
EXPOSE 8000 9090
# slim images carry no curl: python's urllib, against the admin port named in the environment.
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
    CMD ["python3", "-c", "import os, urllib.request; port = (os.environ.get('CONSENT_PROXY_ADMIN') or '0.0.0.0:9090').rsplit(':', 1)[1]; urllib.request.urlopen(f'http://127.0.0.1:{port}/livez', timeout=2)"]
# SIGTERM: readiness fails, in-flight requests drain (limits.shutdown_timeout), exit 0.
STOPSIGNAL SIGTERM
ENTRYPOINT ["consent-proxy", "run"]
CMD ["--config", "/etc/consent-proxy/config.yaml"]
