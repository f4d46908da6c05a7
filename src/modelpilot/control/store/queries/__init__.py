"""Query functions, one module per table family. Each takes the SQLAlchemy session explicitly and
scopes every read and write to the account or deployment it is given."""
