import pytest

from storage import schema
from storage.schema import (
    CORE,
    Component,
    Migration,
    SchemaError,
    component,
    plan,
    register_component,
    registered_components,
)


def noop(connection: object) -> None:
    pass


def comp(name: str, n: int) -> Component:
    return component(name, [Migration(f"step {i}", noop) for i in range(n)])


@pytest.mark.parametrize(
    ("stored", "expected"),
    [
        ({}, [("core", 0), ("consent", 0)]),  # fresh database
        ({"core": 1}, [("consent", 0)]),  # a component added by a newer release
        ({"core": 1, "consent": 1}, [("consent", 1)]),  # one new migration
        ({"core": 1, "consent": 3}, []),  # up to date
        ({"core": 1, "consent": 3, "gone": 7}, []),  # rows of unknown components are left alone
    ],
)
def test_plan_starts_each_component_at_its_first_missing_migration(
    stored: dict[str, int], expected: list[tuple[str, int]]
) -> None:
    steps = plan(stored, [CORE, comp("consent", 3)])
    assert [(c.name, start) for c, start in steps] == expected


def test_plan_refuses_a_schema_newer_than_the_code() -> None:
    with pytest.raises(SchemaError, match="'core' is at version 2 .* knows only 1"):
        plan({"core": 2}, [CORE])


@pytest.mark.parametrize(
    ("name", "count", "reason"),
    [
        ("Core", 1, "must match"),
        ("", 1, "must match"),
        ("1st", 1, "must match"),
        ("a-b", 1, "must match"),
        ("x" * 33, 1, "must match"),
        ("empty", 0, "at least one migration"),
    ],
)
def test_component_rejects(name: str, count: int, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        comp(name, count)


def test_version_is_the_number_of_migrations() -> None:
    assert comp("x" * 32, 4).version == 4
    assert CORE.version == 1


def test_registry_keeps_core_first_and_refuses_a_conflicting_component(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(schema, "_registry", dict(schema._registry))  # leave no trace
    migrations = [Migration("one", noop)]
    first = register_component("test_schema_registry", migrations)
    assert register_component("test_schema_registry", migrations) is first  # re-import
    with pytest.raises(ValueError, match="already registered"):
        register_component("test_schema_registry", [*migrations, Migration("two", noop)])
    with pytest.raises(ValueError, match="already registered"):
        register_component("core", migrations)
    names = [c.name for c in registered_components()]
    assert names[0] == "core" and "test_schema_registry" in names


def test_erased_tables_come_before_the_tables_they_point_at() -> None:
    from sqlalchemy import Column, ForeignKey, MetaData, String, Table

    meta = MetaData()
    parent = Table("parent", meta, Column("id", String, primary_key=True))
    child = Table("child", meta, Column("pid", String, ForeignKey("parent.id")))
    other = Table("other", meta, Column("id", String))
    comp_ = component(
        "t",
        [Migration("t", noop)],
        [
            schema.personal(parent, "id"),
            schema.personal(child, "pid"),
            schema.not_personal(other, "nothing"),
        ],
    )
    assert [u.table.name for u in schema.erased([comp_])] == ["child", "parent"]
    with pytest.raises(ValueError, match="no column 'subject'"):
        schema.personal(other, "subject")
    with pytest.raises(ValueError, match="no column 'ts'"):
        schema.personal(other, "id", schema.Retention("events", "ts", "events"))
