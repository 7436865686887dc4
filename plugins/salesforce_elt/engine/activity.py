"""How a Task or Event is classified in ``sf_activities`` — the one place these rules live.

``activity_type`` (call | email | meeting | task | other), computed in the transform:

| record | TaskSubtype / EventSubtype | activity_type |
|---|---|---|
| Task | Call | call |
| Task | Email, ListEmail | email |
| Task | Task or empty, with a CallType | call (a call logged as a plain task, as older integrations do) |
| Task | Task or empty, no CallType | task |
| Task | Cadence or any other value | other (a cadence step or a subtype newer than this rule) |
| Event | Event or empty | meeting |
| Event | any other value | other |

Subtypes are what Salesforce itself sets (read-only after creation, one restricted picklist), so
the class cannot be edited away by a user. The classic ``Type`` picklist is not an input: this
org's Task and Event describe no ``Type`` field, and where orgs have one, admins define its values
freely. Values compare case-insensitively.

``duration_seconds``: one unit for both kinds — a Task's ``CallDurationInSeconds`` as is, an
Event's ``DurationInMinutes`` times 60. The source columns are kept as well
(``call_duration_in_seconds``, ``duration_in_minutes``), equal to Salesforce's values.
"""

from __future__ import annotations

CALL, EMAIL, MEETING, TASK, OTHER = "call", "email", "meeting", "task", "other"
ACTIVITY_TYPES = (CALL, EMAIL, MEETING, TASK, OTHER)

_TASK_SUBTYPES = {"call": CALL, "email": EMAIL, "listemail": EMAIL}


def task_activity_type(task_subtype: str, call_type: str) -> str:
    """activity_type of a Task from its raw TaskSubtype and CallType ("" for null)."""
    subtype = task_subtype.strip().lower()
    if subtype in _TASK_SUBTYPES:
        return _TASK_SUBTYPES[subtype]
    if subtype in ("", "task"):
        return CALL if call_type.strip() else TASK
    return OTHER


def event_activity_type(event_subtype: str) -> str:
    """activity_type of an Event from its raw EventSubtype ("" for null)."""
    return MEETING if event_subtype.strip().lower() in ("", "event") else OTHER


def task_duration_seconds(call_duration_in_seconds: str) -> str | None:
    return call_duration_in_seconds or None


def event_duration_seconds(duration_in_minutes: str) -> str | None:
    """DurationInMinutes * 60 (Salesforce may print a whole number as "30.0")."""
    if not duration_in_minutes:
        return None
    try:
        minutes = float(duration_in_minutes)
    except ValueError:
        raise ValueError(f"DurationInMinutes is not a number: {duration_in_minutes[:40]!r}") from None
    if not minutes.is_integer():
        raise ValueError(f"DurationInMinutes is not a whole number: {duration_in_minutes[:40]!r}")
    return str(int(minutes) * 60)
