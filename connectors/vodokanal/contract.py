"""The vodokanal API's fixed vocabulary, shared by the connector, the mapping check and the simulator.

Plain constants only: the registry may import this while parsing DAGs.
"""

from __future__ import annotations

API_PREFIX = "/api/v1"

# Job types the utility's dispatch system knows (code -> its own Ukrainian name). Anything else is 422.
# Some exist only on the utility's side (meters, hydrants, water quality) and map to no classifier item.
JOB_TYPES: dict[str, str] = {
    "NO_WATER_BUILDING": "відсутнє холодне водопостачання будинку",
    "NO_WATER_NETWORK": "відсутня вода в мережі (вулиця, селище, СТ)",
    "LOW_PRESSURE_BUILDING": "низький тиск холодної води у будинку",
    "LOW_PRESSURE_PRIVATE": "низький тиск води у приватному секторі",
    "LEAK_UNDERGROUND": "витік води з-під землі",
    "LEAK_MANHOLE": "витік води з колодязя",
    "LEAK_UNLOCATED": "витік води, місце не встановлено",
    "MAIN_BURST": "прорив водогону",
    "PIPE_REPAIR": "заміна / ремонт труб водопостачання",
    "SEWER_BLOCKAGE": "засмічення квартальної каналізації",
    "YARD_DRAIN_CLEANING": "прочищення водовідведення на прибудинковій території",
    "BASEMENT_SEWER_REPAIR": "ремонт каналізації у підвалі",
    "OPEN_MANHOLE": "відкритий / пошкоджений люк колодязя",
    "WATER_QUALITY": "якість питної води",
    "HYDRANT_DAMAGE": "пошкодження пожежного гідранта",
    "METER_SEAL": "опломбування лічильника води",
}

PRIORITIES = frozenset({"emergency", "urgent", "normal"})

STATUSES = frozenset(
    {
        "NEW",
        "ACCEPTED",
        "CREW_ASSIGNED",
        "IN_PROGRESS",
        "COMPLETED",
        "REJECTED_NOT_OURS",
        "DUPLICATE",
        "FALSE_CALL",
        "CANCELLED",
    }
)
# After these the utility does no more work unless the contact centre returns the order for rework.
FINAL_STATUSES = frozenset({"COMPLETED", "REJECTED_NOT_OURS", "DUPLICATE", "FALSE_CALL", "CANCELLED"})

NOTE_KINDS = frozenset({"rework", "withdrawn", "details"})

NOTICE_KINDS = frozenset({"planned", "emergency"})
NOTICE_SERVICES = frozenset({"cold_water", "sewage"})
NOTICE_STATES = frozenset({"active", "cancelled"})
HOUSE_SIDES = frozenset({"even", "odd"})

FEED_DEFAULT_LIMIT = 100
FEED_MAX_LIMIT = 500
PLANNED_WORKS_PAGE_SIZE = 20
