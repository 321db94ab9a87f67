-- Each outbox message's owner (issue 14): the module whose telemetry or alert it is, or NULL (Mode C batches,
-- messages from before this migration), so that what one module has waiting can be bounded to its share of
-- the disk budget. `outbox_owners` counts each owner's waiting messages and their `bytes`; it changes in the
-- same transactions as the rows (enqueue, ack, budget drops), so it always agrees with them. An owner's row
-- is deleted when it has nothing waiting.
ALTER TABLE outbox ADD COLUMN owner TEXT;

CREATE TABLE outbox_owners (
  owner      TEXT    PRIMARY KEY,
  depth      INTEGER NOT NULL DEFAULT 0, -- messages waiting
  size_bytes INTEGER NOT NULL DEFAULT 0  -- their `bytes`
) WITHOUT ROWID;
