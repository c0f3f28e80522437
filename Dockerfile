# syntax=docker/dockerfile:1
# kubesweep operator image: `kubesweep run` as a non-root user, installed from the wheel.

# Stage 1: the wheel of kubesweep and of every dependency, so the final stage installs offline.
FROM python:3.11-slim-bookworm AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY operator ./operator
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

# Stage 2: a venv holding only kubesweep and its dependencies (no pip, no build tools, no wheels).
FROM python:3.11-slim-bookworm
LABEL org.opencontainers.image.title="kubesweep" \
      org.opencontainers.image.description="Hyperparameter sweeps as a Kubernetes custom resource" \
      org.opencontainers.image.licenses="Apache-2.0"
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    python -m venv --without-pip /venv \
 && pip --python /venv/bin/python install --no-cache-dir --no-index --find-links /wheels kubesweep
ENV PATH=/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
# The distroless "nonroot" uid: no home, no shell login, matches the manifests' runAsUser.
USER 65532:65532
EXPOSE 8080 9090
ENTRYPOINT ["kubesweep", "run"]
CMD ["--liveness", "http://0.0.0.0:8080/healthz", "--metrics-port", "9090"]
