# Production image: `docker build -t payfacile:latest .` (compose.yml builds the same image).
# The default command serves the web app; compose.yml runs `payfacile migrate`, `scheduler` and
# `worker` from this image too.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore \
    PAYFACILE_ENV=production \
    PAYFACILE_DATA_DIR=/var/lib/payfacile

# A fixed, unprivileged uid/gid, so volume ownership is predictable across rebuilds. An empty
# named volume mounted on /var/lib/payfacile takes this directory's owner (compose.yml does so).
RUN groupadd --system --gid 10001 payfacile \
    && useradd --system --uid 10001 --gid payfacile --home-dir /var/lib/payfacile \
        --no-create-home --shell /usr/sbin/nologin payfacile \
    && install -d -o payfacile -g payfacile -m 0750 /var/lib/payfacile

WORKDIR /app

# Every dependency installs from a wheel: no compiler in the image.
COPY . /app
RUN pip install --no-cache-dir . \
    && rm -rf /app/build /app/*.egg-info

# Numeric, so a runtime (e.g. Kubernetes runAsNonRoot) can tell it is not root.
USER 10001:10001

EXPOSE 8000

CMD ["payfacile", "serve", "--host", "0.0.0.0", "--port", "8000"]
