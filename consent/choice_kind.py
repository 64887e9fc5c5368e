"""What a consent record did, in the words of the contract's audit actions.

- `given`: it grants something that was not granted before.
- `refused`: it grants nothing, and nothing was granted before (a first "Reject all").
- `withdrawn`: it takes back something granted and grants nothing new (GDPR Art. 7(3):
  withdrawing must be as easy as giving, and is its own event).
- `changed`: it takes something back and grants something else.
- `gpc`: the browser's Global Privacy Control signal changed (no explicit choice).

"Granted" means what took effect: a grant that a GPC signal held back because the visitor did
not confirm it (11 CCR §7025(c)(3)) granted nothing, so it is not counted as one. The kind is
derived from the stored records, never from what an older audit entry called it, so entries
written before `refused` existed are read by the same rule.
"""

from __future__ import annotations

from typing import Literal

from consent.state import ConsentRecord

Kind = Literal["given", "refused", "withdrawn", "changed", "gpc"]
KINDS: tuple[Kind, ...] = ("given", "refused", "withdrawn", "changed", "gpc")


def held_by_gpc(record: ConsentRecord, gpc_refused: frozenset[str]) -> frozenset[str]:
    """The grants of `record` that its GPC signal kept off (the visitor did not confirm them)."""
    if not record.gpc or record.gpc_confirmed_override:
        return frozenset()
    return record.granted & gpc_refused


def effective_grants(record: ConsentRecord | None, gpc_refused: frozenset[str]) -> frozenset[str]:
    """What `record` actually granted (nothing for no record)."""
    if record is None:
        return frozenset()
    return record.granted - held_by_gpc(record, gpc_refused)


def kind_of(before: frozenset[str], after: frozenset[str]) -> Kind:
    """The kind of an explicit choice that moved the effective grants from `before` to `after`."""
    if after - before:
        return "given" if before <= after else "changed"
    if not before:
        return "refused"
    if after < before:
        return "withdrawn"
    return "changed"  # the same grants again (e.g. a saved form with nothing changed)


def choice_kind(
    previous: ConsentRecord | None, record: ConsentRecord, gpc_refused: frozenset[str]
) -> Kind:
    """The kind of `record`, made after `previous`.

    `gpc_refused`: the purposes GPC opts out of (`policies.purposes.gpc_purposes`).
    """
    if record.method == "gpc":
        return "gpc"
    return kind_of(effective_grants(previous, gpc_refused), effective_grants(record, gpc_refused))
