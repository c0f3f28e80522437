# kubesweep operator image: `kubesweep run` as a non-root user, built from the wheel.
FROM python:3.11-slim-bookworm AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY operator ./operator
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels . \
 && python -m venv /venv \
 && /venv/bin/pip install --no-cache-dir /wheels/*.whl

FROM python:3.11-slim-bookworm
LABEL org.opencontainers.image.title="kubesweep" \
      org.opencontainers.image.description="Hyperparameter sweeps as a Kubernetes custom resource"
COPY --from=build /venv /venv
ENV PATH=/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
USER 65532:65532
EXPOSE 8080 9090
ENTRYPOINT ["kubesweep", "run"]
CMD ["--liveness", "http://0.0.0.0:8080/healthz", "--metrics-port", "9090"]
