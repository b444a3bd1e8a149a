"""All SQL, one module per thing queried. Functions take a Connection inside a transaction."""
