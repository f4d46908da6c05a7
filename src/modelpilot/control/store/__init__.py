"""Storage for the control plane: SQLAlchemy tables, query functions and Alembic migrations.

Contract: never imports Starlette or FastAPI; query functions take the session explicitly; this is
the only place that may branch on the database dialect.
"""
