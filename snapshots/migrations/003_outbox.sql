-- The store-and-forward outbox (issue 5): every outbound message is written here before it is sent and
-- deleted only when the transport confirms delivery. Every change (a message, its stream's sequence number,
-- the counters) is made in one transaction, so the counters always agree with the rows, also after a crash:
-- per kind, enqueued = depth + delivered + dropped.

-- The queue. `id` is the drain order (insertion order); AUTOINCREMENT because an id must never be given
-- out again, also when the newest message was just deleted: the forwarder reads on from the last id it sent.
-- `seq` numbers messages within their stream from 1, so a receiver can detect gaps and drop duplicates by
-- (stream, seq).
CREATE TABLE outbox (
  id            INTEGER PRIMARY KEY AUTOINCREMENT,
  stream        TEXT    NOT NULL,
  seq           INTEGER NOT NULL,
  kind          TEXT    NOT NULL CHECK (kind IN ('alert', 'telemetry', 'batch')),
  topic         TEXT    NOT NULL,
  payload       BLOB    NOT NULL,
  qos           INTEGER NOT NULL CHECK (qos IN (0, 1, 2)),
  created_at_ms INTEGER NOT NULL,            -- ms since the epoch
  bytes         INTEGER NOT NULL,            -- what the message counts against the disk budget
  UNIQUE (stream, seq)
);
-- The budget policy deletes the oldest message of a kind.
CREATE INDEX outbox_kind ON outbox (kind, id);

-- The last sequence number given out per stream. Never goes back, also when its messages are delivered or
-- dropped, so sequence numbers continue after a restart.
CREATE TABLE outbox_streams (
  stream   TEXT    PRIMARY KEY,
  last_seq INTEGER NOT NULL,
  dropped  INTEGER NOT NULL DEFAULT 0      -- messages of this stream deleted by the budget policy
) WITHOUT ROWID;

-- Counters per kind, kept across restarts.
CREATE TABLE outbox_kinds (
  kind          TEXT    PRIMARY KEY CHECK (kind IN ('alert', 'telemetry', 'batch')),
  depth         INTEGER NOT NULL DEFAULT 0, -- messages waiting
  size_bytes    INTEGER NOT NULL DEFAULT 0, -- their `bytes`
  enqueued      INTEGER NOT NULL DEFAULT 0,
  delivered     INTEGER NOT NULL DEFAULT 0, -- acknowledged by the transport
  dropped       INTEGER NOT NULL DEFAULT 0, -- deleted by the budget policy
  dropped_bytes INTEGER NOT NULL DEFAULT 0,
  over_budget   INTEGER NOT NULL DEFAULT 0  -- accepted although the outbox was over its budget
) WITHOUT ROWID;
INSERT INTO outbox_kinds (kind) VALUES ('alert'), ('telemetry'), ('batch');
