-- Alerts kept across restarts (issue 21): what modules raised (`source` 'module', kiln.alert) and what the
-- runtime raised itself ('runtime': a crash, a failure, a rollback), numbered by `seq` from 1 for the life of
-- the store, so clients resume with `?after=SEQ` after a restart. Bounded: `AlertLog` keeps the newest 10,000
-- rows, deleting older ones in the transaction that inserts. An operator's acknowledgement sets `acked_*`
-- and is audited (kind 'alert_ack'): the audit table is rebuilt to allow that kind, ids kept.
CREATE TABLE alerts (
  seq          INTEGER PRIMARY KEY,
  module       TEXT    NOT NULL,
  severity     TEXT    NOT NULL CHECK (severity IN ('warning', 'critical')),
  message      TEXT    NOT NULL,
  at_ms        INTEGER NOT NULL,            -- milliseconds since the epoch, UTC
  source       TEXT    NOT NULL CHECK (source IN ('module', 'runtime')),
  acked_at_ms  INTEGER,
  acked_by     TEXT
);
CREATE INDEX alerts_module ON alerts (module, seq);

CREATE TABLE audit_events_new (
  id          INTEGER PRIMARY KEY,
  at          TEXT    NOT NULL,
  module      TEXT    NOT NULL,
  kind        TEXT    NOT NULL CHECK (kind IN ('grant', 'revoke', 'denial', 'signature', 'alert_ack')),
  capability  TEXT    NOT NULL,
  detail      TEXT
);
INSERT INTO audit_events_new (id, at, module, kind, capability, detail)
  SELECT id, at, module, kind, capability, detail FROM audit_events;
DROP TABLE audit_events;
ALTER TABLE audit_events_new RENAME TO audit_events;
CREATE INDEX audit_events_module ON audit_events (module, id);
CREATE INDEX audit_events_kind ON audit_events (kind, id);
