-- The store-and-forward outbox (issue 5). Placeholder, filled in by the outbox work.
SELECT 1;
