"""The words the sandbox's records are made of: actors, their IPs, and the events they cause.

Everything here is a small pool; `data.py` draws a million records from it. Pools keep memory
flat (each record stores a few small integers) and make the vocabulary realistic in the ways
loaders trip over: non-ASCII names, `Kind: name` labels with commas, quotes and newlines, HTML
entities (sometimes double-escaped), and labels a spreadsheet would execute.

The words are Zendesk's own where its docs or captured answers show them: sign-ins are `login` on
the user (`source_label` `Team member: <name>`, `Successful sign-in using Google`), API tokens
appear as both `api_token` and `apitoken` (the docs use both spellings), and `ticket`,
`account` and `zendesk/app_market/app` occur beside `rule` and `user`.
"""
from __future__ import annotations

import random
from dataclasses import dataclass

SYSTEM_ACTOR_ID = -1
SYSTEM_ACTOR_NAME = "Zendesk"

ACTION_LABELS: dict[str, str] = {
    "create": "Created",
    "update": "Updated",
    "destroy": "Deleted",
    "login": "Signed in",
    "exported": "Exported",
}

ADMIN_NAMES = ["Zoë Ångström", "José Núñez", "Priya Raman", "Ada Okafor"]
AGENT_NAMES = [
    "Łukasz Żółw", "山田 花子", "Bob Cat", "Chloé Dubois", "Mateo García", "Freya Nilsson",
    "Omar Haddad", "Søren Kierkegaard", "Ingrid Bergström", "Tom O'Brien", "Anaïs Lefèvre",
    "Kenji Watanabe", "Emily Clarke", "Raúl Peña", "Nadia Petrova", "Liam Murphy",
]

TRIGGERS = ["Notify requester", "Notify assignee of comment update", "Auto-assign to Tier 2",
            "Notify requester of received request", "VIP: route to \"Gold\" queue"]
AUTOMATIONS = ["Close solved tickets", "Pending notification 24 hours", "Escalate, after 48h"]
MACROS = ['Escalate, "urgent"', "Close and redirect to topics", "Customer not responding",
          '=HYPERLINK("http://x")', "Réponse — délai de livraison", "+1 escalation"]
VIEWS = ["Unassigned\ntickets", "Your unsolved tickets", "Recently updated tickets",
         "@ops notify", "Pending tickets; SLA < 2h"]
SCHEDULES = ["Central US Schedule", "Paris office", "APAC, weekends"]
API_TOKENS = ["ci", "zapier", "data-warehouse", "legacy import"]
# Both spellings Zendesk documents for API tokens; each token keeps one (by its position).
API_TOKEN_SOURCE_TYPES = ("api_token", "apitoken")
# Sign-in method -> weight, in the words of Zendesk's `Successful sign-in using ...`.
SIGN_IN_METHODS = {"Zendesk": 6.0, "Google": 3.0, "JWT": 1.0}
SIGN_IN_LABEL_PREFIX = "Team member: "
DELETED_TICKETS = 6
ROLES = ["End User", "Light Agent", "Agent", "Team Leader", "Administrator"]
# A product role change per user, in Zendesk's words: one line per product in one record, `not set`
# for no role in that product. Chosen by the user's position (no random draw).
PRODUCT_ROLE_CHANGES = (
    "Support role changed from Light Agent to Admin",
    "Explore role changed from not set to Admin\nGuide role changed from not set to Manager\n"
    "Talk role changed from Agent to not set\nSupport role changed from Staff to not set",
    "Support role changed from Admin to Advisor",
    "Talk role changed from not set to Agent\nExplore role changed from Viewer to Editor",
)


def _ruby_week(days: list[tuple[str, list[tuple[str, str]]]]) -> str:
    """A workweek as Zendesk's Ruby hash: `{:mon=>{"09:00"=>"18:00"}, :sat=>{}}`."""
    return "{" + ", ".join(
        f":{day}=>{{" + ", ".join(f'"{opens}"=>"{closes}"' for opens, closes in hours) + "}" for day, hours in days
    ) + "}"


def _json_week(days: list[tuple[str, list[tuple[str, str]]]]) -> str:
    """A workweek as the JSON some exports show: `{"monday":{"09:00":"12:30","13:30":"18:00"}}`."""
    return "{" + ",".join(
        f'"{day}":{{' + ",".join(f'"{opens}":"{closes}"' for opens, closes in hours) + "}" for day, hours in days
    ) + "}"


def _escaped(text: str) -> str:
    return text.replace("&", "&amp;").replace('"', "&quot;").replace(">", "&gt;")


