"""The console's "last verify" banner: run ``audit verify`` on demand, remember the outcome.

The check is the CLI's (``audit.verify.verify_log`` over every stored entry and checkpoint,
the public key next to the signing key, and the sink file's latest checkpoint to catch a
rolled-back store). The outcome is stored in ``cg_meta`` under ``console.verify.<chain>`` so
every node and every officer sees the same last result and when it was taken.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import datetime

from audit.signing_key import SigningKeyError, public_key_path, read_verifier
from audit.verify_store import verify_store
from policies.models import AuditSettings
from storage.store import Store


@dataclass(frozen=True)
class VerifyResult:
    """One verification run: `ok`, the message `audit verify` would print, when, by whom."""

    ok: bool
    message: str
    at: str  # RFC 3339 UTC
    by: str

    def to_json(self) -> str:
        """The stored form."""
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> VerifyResult | None:
        """Parse the stored form; None when it is not one (e.g. written by a newer version)."""
        try:
            data = json.loads(text)
            return cls(bool(data["ok"]), str(data["message"]), str(data["at"]), str(data["by"]))
        except (ValueError, KeyError, TypeError):
            return None


def meta_key(chain: str) -> str:
    """The `cg_meta` key holding the last result for `chain`."""
    return f"console.verify.{chain}"


async def last_result(store: Store, chain: str) -> VerifyResult | None:
    """The stored last result, or None when verification never ran from the console."""
    text = await store.get_meta(meta_key(chain))
    return VerifyResult.from_json(text) if text is not None else None


async def run_verify(
    store: Store, settings: AuditSettings, actor: str, now: datetime
) -> VerifyResult:
    """Verify the whole chain now, store and return the result."""
    at = now.isoformat(timespec="seconds").replace("+00:00", "Z")
    try:
        verifier = read_verifier(public_key_path(settings.signing_key_file))
    except SigningKeyError:
        try:
            verifier = read_verifier(settings.signing_key_file)
        except SigningKeyError as exc:
            result = VerifyResult(False, f"cannot verify: no public key ({exc})", at, actor)
            await store.set_meta(meta_key(settings.chain), result.to_json())
            return result
    checked = await verify_store(store, settings, verifier)
    result = VerifyResult(checked.report.ok, checked.message(), at, actor)
    await store.set_meta(meta_key(settings.chain), result.to_json())
    return result
