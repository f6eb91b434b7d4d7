"""Which Celery worker ran a task, for Airflow's ``[core] hostname_callable``.

Airflow records the host of every task instance (``task_instance.hostname``) from this callable,
called in the worker process that supervises the task. Two Celery workers on one host share a
fully qualified domain name, so by default their task instances cannot be told apart. Inside a
Celery task this returns the worker's node name instead (``celery@<name>``, as given to
``airflow celery worker --celery-hostname``); everywhere else (scheduler, API server, a worker
alone on its host) the FQDN, as Airflow's default does.

Set ``AIRFLOW__CORE__HOSTNAME_CALLABLE=gateway.worker_hostname.celery_node_name`` on every component
(configuration is the same across a cluster); the value must be stable within a task's life, and it
is: the supervisor runs inside one Celery task from start to end.
"""

from __future__ import annotations

import socket


def celery_node_name() -> str:
    """The Celery node name of the worker running the current task, else this host's FQDN."""
    try:
        from celery import current_task
    except ImportError:  # a component without Celery installed
        return socket.getfqdn()
    request = getattr(current_task, "request", None) if current_task else None
    hostname = getattr(request, "hostname", None)
    return hostname or socket.getfqdn()
