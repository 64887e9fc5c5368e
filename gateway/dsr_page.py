"""The data-subject bundle as a page people can read, and the erasure confirmation pages.

Pure rendering (Jinja2, autoescaped: every value in a bundle came from a visitor or a shop
and is escaped). The HTML holds the same content as the JSON: consents, profile,
decisions, events and the audit entries with their proofs (hashes shortened for reading,
the full proof is in the JSON download).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from jinja2 import Environment

_ENV = Environment(autoescape=True, trim_blocks=True, lstrip_blocks=True)
_ENV.filters["pretty"] = lambda v: json.dumps(v, ensure_ascii=False, indent=2, sort_keys=True)
_ENV.filters["short"] = lambda v: (str(v)[:16] + "…") if v and len(str(v)) > 16 else v

_STYLE = """
body{font:16px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;
color:#1b1b1b}
table{border-collapse:collapse;width:100%;margin:.5rem 0 1.5rem}
th,td{border:1px solid #bbb;padding:.3rem .5rem;text-align:left;vertical-align:top}
th{background:#f0f0f0}code,pre{font-size:.85rem}pre{white-space:pre-wrap;background:#f7f7f7;
padding:.5rem}
a:focus,button:focus{outline:3px solid #1a5fb4;outline-offset:2px}
button{font:inherit;padding:.4rem 1rem}
"""

_BUNDLE = _ENV.from_string(
    """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Your data ({{ b.subject_ref }})</title><style>{{ style }}</style></head>
<body><main>
<h1>Your data</h1>
<p>Reference <strong>{{ b.subject_ref }}</strong>, generated {{ b.generated_at }}.
<a href="{{ json_url }}">Download as JSON</a>{% if delete_url %} ·
<a href="{{ delete_url }}">Erase my data</a>{% endif %}</p>

<h2>Consent choices</h2>
{% if b.consents %}
<table><caption>Every choice, oldest first, with the policy text it was given on</caption>
<tr><th scope="col">Time</th><th scope="col">Granted</th><th scope="col">Refused</th>
<th scope="col">How</th><th scope="col">Regime</th><th scope="col">Policy</th>
<th scope="col">Text hash</th></tr>
{% for c in b.consents %}
<tr><td>{{ c.time }}</td><td>{{ c.granted|join(", ") or "—" }}</td>
<td>{{ c.denied|join(", ") or "—" }}</td><td>{{ c.method }}{% if c.gpc %} (GPC){% endif %}</td>
<td>{{ c.regime }}</td><td>{{ c.policy_version }} ({{ c.language }})</td>
<td><code title="{{ c.text_hash }}">{{ c.text_hash|short }}</code></td></tr>
{% endfor %}
</table>
{% else %}<p>No consent choices are stored.</p>{% endif %}

<h2>What personalization knows</h2>
{% if b.profile %}<pre>{{ b.profile|pretty }}</pre>{% else %}<p>No profile.</p>{% endif %}

<h2>Decisions</h2>
{% if b.decisions %}
<table><tr><th scope="col">Rule</th><th scope="col">Purposes relied on</th>
<th scope="col">First</th><th scope="col">Last</th><th scope="col">Times</th></tr>
{% for d in b.decisions %}
<tr><td>{{ d.rule }}</td><td>{{ d.purposes|join(", ") }}</td><td>{{ d.first }}</td>
<td>{{ d.last }}</td><td>{{ d.count }}</td></tr>
{% endfor %}
</table>
{% else %}<p>No decisions used your data.</p>{% endif %}

<h2>Events</h2>
{% if b.events %}
<table><tr><th scope="col">Time</th><th scope="col">Event</th><th scope="col">Details</th></tr>
{% for e in b.events %}
<tr><td>{{ e.ts }}</td><td>{{ e.type }}</td>
<td>{% for k, v in e.items() if k not in ("ts", "type") %}{{ k }}: {{ v }}
{%- if not loop.last %}, {% endif %}{% endfor %}</td></tr>
{% endfor %}
</table>
{% else %}<p>No events.</p>{% endif %}

<h2>Audit log entries about you</h2>
{% if b.audit %}
<p>Each entry is included in the signed log; its inclusion proof is in the JSON download.</p>
<table><tr><th scope="col">#</th><th scope="col">Time</th><th scope="col">Action</th>
<th scope="col">By</th><th scope="col">Details</th><th scope="col">Proof</th></tr>
{% for a in b.audit %}
<tr><td>{{ a.seq }}</td><td>{{ a.ts }}</td><td>{{ a.action }}</td><td>{{ a.actor }}</td>
<td>{% if a.data %}<pre>{{ a.data|pretty }}</pre>{% else %}{{ a.data_status }}{% endif %}</td>
<td>{% if a.proof %}leaf {{ a.proof.leaf_index }} of {{ a.proof.tree_size }},
root <code title="{{ a.proof.root }}">{{ a.proof.root|short }}</code>
{%- else %}{{ a.proof_status }}{% endif %}</td></tr>
{% endfor %}
</table>
{% else %}<p>No audit entries.</p>{% endif %}
</main></body></html>
"""
)

_CONFIRM = _ENV.from_string(
    """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Erase your data</title><style>{{ style }}</style></head>
<body><main>
<h1>Erase your data</h1>
<p>This erases your consent history, your profile and everything personalization learned
about you, and forgets this browser. The audit log keeps a record that an erasure
happened, but nothing in it can be linked to you any more. This cannot be undone.</p>
<form method="post" action="{{ action }}">
<input type="hidden" name="csrf" value="{{ csrf }}">
<input type="hidden" name="confirm" value="yes">
<button type="submit">Yes, erase my data</button>
<a href="{{ back }}">Cancel</a>
</form>
</main></body></html>
"""
)

_DONE = _ENV.from_string(
    """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Your data was erased</title><style>{{ style }}</style></head>
<body><main>
<h1>Your data was erased</h1>
<p>Everything stored about reference <strong>{{ ref }}</strong> is gone, and this browser
is no longer recognised. <a href="/">Back to the shop</a></p>
</main></body></html>
"""
)


def render_bundle(bundle: Mapping[str, Any], *, json_url: str, delete_url: str | None) -> str:
    """The bundle as an HTML page (no erase link when `delete_url` is None: an officer's copy)."""
    return _BUNDLE.render(b=bundle, style=_STYLE, json_url=json_url, delete_url=delete_url)


def render_confirm(*, action: str, csrf: str, back: str) -> str:
    """The erasure confirmation form (posts ``confirm=yes`` with the CSRF token)."""
    return _CONFIRM.render(action=action, csrf=csrf, back=back, style=_STYLE)


def render_erased(subject_ref: str) -> str:
    """The page after a self-service erasure."""
    return _DONE.render(ref=subject_ref, style=_STYLE)
