"""Storage: one async SQLAlchemy engine (SQLite or PostgreSQL), schema migrations and the
declarations of what each table holds.

Below every other package: `consent`, `audit` and `personalization_rules` declare their tables
(and which of them hold personal data) as schema components here, and `gateway` names the
components it runs with; nothing here imports them.
"""
