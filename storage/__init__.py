"""Storage: one async SQLAlchemy engine (SQLite or PostgreSQL) and schema migrations.

Below every other package: `consent`, `audit` and `personalization_rules` keep their tables
here-registered I/O shells on top of it, and `gateway` wires them; nothing here imports them.
"""
