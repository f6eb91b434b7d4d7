"""The sync engine: push new requests, pull status changes, push contact-centre updates, pull planned
works. Independent of Airflow and of any one utility: it talks to a ``Connector`` and a database.
"""
