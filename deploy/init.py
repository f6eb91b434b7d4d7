"""The init job of docker-compose.yml: everything the long-running services need before they start.

1. the two databases on the PostgreSQL server (Airflow's metadata, the contact centre), if missing;
2. the contact-centre schema (the gateway's Alembic migrations), then Airflow's (`airflow db migrate`);
3. one pool per registered utility (`utility_<name>`, one slot: each utility's limits are per client);
4. the utilities' Airflow Connections, from GATEWAY_CONN_<CONN_ID> in the env file (Airflow's JSON or URI
   form), stored in the metadata database encrypted with the Fernet key. A Connection already there is
   replaced, so the env file stays the one place to change a secret.

Safe to run again: every step is idempotent. Runs with deploy/entrypoint.sh's environment.
"""

from __future__ import annotations

import os
import subprocess
import sys
from urllib.parse import urlsplit

import psycopg

from gateway.db import upgrade
from gateway.registry import load_registry


def airflow(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    print("+ airflow", " ".join(a if not a.startswith("{") else "<connection>" for a in args), flush=True)
    return subprocess.run(["airflow", *args], check=check, text=True)


def create_databases() -> None:
    admin = os.environ["GATEWAY_DATABASE_URL"].replace("postgresql+psycopg://", "postgresql://")
    parts = urlsplit(admin)
    wanted = [urlsplit(os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]).path.lstrip("/"), parts.path.lstrip("/")]
    with psycopg.connect(parts._replace(path="/postgres").geturl(), autocommit=True) as conn:
        for name in wanted:
            if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is None:
                conn.execute(f'CREATE DATABASE "{name}"')
                print(f"created database {name}", flush=True)


def main() -> int:
    create_databases()
    upgrade(os.environ["GATEWAY_DATABASE_URL"])
    print("contact-centre database migrated", flush=True)
    airflow("db", "migrate")
    registry = load_registry()
    for manifest in registry.values():
        airflow("pools", "set", manifest.pool, "1", f"{manifest.name} sync")
    missing = []
    for manifest in registry.values():
        value = os.environ.get(f"GATEWAY_CONN_{manifest.conn_id.upper()}")
        if not value:
            missing.append(manifest.conn_id)
            continue
        airflow("connections", "delete", manifest.conn_id, check=False)
        form = "--conn-json" if value.lstrip().startswith("{") else "--conn-uri"
        airflow("connections", "add", manifest.conn_id, form, value)
    if missing:
        print(f"no GATEWAY_CONN_* for {', '.join(missing)}: those utilities' syncs fail until their Connection "
              "exists (deploy/gateway.env, or `airflow connections add`)", file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
