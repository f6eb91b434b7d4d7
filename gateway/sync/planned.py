"""Planned works: the utility's notices into the contact centre as announcements for residents."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from sqlalchemy import select

from gateway.announcements import EXPIRED, expire_ended, upsert_notice
from gateway.errors import AmbiguousError, RetriableError
from gateway.linking import on_announcement_changed, reopen_after_extension
from gateway.models import Announcement
from gateway.sync.bookkeeping import record_dead_letter
from gateway.sync.context import SyncContext
from gateway.sync.retry import call_with_retry

STREAM = "planned_works"
LOOKBACK = timedelta(days=7)  # notices that started last week may still be running or be revised


def pull_planned_works(ctx: SyncContext, counts: Counter[str]) -> None:
    now = ctx.clock()
    since, until = now - LOOKBACK, now + timedelta(days=ctx.manifest.planned_works_horizon_days)
    page = call_with_retry(lambda: ctx.connector.fetch_planned_works(since, until), ctx.retry,
                           retry_on=(RetriableError, AmbiguousError))
    with ctx.sessions() as session, session.begin():
        for work in page.works:
            before = session.scalar(select(Announcement.state).where(Announcement.provider == ctx.provider,
                                                                     Announcement.notice_id == work.notice_id))
            outcome = upsert_notice(session, ctx.provider, ctx.manifest.title, work, now)
            if before == EXPIRED and outcome == "revised":
                counts["reopened_by_extension"] += reopen_after_extension(session, ctx.provider, work.notice_id, now)
            counts[outcome] += 1
            if work.unparsed_lines:
                counts["unparsed_address_lines"] += len(work.unparsed_lines)
                ctx.log.warning("notice %s: %d address line(s) kept verbatim, not parsed: %s",
                                work.notice_id, len(work.unparsed_lines), list(work.unparsed_lines))
            if outcome != "unchanged":
                on_announcement_changed(session, ctx.provider, work.notice_id, now, counts)
        for reject in page.rejects:
            record_dead_letter(session, provider=ctx.provider, stream=STREAM, item_key=reject.key,
                               payload=reject.payload, error_class="malformed", message=reject.error)
            counts["rejected"] += 1
        for announcement in expire_ended(session, ctx.provider, now):
            counts["expired"] += 1
            on_announcement_changed(session, ctx.provider, announcement.notice_id, now, counts)
