"""Maintenance: compact, expire, vacuum, verify, and ``maintain`` running the first three.

Destructive work plans first: each step has a pure planner (``plan_compact``,
``plan_expire``, ``plan_vacuum``) that turns the table's state and a policy into a plan,
a function that gathers the inputs and returns that plan without changing anything
(``compact_plan``, ``expire_plan``, ``vacuum_plan``), and the verb that carries it out
(``compact``, ``expire``, ``vacuum``; ``dry_run=True`` stops after planning).
"""

from __future__ import annotations

from tablever.maintenance.compaction import (
    CompactGroup,
    CompactPlan,
    compact,
    compact_plan,
    plan_compact,
)
from tablever.maintenance.expiry import ExpirePlan, expire, expire_plan, plan_expire
from tablever.maintenance.pipeline import MaintenanceReport, maintain
from tablever.maintenance.vacuuming import VacuumPlan, plan_vacuum, vacuum, vacuum_plan
from tablever.maintenance.verification import Report, verify
from tablever.policy import Policy, parse_duration

__all__ = [
    "CompactGroup",
    "CompactPlan",
    "ExpirePlan",
    "MaintenanceReport",
    "Policy",
    "Report",
    "VacuumPlan",
    "compact",
    "compact_plan",
    "expire",
    "expire_plan",
    "maintain",
    "parse_duration",
    "plan_compact",
    "plan_expire",
    "plan_vacuum",
    "vacuum",
    "vacuum_plan",
    "verify",
]
