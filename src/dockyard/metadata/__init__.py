"""The metadata database: SQLAlchemy models, every SQL query, and the migrations."""
