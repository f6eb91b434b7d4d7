"""The contact-centre database URL in every form people and Airflow write it."""

from __future__ import annotations

from sqlalchemy import text

from gateway.db import database_url, make_engine


def test_the_contact_centre_connection_in_its_usual_form_reaches_the_database(pg_url):
    """AIRFLOW_CONN_CONTACT_CENTRE_DB=postgresql://... comes back from Connection.get_uri() as
    postgres://..., which SQLAlchemy does not know; the gateway takes both."""
    from airflow.models.connection import Connection

    uri = Connection(conn_id="contact_centre_db", uri=pg_url).get_uri()
    assert uri.startswith("postgres://")
    for form in (uri, pg_url):
        engine = make_engine(form)
        try:
            with engine.connect() as conn:
                assert conn.execute(text("SELECT count(*) FROM executors")).scalar() > 0
        finally:
            engine.dispose()


def test_urls_get_the_psycopg_driver_and_other_urls_stay_as_they_are():
    assert database_url("postgres://u:p@h:5432/db") == "postgresql+psycopg://u:p@h:5432/db"
    assert database_url("postgresql://u@h/db") == "postgresql+psycopg://u@h/db"
    assert database_url("postgresql+psycopg://u@h/db") == "postgresql+psycopg://u@h/db"
    assert database_url("sqlite:///x.db") == "sqlite:///x.db"
