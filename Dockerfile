# vessel-risk on Airflow: the official Airflow image plus this package, installed from the
# project's lock (the same pins as the tests ran with). Built by docker-compose.yml.
FROM apache/airflow:3.3.2-python3.11

USER airflow
WORKDIR /opt/vessel-risk

# dependencies first (cached while only the code changes); the lock pins apache-airflow 3.3.2
# itself, so the image's Airflow stays what it was
COPY --chown=airflow:0 requirements.lock /opt/vessel-risk/requirements.lock
RUN pip install --no-cache-dir -r /opt/vessel-risk/requirements.lock

# the package (not editable: the image is immutable), its config, the shipped models, the DAGs
COPY --chown=airflow:0 pyproject.toml README.md /opt/vessel-risk/src/
COPY --chown=airflow:0 pipeline /opt/vessel-risk/src/pipeline
RUN pip install --no-cache-dir --no-deps /opt/vessel-risk/src \
 && python -c "import pipeline.orchestration, pipeline.alerts.store"
COPY --chown=airflow:0 config /opt/vessel-risk/config
COPY --chown=airflow:0 models /opt/vessel-risk/models
COPY --chown=airflow:0 dags /opt/airflow/dags

# where the pipeline finds its settings, models and workspace (volumes in docker-compose.yml)
ENV VESSEL_RISK_CONFIG=/opt/vessel-risk/config \
    VESSEL_RISK_HOME=/opt/vessel-risk/workspace \
    VESSEL_RISK__SCORING__MODELS_DIR=/opt/vessel-risk/models

WORKDIR /opt/airflow
