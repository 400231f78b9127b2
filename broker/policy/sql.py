"""SQL rules: statement kinds/verbs (and UPDATE/DELETE without WHERE) → allow | approval | deny.

Each statement of a string is decided on its own; the string's decision is the strictest of them
(deny > approval > allow). Refusals come first: what the classifier cannot decide, what does not
parse, and on a read-only connection anything that is not a read (transaction control and `SET`
included, so that nothing can lift the read-only transaction). Then the first SQL rule whose groups,
connections and statements match decides; a statement no rule names is allowed, the access rule
having already admitted the user to the connection.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from broker.common.yamlsrc import KeyPath, Reader
from broker.policy.access import ACTIONS, Action, connection_match, groups_match
from broker.sql.classify import KINDS, Classification, Statement

SQL_RULE_KEYS = ("name", "statements", "without_where", "action", "groups", "connections")
SQL_APPROVAL_KEYS = ("approvers", "approvals", "grant", "reason_required")
"""As on command rules, for action `approval` only (parsed by the loader's ``terms``)."""
Terms = Callable[[Reader, KeyPath, Mapping[str, Any], Action], Any]
"""Parses a rule's approval terms into a dataclass of SqlRule's approval fields."""
CLASSIFIER = "sql-classifier"
READ_ONLY = "read-only-connection"
NO_RULE = "no-sql-rule"
_STRICTNESS = {"allow": 0, "approval": 1, "deny": 2}


@dataclass(frozen=True)
class SqlRule:
    """Statements (verbs such as `drop`, or kinds such as `ddl`) → an action."""

    name: str
    """Rule name, shown in refusals and the audit log."""
    statements: frozenset[str]
    """Verbs (select, insert, update, delete, drop, alter, truncate, grant…) or kinds
    (read, write, ddl, dcl, utility, transaction); `*` for any statement."""
    action: Action
    """What happens when the rule matches."""
    without_where: bool = False
    """Only UPDATE/DELETE statements with no WHERE (or WHERE true) match."""
    groups: tuple[str, ...] = ("*",)
    """The rule applies to members of any of these groups."""
    connections: tuple[str, ...] = ("*",)
    """Connection-name globs."""
    approvers: tuple[str, ...] = ()
    """For action `approval`: groups whose members may approve (none: the `approvers` role)."""
    approvals: int = 1
    """For action `approval`: how many distinct people must approve."""
    grant_seconds: int = 3600
    """For action `approval`: how long the approved statement may be run (`sql --request`)."""
    reason_required: bool = True
    """For action `approval`: whether the request needs a justification."""

    def matches(self, statement: Statement) -> bool:
        named = "*" in self.statements or bool(
            self.statements & (statement.verbs | {statement.kind})
        )
        return named and (statement.without_where or not self.without_where)


@dataclass(frozen=True)
class SqlDecision:
    """The outcome for one SQL string."""

    action: Action
    rule: str
    """The deciding rule's name, or sql-classifier / read-only-connection / no-sql-rule."""
    reason: str = ""
    """What was refused and why, for the user and the audit log."""

    @property
    def allowed(self) -> bool:
        return self.action == "allow"


def decide_sql(
    rules: Sequence[SqlRule],
    classification: Classification,
    *,
    groups: Iterable[str],
    connection: str,
    read_only: bool,
) -> SqlDecision:
    """Decide a classified SQL string for members of ``groups`` on ``connection``."""
    if classification.refusal:
        return SqlDecision("deny", CLASSIFIER, classification.refusal)
    groups = tuple(groups)
    mine = [
        r
        for r in rules
        if groups_match(r.groups, groups) and connection_match(r.connections, connection)
    ]
    worst = SqlDecision("allow", NO_RULE)
    for statement in classification.statements:
        decision = _decide_one(mine, statement, read_only)
        stricter = _STRICTNESS[decision.action] > _STRICTNESS[worst.action]
        if stricter or (worst.rule == NO_RULE and decision.rule != NO_RULE):
            worst = decision
        if worst.action == "deny":
            break
    return worst


def _decide_one(rules: Sequence[SqlRule], statement: Statement, read_only: bool) -> SqlDecision:
    if read_only and statement.kind != "read":
        what = f"{statement.verb.upper()} ({statement.kind})"
        return SqlDecision("deny", READ_ONLY, f"{what} on a read-only connection")
    for rule in rules:
        if rule.matches(statement):
            where = " without WHERE" if rule.without_where else ""
            return SqlDecision(rule.action, rule.name, f"{statement.verb.upper()}{where}")
    return SqlDecision("allow", NO_RULE)


def parse_sql_rules(r: Reader, names: set[str], terms: Terms | None = None) -> tuple[SqlRule, ...]:
    """The `sql:` list of one policy file.

    Raises:
        ConfigError: naming file, line and key of the first problem.
    """
    raw = r.get(("sql",))
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise r.src.error(("sql",), "must be a list of rules")
    rules = []
    for i, item in enumerate(raw):
        path: KeyPath = ("sql", i)
        if not isinstance(item, dict):
            raise r.src.error(path, "each rule must be a mapping")
        rules.append(_parse_rule(r, path, item, names, terms))
    return tuple(rules)


def _parse_rule(
    r: Reader, path: KeyPath, item: dict[str, Any], names: set[str], terms: Terms | None
) -> SqlRule:
    r.only_keys(path, (*SQL_RULE_KEYS, *(SQL_APPROVAL_KEYS if terms else ())))
    name = r.string((*path, "name"), required=True)
    if name in names:
        raise r.src.error((*path, "name"), f"duplicate rule name {name!r}")
    names.add(name)
    statements = tuple(s.lower() for s in r.strings((*path, "statements")))
    if not statements:
        raise r.src.error(
            (*path, "statements"), "is required (verbs like drop, delete or kinds like ddl)"
        )
    for j, word in enumerate(statements):
        if not (word == "*" or word in KINDS or word.isidentifier()):
            raise r.src.error((*path, "statements", j), f"not a statement verb or kind: {word!r}")
    without_where = r.boolean((*path, "without_where"), default=False)
    if without_where and not set(statements) & {"update", "delete", "write", "*"}:
        raise r.src.error(
            (*path, "without_where"), "applies to update and delete; name one of them"
        )
    action_text = r.string((*path, "action"), required=True)
    action = next((a for a in ACTIONS if a == action_text), None)
    if action is None:
        raise r.src.error(
            (*path, "action"), f"must be one of {', '.join(ACTIONS)}, got {action_text!r}"
        )
    return SqlRule(
        name=name,
        statements=frozenset(statements),
        action=action,
        without_where=without_where,
        groups=r.strings((*path, "groups")) or ("*",),
        connections=r.strings((*path, "connections")) or ("*",),
        **(asdict(terms(r, path, item, action)) if terms else {}),
    )