_WEEKDAYS = ["mon", "tue", "wed", "thu", "fri"]
_NINE_TO_SIX = [(day, [("09:00", "18:00")]) for day in _WEEKDAYS]
# One realistic workweek change per schedule in SCHEDULES, each in another of Zendesk's encodings
# (see the API notes' vocabulary). "Paris office", the only schedule of small seeded sandboxes
# (records=150, seed=7), is re-saved with its days in another order, as Zendesk records it: its
# hours stay Monday to Friday 09:00 to 18:00, the seed business_hours', so tests that judge edge
# cases against those hours keep their meaning; the others change hours.
WORKWEEK_DESCRIPTIONS = (
    # JSON with full day names and a lunch break, HTML-escaped once (`&quot;`); created from `{}`.
    _escaped("Workweek changed from {} to " + _json_week(
        [(day, [("09:00", "12:30"), ("13:30", "18:00")])
         for day in ("monday", "tuesday", "wednesday", "thursday", "friday")])),
    # Ruby hash, `=>` HTML-escaped twice (`=&amp;gt;`), quotes once (`&quot;`).
    _escaped(f"Workweek changed from {_ruby_week(_NINE_TO_SIX[3:] + _NINE_TO_SIX[:3])} "
             f"to {_ruby_week(_NINE_TO_SIX)}").replace("&gt;", "&amp;gt;"),
    # Ruby hash as it is: Saturday morning added, Sunday closed.
    "Workweek changed from " + _ruby_week([(day, [("08:00", "17:00")]) for day in _WEEKDAYS])
    + " to " + _ruby_week([(day, [("08:00", "17:00")]) for day in _WEEKDAYS]
                          + [("sat", [("10:00", "14:00")]), ("sun", [])]),
)


@dataclass(frozen=True)
class Actor:
    """Someone (or the system) who causes audit events."""

    actor_id: int
    name: str
    role: str  # "admin", "agent" or "system"
    ips: tuple[str | None, ...]


@dataclass(frozen=True)
class EventKind:
    """One realised event: every field of a record except actor, IP, id and time.

    `self_source` marks events about the actor themself (a sign-in): the record's source is the
    actor and its label is `source_label` followed by the actor's name. `random_source` marks
    events whose source id differs per record (attachments).
    """

    action: str
    source_type: str
    source_id: int
    source_label: str
    change_description: str
    self_source: bool = False
    random_source: bool = False

    @property
    def action_label(self) -> str:
        return ACTION_LABELS[self.action]

    def label_for(self, actor_name: str) -> str:
        """The record's `source_label` when `actor_name` causes this event."""
        return f"{self.source_label}{actor_name}" if self.self_source else self.source_label


@dataclass
class Vocabulary:
    """The pools for one seed: actors, and weighted event kinds per actor role."""

    actors: list[Actor]
    kinds: list[EventKind]
    kinds_by_role: dict[str, tuple[list[int], list[float]]]
    account_id: int


