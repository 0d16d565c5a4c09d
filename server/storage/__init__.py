"""Where everything is kept: the database handle, engine set-up and migrations, the tables,
and the bulk writes ingest needs. Nothing here knows about HTTP."""
