"""Dispatch states: where one request stands with one utility.

pending    not yet sent, or certainly not received (a retriable failure): safe to create
in_flight  a create was started; found so after a crash, its outcome is unknown -> look up first
unknown    a create ended ambiguously and the lookup could not settle it yet -> look up first
awaiting   the utility accepted the job asynchronously; we hold its token, not yet its id
sent       the utility's job id is known
linked     not sent: the request joined a known outage or an open job (see gateway.linking)
dead       refused for good; a dead letter explains why and ``gateway dlq retry`` replays it
"""

PENDING = "pending"
IN_FLIGHT = "in_flight"
UNKNOWN = "unknown"
AWAITING = "awaiting"
SENT = "sent"
LINKED = "linked"
DEAD = "dead"

CLAIMABLE = (PENDING, IN_FLIGHT, UNKNOWN, AWAITING)
NEEDS_LOOKUP = (IN_FLIGHT, UNKNOWN)