def build_vocabulary(rng: random.Random) -> Vocabulary:
    """Draw the actors and event kinds of one account from `rng`."""
    actors = [Actor(SYSTEM_ACTOR_ID, SYSTEM_ACTOR_NAME, "system", (None,))]
    for role, names in (("admin", ADMIN_NAMES), ("agent", AGENT_NAMES)):
        for name in names:
            ips = tuple(_ip(rng) for _ in range(rng.randint(1, 3)))
            actors.append(Actor(rng.randint(360_000_000_000, 399_999_999_999) * 10 + 7,
                                name, role, ips))
    ids = _IdPool(rng)
    kinds: list[EventKind] = []
    by_role: dict[str, tuple[list[int], list[float]]] = {"admin": ([], []), "agent": ([], []),
                                                         "system": ([], [])}

    def add(roles: dict[str, float], kind: EventKind) -> None:
        kinds.append(kind)
        for role, weight in roles.items():
            by_role[role][0].append(len(kinds) - 1)
            by_role[role][1].append(weight)

    humans = [a for a in actors if a.role != "system"]
    account_id = ids.next()
    share = sum(SIGN_IN_METHODS.values())
    for method, weight in SIGN_IN_METHODS.items():
        add({"admin": 30.0 * weight / share, "agent": 60.0 * weight / share},
            EventKind("login", "user", 0, SIGN_IN_LABEL_PREFIX,
                      f"Successful sign-in using {method}", self_source=True))
    for prefix, names in (("Trigger", TRIGGERS), ("Automation", AUTOMATIONS)):
        for name in names:
            sid = ids.next()
            label = f"{prefix}: {name}"
            add({"admin": 0.6}, EventKind("create", "rule", sid, label, ""))
            add({"admin": 3.0}, EventKind("update", "rule", sid, label,
                                          f"description changed from not set to {_entities(name)}"))
            add({"admin": 2.0}, EventKind("update", "rule", sid, label, "Enabled"))
            add({"admin": 0.3}, EventKind("destroy", "rule", sid, label, ""))
    for prefix, names in (("Macro", MACROS), ("View", VIEWS)):
        for name in names:
            sid = ids.next()
            label = f"{prefix}: {name}"
            add({"admin": 0.8, "agent": 0.6}, EventKind("create", "rule", sid, label, ""))
            add({"admin": 2.0, "agent": 1.5}, EventKind("update", "rule", sid, label, "Updated"))
            add({"admin": 0.2, "agent": 0.1}, EventKind("destroy", "rule", sid, label, ""))
    add({"admin": 0.5}, EventKind("update", "rule", ids.next(), "Macro: Tom & Jerry",
                                  "description changed from not set to Tom &amp; Jerry"))
    for name, description in zip(SCHEDULES, WORKWEEK_DESCRIPTIONS, strict=True):
        sid = ids.next()
        add({"admin": 0.5}, EventKind("update", "zendesk/business_hours/workweek", sid,
                                      f"Workweek: {name}", description))
    for position, user in enumerate(humans):
        for _ in range(2):
            old, new = rng.sample(ROLES, 2)
            add({"admin": 0.15}, EventKind("update", "user", user.actor_id, user.name,
                                           f"Role changed from {old} to {new}"))
        add({"admin": 0.1}, EventKind("update", "user", user.actor_id, user.name,
                                      PRODUCT_ROLE_CHANGES[position % len(PRODUCT_ROLE_CHANGES)]))
    for name in ("Bob Cat", "Liam Murphy"):
        sid = next(a.actor_id for a in humans if a.name == name)
        add({"admin": 0.1}, EventKind("update", "user_setting", sid, f"Suspension state: {name}",
                                      "Suspended"))
    for position, name in enumerate(API_TOKENS):
        sid = ids.next()
        source_type = API_TOKEN_SOURCE_TYPES[position % len(API_TOKEN_SOURCE_TYPES)]
        add({"admin": 0.3}, EventKind("create", source_type, sid, f"API token: {name}", ""))
        add({"admin": 0.2}, EventKind("destroy", source_type, sid, f"API token: {name}", ""))
    for setting, descriptions in (("Two-factor authentication", ("Enabled", "Disabled")),
                                  ("Account assumption", ("Changed from Off to 1 week",)),
                                  ("Credit card redaction", ("Disabled", "Enabled"))):
        sid = ids.next()
        for description in descriptions:
            add({"admin": 0.2}, EventKind("update", "account_setting", sid, setting, description))
    add({"admin": 0.05}, EventKind("update", "account_setting", ids.next(), "Account owner",
                                   f"Owner changed from {humans[0].name} to {humans[1].name}"))
    add({"admin": 0.6}, EventKind("exported", "account", account_id, "Audit log", ""))
    for label, weight in (("Ticket field: Order number", 1.0), ("Group: Tier 2", 0.5)):
        source_type = "ticket_field" if label.startswith("Ticket") else "group"
        add({"admin": weight}, EventKind("update", source_type, ids.next(), label, "Updated"))
    add({"system": 8.0}, EventKind("destroy", "attachment", 0, "Attachment", "",
                                   random_source=True))
    add({"system": 1.0}, EventKind("update", "zendesk/app_market/app", ids.next(),
                                   "App: Slack", ""))
    add({"system": 1.0}, EventKind("update", "sla/policy", ids.next(), "SLA policy: Gold", ""))
    add({"system": 0.5}, EventKind("update", "user_setting", ids.next(), "User setting", ""))
    for _ in range(DELETED_TICKETS):  # permanent deletions: ticket ids are short, unlike the rest
        ticket_id = rng.randint(1_000, 99_999)
        add({"admin": 0.05, "agent": 0.02}, EventKind("destroy", "ticket", ticket_id,
                                                      f"Ticket: #{ticket_id}", ""))
    return Vocabulary(actors, kinds, by_role, account_id)


def _ip(rng: random.Random) -> str:
    first = rng.choice((81, 85, 90, 176, 193, 203, 2001))
    if first == 2001:
        return f"2001:db8::{rng.randint(1, 0xFFFF):x}"
    return f"{first}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"


def _entities(text: str) -> str:
    return text.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")


class _IdPool:
    """Unique 13-digit source ids."""

    def __init__(self, rng: random.Random) -> None:
        self._next = 6_000_000_000_000 + rng.randint(0, 10**9)
        self._rng = rng

    def next(self) -> int:
        self._next += self._rng.randint(1_000, 10**7)
        return self._next
