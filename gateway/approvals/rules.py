"""An organisation's approval rules, as data: one document (YAML or JSON) per recipient partner.

    rules:
      - name: large purchases               # unique in the document
        when:                               # every condition given must hold; a list is "any of"
          supplier: [DE123456789]           # seller VAT (BT-31), legal id (BT-30) or address (BT-34)
          min_amount: 5000                  # inclusive, on amount_term (default BT-112, total with VAT)
          max_amount: 100000                # exclusive
          amount_term: BT-112               # BT-109 (without VAT), BT-112, BT-115 (amount due)
          currency: [EUR]                   # BT-5
          buyer_reference: [PO-SERVICES]    # BT-10
          cost_centre: [CC-410]             # BT-19 (the buyer's accounting reference)
          vat_category: [AE, K]             # BT-118, any line of the VAT breakdown
          type_code: ["380"]                # BT-3
        approvers: [alice, bob]             # the organisation's recipient logins
        order: in_order                     # in_order (each in turn) or any_of
        required: 1                         # any_of: how many approvals it takes
        remind_after_hours: 24              # a reminder to whoever is awaited, every so often
        escalate_after_hours: 72            # then escalated, once per step, to:
        escalate_to: [carol]

The first rule whose conditions all hold makes the invoice wait; none: it goes on as before.
``check`` refuses a document with every problem named by its field (``RuleError``): a rule
that cannot be applied must never be stored, since it would let invoices through unapproved.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, Optional

import sqlalchemy as sa
import yaml

from gateway.db import ApprovalRuleSet, Partner, User, utcnow
from gateway.db.approvals import MODES

from .errors import RuleError

MAX_SOURCE = 64 * 1024
MAX_RULES = 50
MAX_APPROVERS = 20
MAX_VALUES = 100
MAX_HOURS = 24 * 365
AMOUNT_TERMS = {"BT-109": "total_without_vat", "BT-112": "total_with_vat", "BT-115": "amount_due"}
LIST_CONDITIONS = ("supplier", "currency", "buyer_reference", "cost_centre", "vat_category", "type_code")
CONDITIONS = LIST_CONDITIONS + ("min_amount", "max_amount", "amount_term")
RULE_KEYS = ("name", "when", "approvers", "order", "required", "remind_after_hours", "escalate_after_hours",
             "escalate_to")


@dataclass(frozen=True)
class Rule:
    """One checked rule; approvers and escalation targets by user id (names kept for the record)."""
    name: str
    when: dict[str, Any]
    approvers: tuple[int, ...]
    mode: str = "in_order"
    required: int = 1
    remind_after_hours: Optional[float] = None
    escalate_after_hours: Optional[float] = None
    escalate_to: tuple[int, ...] = ()


@dataclass
class Facts:
    """What the rules look at in one invoice (taken from its model)."""
    suppliers: set[str] = field(default_factory=set)
    amounts: dict[str, Optional[Decimal]] = field(default_factory=dict)
    currency: Optional[str] = None
    buyer_reference: Optional[str] = None
    cost_centre: Optional[str] = None
    vat_categories: set[str] = field(default_factory=set)
    type_code: Optional[str] = None

    def shown(self, rule: Rule) -> dict[str, Any]:
        """The values the rule's conditions saw (kept on the case: why it waits)."""
        term = rule.when.get("amount_term", "BT-112")
        out: dict[str, Any] = {}
        for key in rule.when:
            if key in ("min_amount", "max_amount", "amount_term"):
                amount = self.amounts.get(term)
                out[term] = None if amount is None else str(amount)
            elif key == "supplier":
                out["supplier"] = sorted(self.suppliers)
            elif key == "vat_category":
                out["vat_category"] = sorted(self.vat_categories)
            else:
                out[key] = getattr(self, key)
        return out


def _norm(value: Any) -> str:
    return "".join(str(value).split()).upper()


def facts_of(invoice: Any) -> Facts:
    seller = invoice.seller
    ids: list[Any] = [getattr(seller, "vat_identifier", None)]
    for ident in (getattr(seller, "legal_registration_identifier", None), getattr(seller, "electronic_address", None)):
        if ident is not None:
            ids.append(getattr(ident, "value", None))
    for ident in getattr(seller, "identifiers", None) or ():
        ids.append(getattr(ident, "value", None))
    totals = invoice.totals
    return Facts(
        suppliers={_norm(i) for i in ids if i},
        amounts={term: getattr(totals, attr, None) if totals is not None else None
                 for term, attr in AMOUNT_TERMS.items()},
        currency=_norm(invoice.currency_code) if getattr(invoice, "currency_code", None) else None,
        buyer_reference=getattr(invoice, "buyer_reference", None),
        cost_centre=getattr(invoice, "buyer_accounting_reference", None),
        vat_categories={_norm(v.category_code) for v in invoice.vat_breakdown or () if v.category_code},
        type_code=getattr(invoice, "type_code", None))


