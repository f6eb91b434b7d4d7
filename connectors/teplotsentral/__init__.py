"""АТ «Криворізька теплоцентраль»: the legacy SOAP 1.1 complaint service (see connector.py)."""
