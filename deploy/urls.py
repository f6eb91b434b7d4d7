"""Build the database and broker URLs every container needs from the separate settings in the env file.

Passwords are percent-encoded here, so a password with ``@``, ``/``, ``:`` or ``%`` works; the compose
file never pastes one into a URL. Prints ``export NAME='value'`` lines for deploy/entrypoint.sh to
evaluate; a URL already set in the environment is left as the operator gave it.
"""

from __future__ import annotations

import os
import shlex
import sys
from urllib.parse import quote

REQUIRED = ("POSTGRES_USER", "POSTGRES_PASSWORD", "REDIS_PASSWORD")


def setting(name: str, default: str | None = None) -> str:
    value = os.environ.get(name, default)
    if not value:
        raise SystemExit(f"deploy/urls.py: {name} is not set; copy deploy/gateway.env.example to "
                         "deploy/gateway.env and fill it in")
    return value


def urls() -> dict[str, str]:
    for name in REQUIRED:
        setting(name)
    user = quote(setting("POSTGRES_USER"), safe="")
    password = quote(setting("POSTGRES_PASSWORD"), safe="")
    server = f"{setting('POSTGRES_HOST', 'postgres')}:{setting('POSTGRES_PORT', '5432')}"
    airflow_db = f"postgresql+psycopg://{user}:{password}@{server}/{setting('AIRFLOW_DB', 'airflow')}"
    redis = f"{setting('REDIS_HOST', 'redis')}:{setting('REDIS_PORT', '6379')}"
    return {
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": airflow_db,
        "AIRFLOW__CELERY__RESULT_BACKEND": f"db+{airflow_db}",
        "AIRFLOW__CELERY__BROKER_URL": f"redis://:{quote(setting('REDIS_PASSWORD'), safe='')}@{redis}/0",
        "GATEWAY_DATABASE_URL":
            f"postgresql+psycopg://{user}:{password}@{server}/{setting('CONTACT_CENTRE_DB', 'contact_centre')}",
    }


def main() -> int:
    for name, value in urls().items():
        if not os.environ.get(name):
            print(f"export {name}={shlex.quote(value)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
