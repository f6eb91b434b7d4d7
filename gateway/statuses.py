"""The contact centre's request statuses (a request's life in domain.md)."""

from __future__ import annotations

from enum import StrEnum


class RequestStatus(StrEnum):
    REGISTERED = "registered"  # зареєстровано
    SENT = "sent_to_executor"  # передано виконавцю
    IN_PROGRESS = "in_progress"  # в роботі
    DONE = "done"  # виконано виконавцем
    CONFIRMED = "confirmed"  # підтверджено заявником (закрито)
    REWORK = "rework"  # на доопрацюванні
    NOT_COMPETENCE = "not_competence"  # не компетенція виконавця / перенаправлено
    DUPLICATE = "duplicate"  # дублікат
    FALSE_CALL = "false_call"  # хибний виклик
    CONSULTATION = "consultation"  # роз'яснено (консультація)
    WITHDRAWN = "withdrawn"  # відкликано заявником


STATUS_NAMES_UK: dict[RequestStatus, str] = {
    RequestStatus.REGISTERED: "зареєстровано",
    RequestStatus.SENT: "передано виконавцю",
    RequestStatus.IN_PROGRESS: "в роботі",
    RequestStatus.DONE: "виконано",
    RequestStatus.CONFIRMED: "підтверджено",
    RequestStatus.REWORK: "на доопрацюванні",
    RequestStatus.NOT_COMPETENCE: "не компетенція виконавця",
    RequestStatus.DUPLICATE: "дублікат",
    RequestStatus.FALSE_CALL: "хибний виклик",
    RequestStatus.CONSULTATION: "надано роз'яснення",
    RequestStatus.WITHDRAWN: "відкликано заявником",
}

# Statuses only the contact centre sets; a utility's later change must not reopen them.
CONTACT_CENTRE_FINAL = frozenset({RequestStatus.CONFIRMED, RequestStatus.WITHDRAWN})

# The contact centre closing a request the utility is (or may be) working on: the utility is told
# (a cancel or a note, as its protocol allows). A withdrawal has its own kind of message.
CONTACT_CENTRE_CLOSURES = frozenset(
    {RequestStatus.DUPLICATE, RequestStatus.FALSE_CALL, RequestStatus.NOT_COMPETENCE, RequestStatus.CONSULTATION}
)

# Statuses after which the executor's work is over (for reports and Open311 "closed").
CLOSED = frozenset(
    {
        RequestStatus.DONE,
        RequestStatus.CONFIRMED,
        RequestStatus.NOT_COMPETENCE,
        RequestStatus.DUPLICATE,
        RequestStatus.FALSE_CALL,
        RequestStatus.CONSULTATION,
        RequestStatus.WITHDRAWN,
    }
)
