-- Snapshots of module linear memory and mutable globals (issue 5).
-- One row per snapshot in `snapshots`, and one row per stored 64 KiB page in `snapshot_pages`: pages that
-- were all zero are not stored, and a page is stored zstd-compressed only when that saves a quarter or more.
-- A snapshot is written in one transaction, so a crash leaves either all of it or none of it; `crc32` per
-- page and `integrity` over the whole catch corruption after the fact.
CREATE TABLE snapshots (
  id            INTEGER PRIMARY KEY,
  module        TEXT    NOT NULL,
  seq           INTEGER NOT NULL,
  module_sha256 TEXT    NOT NULL, -- of the .wasm as deployed
  config_sha256 TEXT    NOT NULL, -- of what shapes memory besides the code: params, data blobs, window
  abi_version   INTEGER NOT NULL,
  taken_at_ms   INTEGER NOT NULL,
  reason        TEXT    NOT NULL,
  memory_bytes  INTEGER NOT NULL,
  pages_stored  INTEGER NOT NULL,
  stored_bytes  INTEGER NOT NULL,
  state         BLOB    NOT NULL, -- the runtime's: mutable globals and host pointers, opaque here
  integrity     TEXT    NOT NULL,
  UNIQUE (module, seq)
);

CREATE TABLE snapshot_pages (
  snapshot_id INTEGER NOT NULL REFERENCES snapshots (id) ON DELETE CASCADE,
  page        INTEGER NOT NULL,
  codec       INTEGER NOT NULL, -- 0 raw, 1 zstd
  crc32       INTEGER NOT NULL, -- of the uncompressed page
  data        BLOB    NOT NULL,
  PRIMARY KEY (snapshot_id, page)
) WITHOUT ROWID;
