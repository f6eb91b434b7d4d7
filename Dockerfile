# The gateway's image: Airflow 3.3 and the project, installed once at build time from pyproject.toml
# and requirements.lock exactly as `make install` does (without the dev tools), so a container needs
# no network at start. One image for every service of docker-compose.yml.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    AIRFLOW_HOME=/opt/airflow \
    AIRFLOW__CORE__DAGS_FOLDER=/opt/gateway/dags \
    AIRFLOW__CORE__PLUGINS_FOLDER=/opt/gateway/plugins \
    AIRFLOW__CORE__LOAD_EXAMPLES=False

# The official image's convention: user 50000, group 0, so volumes work under any assigned UID.
RUN useradd --uid 50000 --gid 0 --home-dir /opt/airflow --create-home --shell /bin/bash airflow

WORKDIR /opt/gateway
COPY pyproject.toml requirements.lock ./
COPY gateway/ gateway/
COPY connectors/ connectors/
COPY simulators/ simulators/
COPY contracts/ contracts/
COPY mappings/ mappings/
COPY dags/ dags/
COPY plugins/ plugins/
COPY deploy/ deploy/
RUN pip install --quiet --upgrade pip \
 && pip install --quiet -c requirements.lock -e . \
 && mkdir -p /opt/airflow/logs \
 && chown -R airflow:0 /opt/airflow \
 && chmod -R g+rwX /opt/airflow

USER airflow
ENTRYPOINT ["/opt/gateway/deploy/entrypoint.sh"]
CMD ["airflow", "version"]
