-- The audit log: what each module was granted, what it was refused, and how often it used each grant.
CREATE TABLE audit_events (
  id          INTEGER PRIMARY KEY,
  at          TEXT    NOT NULL,            -- ISO 8601, UTC
  module      TEXT    NOT NULL,
  kind        TEXT    NOT NULL CHECK (kind IN ('grant', 'revoke', 'denial')),
  capability  TEXT    NOT NULL,            -- the capability granted or revoked, or the one a denied call needed
  detail      TEXT                         -- for denials: the call and its arguments
);
CREATE INDEX audit_events_module ON audit_events (module, id);
CREATE INDEX audit_events_kind ON audit_events (kind, id);

CREATE TABLE capability_use (
  module      TEXT    NOT NULL,
  capability  TEXT    NOT NULL,
  uses        INTEGER NOT NULL DEFAULT 0,
  denials     INTEGER NOT NULL DEFAULT 0,
  last_at     TEXT    NOT NULL,
  PRIMARY KEY (module, capability)
);
