-- Signature checks join the audit log (issue 17): kind 'signature', `capability` holding the outcome
-- ('verified', 'unsigned', or 'refused: <reason>') and `detail` the signer, chain and sha256 or the refusal.
-- SQLite cannot change a CHECK constraint in place: the table is rebuilt, ids kept.
CREATE TABLE audit_events_new (
  id          INTEGER PRIMARY KEY,
  at          TEXT    NOT NULL,
  module      TEXT    NOT NULL,
  kind        TEXT    NOT NULL CHECK (kind IN ('grant', 'revoke', 'denial', 'signature')),
  capability  TEXT    NOT NULL,
  detail      TEXT
);
INSERT INTO audit_events_new (id, at, module, kind, capability, detail)
  SELECT id, at, module, kind, capability, detail FROM audit_events;
DROP TABLE audit_events;
ALTER TABLE audit_events_new RENAME TO audit_events;
CREATE INDEX audit_events_module ON audit_events (module, id);
CREATE INDEX audit_events_kind ON audit_events (kind, id);
