# CargoWatch as one image: `cargowatch run` (ingest, detectors, HTTP API) by default, and every
# other subcommand (`dashboards build`, `db upgrade`, `simulate`) from the same image.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY cargowatch ./cargowatch
COPY detectors ./detectors
COPY ingest ./ingest
COPY api ./api
COPY dashboards ./dashboards
COPY simulators ./simulators
RUN pip install --no-cache-dir . && mkdir -p /data
ENV CARGOWATCH_DB_URL=sqlite:////data/cargowatch.db \
    CARGOWATCH_SPOOL_DIR=/data/spool \
    CARGOWATCH_STATE_DIR=/data/state
ENTRYPOINT ["cargowatch"]
CMD ["run"]
