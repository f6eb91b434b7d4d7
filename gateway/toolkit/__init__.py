"""The connector toolkit: what every utility's connector needs and none should write again.

- ``http``: a session from an Airflow Connection (schema = scheme; https required off loopback unless
  the Connection allows plain http), both timeouts, one send, Retry-After, JSON replies;
- ``failures``: error classification as data (rules per connector, one classifier);
- ``paging``: sequence, opaque cursor, time window and page-number feeds;
- ``timestamps``: one reader of instants, dates, ids and text in replies;
- ``localtime``: Kyiv wall time <-> UTC across DST; ``soap``: zeep plumbing for WSDL services;
- ``oauth``: OAuth2 client credentials; ``ratelimit``: per-process or database-shared limits;
- ``redact``: secrets, phones and e-mails out of logs and out of free text sent to a utility.
"""
