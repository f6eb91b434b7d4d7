"""The Teplotsentral SOAP service's fixed vocabulary, shared by the connector, the mapping check and
the simulator.

Plain constants only: the registry may import this while parsing DAGs (no zeep, no lxml here).
"""

from __future__ import annotations

from pathlib import Path

WSDL_DIR = Path(__file__).resolve().parent / "wsdl"
WSDL_FILE = WSDL_DIR / "teplotsentral.wsdl"
XSD_FILE = WSDL_DIR / "teplotsentral.xsd"

NAMESPACE = "http://teplotsentral.kr.ua/ws/complaints/1.0"
SERVICE_NAME = "ComplaintService"
BINDING_NAME = f"{{{NAMESPACE}}}ComplaintServiceSoapBinding"
ENDPOINT_PATH = "/ws/ComplaintService"  # the simulator's path; the real one comes from the Connection

# The utility's local time: every xsd:dateTime on the wire is a Kyiv wall-clock time with no offset.
LOCAL_ZONE = "Europe/Kyiv"
LOCAL_DATETIME_FORMAT = "%Y-%m-%dT%H:%M:%S"

# Complaint types the utility's dispatch system knows (code -> its own Ukrainian name). Anything else
# is refused with a soap:Client fault UNKNOWN_TYPE. Some exist only on the utility's side (risers,
# meters, air locks) and map to no classifier item.
COMPLAINT_TYPES: dict[str, str] = {
    "NO_HEATING": "відсутнє опалення у квартирі",
    "POOR_HEATING": "незадовільне опалення у квартирі",
    "NO_HEATING_ENTRANCE": "відсутнє опалення у під'їзді",
    "HEATING_SYSTEM_REPAIR": "ремонт внутрішньобудинкової системи опалення",
    "NO_HOT_WATER": "відсутня або холодна гаряча вода",
    "HEAT_CARRIER_LEAK": "витік теплоносія на тепломережі",
    "LANDSCAPING_RESTORE": "відновлення благоустрою після ремонту тепломереж",
    "NO_HEATING_BUILDING": "відсутнє опалення будинку (аварія)",
    "MAIN_BURST": "прорив тепломережі з виходом води на поверхню",
    "NO_HOT_WATER_MEDICAL": "відсутнє ГВП закладу охорони здоров'я",
    "HEATING_RISER_LEAK": "протікання стояка опалення",
    "HOT_WATER_RISER_LEAK": "протікання стояка гарячої води",
    "RADIATOR_AIRLOCK": "завоздушення радіатора",
    "HEAT_METER_FAULT": "несправність будинкового лічильника тепла",
}

# Status codes of a complaint.
REGISTERED, DISPATCHED, IN_WORK, DONE, CLOSED, REJECTED, NOT_OUR_NETWORK = "10", "20", "30", "40", "50", "90", "91"
STATUS_CODES: dict[str, str] = {
    REGISTERED: "зареєстровано",
    DISPATCHED: "передано бригаді",
    IN_WORK: "в роботі",
    DONE: "виконано",
    CLOSED: "закрито",
    REJECTED: "відхилено",
    NOT_OUR_NETWORK: "не наші мережі",
}
FINAL_STATUSES = frozenset({CLOSED, REJECTED, NOT_OUR_NETWORK})
# Where each status sits in a complaint's life: ties between changes stamped in the same second are
# broken by it (the service has no change sequence number).
STATUS_RANK: dict[str, int] = {
    REGISTERED: 1,
    DISPATCHED: 2,
    IN_WORK: 3,
    DONE: 4,
    CLOSED: 5,
    REJECTED: 5,
    NOT_OUR_NETWORK: 5,
}

# soap:Fault detail codes (detail/FaultDetail/Code).
FAULT_VALIDATION = "VALIDATION"  # soap:Client: schema-invalid envelope or a bad field — permanent
FAULT_UNKNOWN_TYPE = "UNKNOWN_TYPE"  # soap:Client: ComplaintType not in COMPLAINT_TYPES — permanent
FAULT_AUTH = "AUTH"  # soap:Client: WS-Security UsernameToken missing or wrong — fix the credentials
FAULT_INTERNAL = "INTERNAL"  # soap:Server: transient
FAULT_DB_LOCKED = "DB_LOCKED"  # soap:Server: transient (the utility's database is locked by a batch job)
CLIENT_FAULTS = frozenset({FAULT_VALIDATION, FAULT_UNKNOWN_TYPE, FAULT_AUTH})
SERVER_FAULTS = frozenset({FAULT_INTERNAL, FAULT_DB_LOCKED})

OUTAGE_KINDS = frozenset({"planned", "emergency"})
OUTAGE_SERVICES = frozenset({"heating", "hot_water"})

# Field limits from the XSD (the connector shortens free text to fit rather than lose a request).
DESCRIPTION_MAX = 2000
COMMENT_MAX = 2000
