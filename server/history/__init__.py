"""What is read back: the queries and services behind the pages and the JSON API, the
aggregates ingest keeps for them, flakiness, and retention. Plain arguments in, models out;
nothing here reads a request."""