def matches(rule: Rule, facts: Facts) -> bool:
    when = rule.when
    if "supplier" in when and not facts.suppliers & {_norm(v) for v in when["supplier"]}:
        return False
    amount = facts.amounts.get(when.get("amount_term", "BT-112"))
    if "min_amount" in when and (amount is None or amount < Decimal(when["min_amount"])):
        return False
    if "max_amount" in when and (amount is None or amount >= Decimal(when["max_amount"])):
        return False
    if "vat_category" in when and not facts.vat_categories & {_norm(v) for v in when["vat_category"]}:
        return False
    for key in ("currency", "buyer_reference", "cost_centre", "type_code"):
        if key in when:
            value = getattr(facts, key)
            if value is None or _norm(value) not in {_norm(v) for v in when[key]}:
                return False
    return True


def first_match(rules: list[Rule], facts: Facts) -> Optional[Rule]:
    return next((r for r in rules if matches(r, facts)), None)


# --- reading and checking a document ---------------------------------------------------------

def parse(text: str) -> Any:
    """The text as data (YAML, of which JSON is a part); ``RuleError`` when it is not."""
    if len(text.encode("utf-8")) > MAX_SOURCE:
        raise RuleError({"document": f"at most {MAX_SOURCE} bytes"})
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        raise RuleError({"document": f"not YAML or JSON{where}: {getattr(e, 'problem', None) or e}"}) from None


def _strings(errors: dict[str, str], where: str, value: Any, *, limit: int = MAX_VALUES) -> list[str]:
    if isinstance(value, (str, int)) and not isinstance(value, bool):
        value = [value]
    if not isinstance(value, list) or not value:
        errors[where] = "expected a value or a non-empty list of values"
        return []
    if len(value) > limit:
        errors[where] = f"at most {limit} values"
        return []
    out = []
    for i, v in enumerate(value):
        if isinstance(v, bool) or not isinstance(v, (str, int)) or not str(v).strip() or len(str(v)) > 200:
            errors[f"{where}[{i}]"] = "expected a text of 1 to 200 characters"
        else:
            out.append(str(v).strip())
    return out


def _amount(errors: dict[str, str], where: str, value: Any) -> Optional[str]:
    try:
        if isinstance(value, bool):
            raise InvalidOperation
        number = Decimal(str(value))
        if not number.is_finite() or number < 0 or number >= Decimal("1e15"):
            raise InvalidOperation
    except (InvalidOperation, ValueError):
        errors[where] = "expected a decimal amount from 0 to 10^15"
        return None
    return str(number)


def _hours(errors: dict[str, str], where: str, value: Any) -> Optional[float]:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= MAX_HOURS:
        errors[where] = f"expected a number of hours above 0, at most {MAX_HOURS}"
        return None
    return float(value)


def _users(errors: dict[str, str], where: str, value: Any, people: dict[str, User]) -> list[int]:
    names = _strings(errors, where, value, limit=MAX_APPROVERS)
    ids = []
    for i, name in enumerate(names):
        user = people.get(name)
        if user is None:
            errors[f"{where}[{i}]"] = f"{name!r} is not an active recipient login of this organisation"
        elif user.id in ids:
            errors[f"{where}[{i}]"] = f"{name!r} is named twice"
        else:
            ids.append(user.id)
    return ids


