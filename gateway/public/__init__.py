"""The gateway's read-only public HTTP service: Open311 GeoReport v2, announcements and their feeds, the
residents' outage page and the operators' lookup (``gateway serve``). Everything it publishes goes
through gateway.privacy."""
