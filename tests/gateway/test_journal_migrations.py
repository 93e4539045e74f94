from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from gateway.journal_schema import metadata


def test_migrations_build_exactly_the_schema_the_code_uses(journal):
    with journal._engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == []


def test_migrating_twice_is_harmless(journal):
    from gateway.journal import migrate

    migrate(journal._engine)
    migrate(journal._engine)
