"""Екоспецтранс's wire vocabulary: ticket categories and statuses.

One module shared by the connector, the simulator and the mapping test, so the category names in
mappings/ecospectrans.yaml, the ones the connector treats specially and the ones the simulator accepts
cannot drift apart.
"""

from __future__ import annotations

# category -> what the utility's dispatcher sees (Ukrainian, as in their own system)
CATEGORIES: dict[str, str] = {
    "CONTAINER_NOT_EMPTIED": "Не вивезено контейнер",
    "PRIVATE_SCHEDULE_MISSED": "Порушено графік вивезення у приватному секторі",
    "CONTAINER_DAMAGED": "Переповнений або пошкоджений контейнер",
    "BULKY_WASTE": "Великогабаритні або будівельні відходи",
    "ILLEGAL_DUMP": "Стихійне звалище",
    "FIRE_HAZARD_WASTE": "Пожежонебезпечне скупчення відходів біля житлового будинку",
}

# Tickets about a container name its container site: the connector looks the site up by address.
CONTAINER_CATEGORIES: frozenset[str] = frozenset({"CONTAINER_NOT_EMPTIED", "CONTAINER_DAMAGED"})

# Private-sector collection has no container site; the utility wants the house address.
ADDRESS_ONLY_CATEGORIES: frozenset[str] = frozenset({"PRIVATE_SCHEDULE_MISSED"})

STATUSES: tuple[str, ...] = ("open", "scheduled", "collected", "closed", "cannot_access", "rejected")

# After these the utility does nothing more with a ticket.
FINAL_STATUSES: frozenset[str] = frozenset({"closed", "cannot_access", "rejected"})
