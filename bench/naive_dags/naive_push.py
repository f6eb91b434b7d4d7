"""The naive Airflow design, for naive_airflow_speedup only: one mapped HTTP task per request.

Each mapped task opens the database, reads its request, POSTs the work order to vodokanal and
records the job, as a first Airflow integration would be written. Not a production DAG (it lives
under bench/, not dags/); the benchmark runs it under dag.test() beside the gateway's own DAG.
"""

from __future__ import annotations

import os

import pendulum
from airflow.sdk import dag, task


@dag(dag_id="naive_vodokanal_push", schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
     catchup=False, tags=["bench"])
def naive_vodokanal_push():
    @task
    def registered() -> list[int]:
        from sqlalchemy import create_engine, text

        engine = create_engine(os.environ["GATEWAY_DATABASE_URL"])
        with engine.connect() as conn:
            ids = conn.execute(text("SELECT id FROM requests WHERE executor_id = 'vodokanal' "
                                    "AND status = 'registered' ORDER BY id")).scalars().all()
        engine.dispose()
        return list(ids)

    @task
    def push_one(request_id: int) -> str:
        import uuid

        import requests
        from airflow.sdk import BaseHook
        from sqlalchemy import create_engine, text

        from gateway.registry import load_registry
        from gateway.sync.context import load_manifest_mapping

        mapping = load_manifest_mapping(load_registry()["vodokanal"])
        conn = BaseHook.get_connection("vodokanal_api")
        base_url = (conn.host if "://" in conn.host else f"http://{conn.host}") + (f":{conn.port}" if conn.port else "")
        engine = create_engine(os.environ["GATEWAY_DATABASE_URL"])
        with engine.begin() as db:
            row = db.execute(text("SELECT r.number, r.street, r.house, r.flat, r.description, r.registered_at, "
                                  "i.key FROM requests r JOIN classifier_items i ON i.id = r.classifier_item_id "
                                  "WHERE r.id = :id"), {"id": request_id}).one()
            rule = mapping.rule_for_item(row.key)
            reply = requests.post(f"{base_url}/api/v1/work-orders", timeout=30, headers={
                "X-Api-Key": conn.password, "Idempotency-Key": str(uuid.uuid5(uuid.NAMESPACE_URL, row.number))},
                json={"external_ref": row.number, "job_type": rule.job_type, "priority": rule.priority,
                      "address": {"street": row.street, "house": row.house, "flat": row.flat},
                      "description": row.description, "reported_at": row.registered_at.isoformat()})
            reply.raise_for_status()
            job_id = reply.json()["id"]
            db.execute(text("UPDATE requests SET status = 'sent_to_executor', updated_at = now() WHERE id = :id"),
                       {"id": request_id})
            db.execute(text("INSERT INTO request_history (request_id, at, actor, field, old_value, new_value, note) "
                            "VALUES (:id, now(), 'naive', 'status', 'registered', 'sent_to_executor', :job)"),
                       {"id": request_id, "job": job_id})
        engine.dispose()
        return job_id

    push_one.expand(request_id=registered())


naive_vodokanal_push()
