"""Alembic environment: the connection (holding the migration lock) or URL comes from the caller
(services.ledger.db.migrate)."""

from alembic import context
from sqlalchemy import create_engine

from services.ledger.schema import metadata

url = context.config.get_main_option("sqlalchemy.url") or ""
given = context.config.attributes.get("connection")
if context.is_offline_mode():
    context.configure(url=url, target_metadata=metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
elif given is not None:
    context.configure(connection=given, target_metadata=metadata)
    with context.begin_transaction():
        context.run_migrations()
    given.commit()
else:
    engine = create_engine(url)
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=metadata)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()
