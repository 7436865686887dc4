# The project's Airflow image: the official Airflow 3.3.2 image plus the locked dependencies,
# the DAGs, the plugins package (hooks, operators, triggers, registry, models), sql/ and migrations/.
FROM apache/airflow:3.3.2-python3.11

ARG AIRFLOW_VERSION=3.3.2
COPY --chown=airflow:root requirements.txt /opt/salesforce_elt/requirements.txt
# Pin Airflow itself beside the lock so pip can never swap the image's Airflow for another release.
# The lock brings the Celery provider and the Redis client (CeleryExecutor) and the Amazon provider
# with s3fs (s3:// staging through ObjectStoragePath) at the versions the tests ran.
RUN pip install --no-cache-dir "apache-airflow==${AIRFLOW_VERSION}" -r /opt/salesforce_elt/requirements.txt
# The project's distribution is metadata only: its provider entry point registers the salesforce_elt
# connection type (the UI's labelled fields and Test button); the code is loaded from plugins/.
COPY --chown=airflow:root pyproject.toml /opt/salesforce_elt/pyproject.toml
RUN pip install --no-cache-dir --no-deps /opt/salesforce_elt

COPY --chown=airflow:root dags/ /opt/airflow/dags/
COPY --chown=airflow:root plugins/ /opt/airflow/plugins/
COPY --chown=airflow:root sql/ /opt/salesforce_elt/sql/
COPY --chown=airflow:root migrations/ /opt/salesforce_elt/migrations/
COPY --chown=airflow:root alembic.ini /opt/salesforce_elt/alembic.ini

ENV SALESFORCE_ELT_HOME=/opt/salesforce_elt \
    PYTHONPATH=/opt/airflow/plugins
WORKDIR /opt/airflow
