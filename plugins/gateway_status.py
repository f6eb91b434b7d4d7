"""Airflow 3 plugin: the gateway's status page inside the Airflow UI.

``fastapi_apps`` mounts gateway.status_page under /gateway on the Airflow API server (HTML at
/gateway/, JSON at /gateway/status.json, Prometheus at /gateway/metrics); ``external_views`` adds
"Шлюз 1520" to the Browse menu, shown in an iframe. Put this folder in [core] plugins_folder
(AIRFLOW__CORE__PLUGINS_FOLDER); the API server must be restarted after the file changes.
"""

from __future__ import annotations

import os

from airflow.plugins_manager import AirflowPlugin

from gateway.status_page import create_app

URL_PREFIX = "/gateway"
CONTACT_CENTRE_CONN_ID = "contact_centre_db"


def contact_centre_url() -> str:
    """GATEWAY_DATABASE_URL, else the Connection the DAGs use (resolved on the first request, in the
    API server, where no task context exists: hence the model, not airflow.sdk)."""
    if url := os.environ.get("GATEWAY_DATABASE_URL"):
        return url
    from airflow.models.connection import Connection

    return Connection.get_connection_from_secrets(CONTACT_CENTRE_CONN_ID).get_uri()


class GatewayStatusPlugin(AirflowPlugin):
    name = "gateway_status"
    fastapi_apps = [  # noqa: RUF012 - Airflow's plugin interface is class attributes
        {"app": create_app(contact_centre_url), "url_prefix": URL_PREFIX, "name": "Contact centre 1520 gateway"},
    ]
    external_views = [  # noqa: RUF012
        {
            "name": "Шлюз 1520",
            "href": f"{URL_PREFIX.lstrip('/')}/",  # relative: works behind a proxy and a base_url
            "url_route": URL_PREFIX.lstrip("/"),
            "destination": "nav",
            "category": "browse",
        },
    ]