def _when(errors: dict[str, str], where: str, value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        errors[where] = "expected conditions by name: " + ", ".join(CONDITIONS)
        return {}
    out: dict[str, Any] = {}
    for key, v in value.items():
        at = f"{where}.{key}"
        if key in LIST_CONDITIONS:
            out[key] = _strings(errors, at, v)
        elif key in ("min_amount", "max_amount"):
            amount = _amount(errors, at, v)
            if amount is not None:
                out[key] = amount
        elif key == "amount_term":
            if v not in AMOUNT_TERMS:
                errors[at] = f"expected one of {', '.join(AMOUNT_TERMS)}"
            else:
                out[key] = v
        else:
            errors[at] = f"no condition {key!r} (known: {', '.join(CONDITIONS)})"
    if "min_amount" in out and "max_amount" in out and Decimal(out["min_amount"]) >= Decimal(out["max_amount"]):
        errors[f"{where}.max_amount"] = "must be above min_amount"
    return out


def people_of(s, partner_id: int) -> dict[str, User]:
    """Who may approve for an organisation: its active recipient logins, by username."""
    return {u.username: u for u in s.scalars(sa.select(User).where(
        User.partner_id == partner_id, User.role == "recipient", User.active.is_(True)))}


def check(s, partner_id: int, data: Any) -> tuple[dict[str, Any], list[Rule]]:
    """The rule document ``data`` checked for ``partner_id``: its stored form (names as given) and
    the rules (ids); ``RuleError`` naming every field that is wrong."""
    errors: dict[str, str] = {}
    if not isinstance(data, dict) or set(data) - {"rules"}:
        raise RuleError({"document": "expected an object with one key, rules (a list of rules)"})
    items = data.get("rules")
    if items is None:
        items = []
    if not isinstance(items, list):
        raise RuleError({"rules": "expected a list of rules"})
    if len(items) > MAX_RULES:
        raise RuleError({"rules": f"at most {MAX_RULES} rules"})
    people = people_of(s, partner_id)
    rules: list[Rule] = []
    names: set[str] = set()
    for i, item in enumerate(items):
        at = f"rules[{i}]"
        if not isinstance(item, dict):
            errors[at] = "expected a rule (an object)"
            continue
        for key in set(item) - set(RULE_KEYS):
            errors[f"{at}.{key}"] = f"unknown key (known: {', '.join(RULE_KEYS)})"
        name = item.get("name")
        if not isinstance(name, str) or not name.strip() or len(name) > 100:
            errors[f"{at}.name"] = "expected a name of 1 to 100 characters"
            name = f"rule {i + 1}"
        elif name.strip() in names:
            errors[f"{at}.name"] = f"{name!r} names an earlier rule too"
        name = name.strip()
        names.add(name)
        when = _when(errors, f"{at}.when", item.get("when"))
        approvers = _users(errors, f"{at}.approvers", item.get("approvers"), people)
        mode = item.get("order", "in_order")
        if mode not in MODES:
            errors[f"{at}.order"] = f"expected {' or '.join(MODES)}"
        required = item.get("required", len(approvers) if mode == "in_order" else 1)
        if mode == "in_order" and "required" in item and required != len(approvers):
            errors[f"{at}.required"] = "in order, every approver named approves: leave it out"
        elif isinstance(required, bool) or not isinstance(required, int) or not 1 <= required <= max(1, len(approvers)):
            errors[f"{at}.required"] = f"expected a whole number from 1 to {max(1, len(approvers))}"
        remind = _hours(errors, f"{at}.remind_after_hours", item.get("remind_after_hours"))
        escalate = _hours(errors, f"{at}.escalate_after_hours", item.get("escalate_after_hours"))
        escalate_to: list[int] = []
        if item.get("escalate_to") is not None:
            escalate_to = _users(errors, f"{at}.escalate_to", item.get("escalate_to"), people)
        if escalate is not None and not escalate_to and f"{at}.escalate_to" not in errors:
            errors[f"{at}.escalate_to"] = "escalate_after_hours needs someone to escalate to"
        if escalate_to and escalate is None:
            errors[f"{at}.escalate_after_hours"] = "escalate_to needs a delay"
        if not errors:
            rules.append(Rule(name=name, when=when, approvers=tuple(approvers), mode=mode, required=int(required),
                              remind_after_hours=remind, escalate_after_hours=escalate,
                              escalate_to=tuple(escalate_to)))
    if errors:
        raise RuleError(errors)
    return {"rules": items}, rules


def load(s, partner_id: Optional[int]) -> list[Rule]:
    """The organisation's rules as they stand now (approvers who left are simply not there: a rule
    whose approvers all left still makes invoices wait, for its escalation or an operator)."""
    if partner_id is None:
        return []
    row = s.scalar(sa.select(ApprovalRuleSet).where(ApprovalRuleSet.partner_id == partner_id))
    if row is None:
        return []
    people = {u.username: u.id for u in s.scalars(sa.select(User).where(User.partner_id == partner_id))}
    out = []
    for item in (row.document or {}).get("rules") or []:
        approvers = [people[n] for n in _names(item.get("approvers")) if n in people]
        mode = item.get("order", "in_order")
        out.append(Rule(name=item["name"].strip(), when=_when({}, "", item.get("when")), approvers=tuple(approvers),
                        mode=mode, required=int(item.get("required", len(approvers) if mode == "in_order" else 1)),
                        remind_after_hours=item.get("remind_after_hours"),
                        escalate_after_hours=item.get("escalate_after_hours"),
                        escalate_to=tuple(people[n] for n in _names(item.get("escalate_to")) if n in people)))
    return out


def _names(value: Any) -> list[str]:
    if value is None:
        return []
    return [str(v).strip() for v in (value if isinstance(value, list) else [value])]


def save(s, partner_id: int, source: Any, *, by: str) -> ApprovalRuleSet:
    """Check and store ``source`` (text, or data already read) as the organisation's rules."""
    if s.get(Partner, partner_id) is None:
        raise RuleError({"partner": f"no partner {partner_id}"})
    if isinstance(source, str):
        data, text = parse(source), source
    else:
        data, text = source, json.dumps(source, ensure_ascii=False, indent=2)
    stored, _ = check(s, partner_id, data)
    row = s.scalar(sa.select(ApprovalRuleSet).where(ApprovalRuleSet.partner_id == partner_id))
    if row is None:
        row = ApprovalRuleSet(partner_id=partner_id, version=0)
        s.add(row)
    row.source, row.document = text, stored
    row.version = (row.version or 0) + 1
    row.updated_at, row.updated_by = utcnow(), by[:200]
    s.flush()
    return row


def stored(s, partner_id: int) -> Optional[ApprovalRuleSet]:
    return s.scalar(sa.select(ApprovalRuleSet).where(ApprovalRuleSet.partner_id == partner_id))
