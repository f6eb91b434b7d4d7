"""``gateway export`` goes through the same views and the same privacy policy as the service, and the
Open311 export is never cut: every request, however many (it was the latest 1,000)."""

from __future__ import annotations

import json
from datetime import timedelta

from gateway.cli import main
from gateway.db import utcnow
from gateway.models import Request
from gateway.reference_data import items_by_code
from gateway.statuses import RequestStatus
from tests.public_fixtures import seed

MORE_THAN_A_BATCH = 1003  # export_views reads 1,000 at a time


def test_open311_export_lists_every_request_with_no_personal_data(database_url, sessions, capsys):
    now = utcnow()
    known = seed(sessions, now)
    with sessions.begin() as session:
        item = items_by_code(session)["3.1"]
        session.add_all([
            Request(number=f"1520-2025-{n:06d}", registered_at=now - timedelta(days=400, minutes=n), channel="phone",
                    classifier_item_id=item.id, street="вул. Ватутіна", house=str(n % 60 + 1), flat=str(n % 90 + 1),
                    description=f"Слабкий тиск, кв. {n % 90 + 1}, тел. 067{n:07d}", contact_name="Олена Коваленко",
                    contact_phone=f"+38067{n:07d}", executor_id=item.default_executor_id,
                    status=RequestStatus.CONFIRMED, deadline_at=now, updated_at=now)
            for n in range(MORE_THAN_A_BATCH)
        ])
    assert main(["--database", database_url, "export", "requests-open311"]) == 0
    rows = json.loads(capsys.readouterr().out)
    numbers = [row["service_request_id"] for row in rows]
    assert len(numbers) == len(set(numbers)) == MORE_THAN_A_BATCH + len(known.numbers)
    assert numbers[: len(known.numbers)] == known.numbers  # newest first, as the service lists them
    assert numbers[-1] == f"1520-2025-{MORE_THAN_A_BATCH - 1:06d}"
    text = json.dumps(rows, ensure_ascii=False)
    for secret in ("Коваленко", "Олена", "0670000999", "кв. 7", "240039", *known.personal):
        assert secret not in text
    assert {row["status_notes"] for row in rows[-3:]} == {"підтверджено"}
