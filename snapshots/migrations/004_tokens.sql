-- API tokens (issue 7): stored as the SHA-256 of the token, never the token itself.
CREATE TABLE api_tokens (
  id            INTEGER PRIMARY KEY,
  name          TEXT    NOT NULL,
  role          TEXT    NOT NULL CHECK (role IN ('viewer', 'operator', 'admin')),
  token_sha256  TEXT    NOT NULL UNIQUE,
  created_at    TEXT    NOT NULL, -- ISO 8601, UTC
  revoked_at    TEXT,
  last_used_at  TEXT
);
