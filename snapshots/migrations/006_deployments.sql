-- The gateway's desired state (issue 17): an append-only record of every accepted action on its modules, and
-- the versions each module keeps. A restart replays `deployments` over the manifest file to come back to the
-- last accepted state; `module_versions` holds what a rollback needs. The binaries and data blobs themselves
-- live content-addressed in the data directory (`blobs/sha256/<hex>`), named by the digests stored here.

-- Every accepted action, oldest first. Never updated or deleted.
--   manifest  the manifest file was read at a start and changed since the last one: one row for the file
--             (module NULL, sha256 of the file, entry = the per-module fingerprints it had), and one row per
--             module it changed (sha256 NULL when it no longer lists the module)
--   deploy    a new module over the API          replace   a new version of a module over the API
--   remove    a module removed over the API      stop, start  an operator's stop and start over the API
--   rollback  a module returned to a kept version (version_seq names it)
CREATE TABLE deployments (
  id          INTEGER PRIMARY KEY,
  at          TEXT    NOT NULL,            -- ISO 8601, UTC
  action      TEXT    NOT NULL
              CHECK (action IN ('manifest', 'deploy', 'replace', 'remove', 'stop', 'start', 'rollback')),
  module      TEXT,                        -- NULL only for the manifest file's own row
  actor       TEXT    NOT NULL,            -- the API token's name, or 'manifest', or 'cli'
  sha256      TEXT,                        -- of the module's .wasm (of the file, for the file's row)
  version_seq INTEGER,                     -- the module's version (module_versions.seq) the action set
  version     TEXT,                        -- the signed version, when the module is signed
  signature   TEXT,                        -- the signature bundle's digest or signer, when signed
  entry       TEXT,                        -- the manifest entry the action set (JSON)
  detail      TEXT                         -- why: which source won at a start, a rollback's from-version
);
CREATE INDEX deployments_module ON deployments (module, id);
CREATE INDEX deployments_action ON deployments (action, id);

-- The versions each module keeps: its binary's and data blobs' digests and its manifest entry. `seq` counts
-- per module from 1 and is never reused; the newest `lifecycle.keep_versions` and the one running are kept.
CREATE TABLE module_versions (
  id          INTEGER PRIMARY KEY,
  module      TEXT    NOT NULL,
  seq         INTEGER NOT NULL,
  sha256      TEXT    NOT NULL,            -- of the .wasm: its blob's name
  entry       TEXT    NOT NULL,            -- the manifest entry (JSON), `wasm` left out
  data        TEXT    NOT NULL,            -- the data blobs' digests by data name (JSON object)
  source      TEXT    NOT NULL CHECK (source IN ('manifest', 'api')),
  actor       TEXT    NOT NULL,
  created_at  TEXT    NOT NULL,            -- ISO 8601, UTC
  version     TEXT,                        -- the signed version, when signed
  signature   TEXT,                        -- the signature bundle's digest or signer, when signed
  UNIQUE (module, seq)
);
