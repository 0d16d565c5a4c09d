"""Background work as rows of one ``jobs`` table, run by worker processes (``flask worker``).

:mod:`.queue` enqueues, claims (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, a conditional
``UPDATE`` under SQLite's single writer), heartbeats, retries with backoff and finishes
jobs; :mod:`.worker` runs them; :mod:`.handlers` says what each kind does. Nothing here is
imported by the web app's request path but :mod:`.queue` and :func:`.worker.notify`.
"""
