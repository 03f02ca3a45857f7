"""The record in a database (`meek serve`): accepted result files kept as sent, one row each under unique keys (content
hash, raw samples), their runs denormalised into an indexed table, tokens stored hashed; the schema made and upgraded
by the Alembic migrations beside this module; and the Tree that compare and advise read, built from the stored files."""
