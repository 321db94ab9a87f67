/**
 * Snapshots of a module's linear memory in the store: written sparse (all-zero 64 KiB pages are left out),
 * each page stored as its non-zero runs when they are a small part of it, else zstd-compressed where that
 * pays, else raw (its `codec`), and checked on the way back in.
 *
 * A snapshot is one row of `snapshots` plus one row per stored page in `snapshot_pages`, written in one
 * transaction: a crash leaves all of it or none of it. Corruption after the fact (a bad disk, a hand edit)
 * is caught by a CRC-32 of every page and a SHA-256 `integrity` over the header, the page list with those
 * CRCs, and the runtime's state blob. These catch accidents, not an attacker who can write the database:
 * signed snapshots would need a key, which the module-signing work brings.
 *
 * @module
 */
import { createHash } from "node:crypto";
import zlib from "node:zlib";
import type { DatabaseSync } from "node:sqlite";
import { KilnError } from "../errors.ts";

/** Snapshots store memory in WebAssembly's page size, 64 KiB. */
export const SNAPSHOT_PAGE_BYTES = 65_536;
/** A page is stored compressed only when that saves at least this fraction of it. */
const MIN_SAVING = 0.25;
/**
 * A page's codec (`snapshot_pages.codec`): the format of its stored bytes. A reader refuses a codec it does
 * not know as corruption, so an older Kiln passes over a page written by a newer one instead of misreading it.
 */
const CODEC_RAW = 0;
const CODEC_ZSTD = 1;
/**
 * Its non-zero runs: `[offset u32 LE, length u32 LE, bytes]...`, ascending, the rest of the page zero.
 * Chosen for a page whose data is a small part of it (a heap with a few objects, a buffer partly filled):
 * decoding it is a few copies, where one `zstdDecompressSync` costs 40-50 us per page here whatever the
 * page holds (bench/cold_start.ts notes), so sparse pages restore several times faster.
 */
const CODEC_RUNS = 2;
/** A page whose runs take at most this fraction of it is stored as runs (CODEC_RUNS). */
const MAX_RUNS_FRACTION = 1 / 8;
/** Zero gaps shorter than this (bytes) stay inside a run: a run's header costs 8. */
const MIN_ZERO_GAP = 16;

/** What must match for a snapshot to be restored into a module. */
export interface SnapshotKey {
  /** SHA-256 of the module's `.wasm`. */
  moduleSha256: string;
  abiVersion: number;
  /** SHA-256 of what else shapes the memory: params, data blobs, stream window (the runtime computes it). */
  configSha256: string;
}

/**
 * A memory image as the runtime hands it over: only the pages that are not all zero, in page order, with
 * their page numbers. Every page missing from `index` was zero.
 */
export interface SnapshotImage {
  /** Size of the linear memory, bytes (a multiple of {@linkcode SNAPSHOT_PAGE_BYTES}). */
  memoryBytes: number;
  /** Page numbers of the pages in `pages`, ascending. */
  index: Uint32Array;
  /** `index.length` pages of {@linkcode SNAPSHOT_PAGE_BYTES} each (views may share a buffer). */
  pages: Uint8Array[];
  /** The runtime's own state (mutable globals, buffer addresses); stored and checked, not interpreted. */
  state: Uint8Array;
}

/** Why a snapshot was taken. */
export type SnapshotReason = "warm_up" | "interval" | "stop" | "demand";

/** A stored snapshot, without its pages. */
export interface SnapshotInfo {
  id: number;
  module: string;
  /** Per module, from 1, never reused. */
  seq: number;
  moduleSha256: string;
  configSha256: string;
  abiVersion: number;
  takenAtMs: number;
  reason: SnapshotReason;
  memoryBytes: number;
  pagesStored: number;
  /** Bytes of page data on disk, after compression. */
  storedBytes: number;
}

/** A snapshot failed its checks: a page's CRC, a page that does not decompress, or the integrity hash. */
export class SnapshotCorruptError extends KilnError {
  readonly code = "snapshot_corrupt";
  readonly kind = "failed";
  constructor(readonly module: string, readonly seq: number, readonly reason: string) {
    super(`Snapshot ${seq} of module "${module}" is corrupt: ${reason}`);
  }
}

/** Options of {@linkcode saveSnapshot}. */
export interface SaveSnapshotOptions {
  key: SnapshotKey;
  reason: SnapshotReason;
  image: SnapshotImage;
  /** Snapshots of this module to keep, the newest; older ones are deleted in the same transaction. */
  keep: number;
  /** @default Date.now() */
  takenAtMs?: number;
}

/**
 * Writes a snapshot of `module` in one transaction and deletes all but the newest `keep`, and the newest
 * snapshot of each build and configuration of a version the module keeps (`module_versions`, see
 * `deployments.ts`): what a rollback to that version resumes from.
 *
 * @throws {RangeError} when the image is inconsistent (page count, sizes, order).
 */
export function saveSnapshot(db: DatabaseSync, module: string, options: SaveSnapshotOptions): SnapshotInfo {
  const { image, key } = options;
  checkImage(image);
  const rows: { page: number; codec: number; crc: number; data: Uint8Array }[] = [];
  let storedBytes = 0;
  for (let i = 0; i < image.index.length; i++) {
    const raw = image.pages[i]!;
    const { codec, data } = encodePage(raw);
    rows.push({ page: image.index[i]!, codec, crc: zlib.crc32(raw), data });
    storedBytes += data.length;
  }
  const takenAtMs = options.takenAtMs ?? Date.now();
  db.exec("BEGIN IMMEDIATE");
  try {
    const last = db.prepare("SELECT max(seq) AS seq FROM snapshots WHERE module = ?").get(module) as {
      seq: number | null;
    };
    const seq = (last.seq ?? 0) + 1;
    const info: SnapshotInfo = {
      id: 0,
      module,
      seq,
      moduleSha256: key.moduleSha256,
      configSha256: key.configSha256,
      abiVersion: key.abiVersion,
      takenAtMs,
      reason: options.reason,
      memoryBytes: image.memoryBytes,
      pagesStored: rows.length,
      storedBytes,
    };
    const integrity = integrityOf(info, rows, image.state);
    const inserted = db.prepare(
      `INSERT INTO snapshots (module, seq, module_sha256, config_sha256, abi_version, taken_at_ms, reason,
         memory_bytes, pages_stored, stored_bytes, state, integrity)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ).run(
      module,
      seq,
      key.moduleSha256,
      key.configSha256,
      key.abiVersion,
      takenAtMs,
      options.reason,
      image.memoryBytes,
      rows.length,
      storedBytes,
      image.state,
      integrity,
    );
    info.id = Number(inserted.lastInsertRowid);
    const page = db.prepare(
      "INSERT INTO snapshot_pages (snapshot_id, page, codec, crc32, data) VALUES (?, ?, ?, ?, ?)",
    );
    for (const r of rows) page.run(info.id, r.page, r.codec, r.crc, r.data);
    // Beyond the newest `keep`, the newest snapshot of each build (and configuration) of a version the module
    // keeps (`module_versions`) stays too: it is the memory a rollback to that version resumes from.
    const old = db.prepare(
      `SELECT id FROM (SELECT id FROM snapshots WHERE module = ? ORDER BY seq DESC LIMIT -1 OFFSET ?)
       WHERE id NOT IN (
         SELECT s.id FROM snapshots s
         WHERE s.module = ? AND s.module_sha256 IN (SELECT sha256 FROM module_versions WHERE module = ?)
           AND s.seq = (SELECT max(seq) FROM snapshots t WHERE t.module = s.module
                          AND t.module_sha256 = s.module_sha256 AND t.config_sha256 = s.config_sha256))`,
    ).all(module, Math.max(1, options.keep), module, module) as { id: number }[];
    for (const { id } of old) deleteSnapshotRows(db, id);
    db.exec("COMMIT");
    return info;
  } catch (err) {
    db.exec("ROLLBACK");
    throw err;
  }
}

/** Every snapshot of `module` (or of all modules), newest first. */
export function listSnapshots(db: DatabaseSync, module?: string): SnapshotInfo[] {
  const rows = module === undefined
    ? db.prepare(`${SELECT_INFO} ORDER BY module, seq DESC`).all()
    : db.prepare(`${SELECT_INFO} WHERE module = ? ORDER BY seq DESC`).all(module);
  return rows.map((r) => toInfo(r as unknown as InfoRow));
}

/**
 * Reads and checks one snapshot.
 *
 * @returns `null` when there is no snapshot with that id.
 * @throws {SnapshotCorruptError} when a check fails.
 */
export function loadSnapshot(
  db: DatabaseSync,
  id: number,
): { info: SnapshotInfo; image: SnapshotImage } | null {
  const row = db.prepare(`SELECT ${INFO_COLUMNS}, state, integrity FROM snapshots WHERE id = ?`).get(id) as
    | (InfoRow & { state: Uint8Array; integrity: string })
    | undefined;
  if (!row) return null;
  const info = toInfo(row);
  const corrupt = (reason: string) => new SnapshotCorruptError(info.module, info.seq, reason);
  const pageRows = db.prepare(
    "SELECT page, codec, crc32 AS crc, data FROM snapshot_pages WHERE snapshot_id = ? ORDER BY page",
  ).all(id) as unknown as { page: number; codec: number; crc: number; data: Uint8Array }[];
  if (integrityOf(info, pageRows, row.state) !== row.integrity) {
    throw corrupt("its integrity hash does not match its header, page list and state");
  }
  // Raw pages are handed on as SQLite returned them, without another copy: on a VM, touching fresh memory
  // costs more than the copy itself.
  const pages: Uint8Array[] = [];
  const index = new Uint32Array(pageRows.length);
  // Pages stored as runs are rebuilt side by side in one zeroed buffer: one allocation, and one buffer to
  // transfer to another thread instead of one per page.
  let runPages = 0;
  for (const r of pageRows) if (r.codec === CODEC_RUNS) runPages++;
  const rebuilt = new Uint8Array(runPages * SNAPSHOT_PAGE_BYTES);
  let nextRebuilt = 0;
  for (let i = 0; i < pageRows.length; i++) {
    const r = pageRows[i]!;
    let raw: Uint8Array;
    try {
      if (r.codec === CODEC_RUNS) {
        raw = decodeRuns(r.data, rebuilt.subarray(nextRebuilt, nextRebuilt += SNAPSHOT_PAGE_BYTES));
      } else raw = decodePage(r.codec, r.data);
    } catch (err) {
      throw corrupt(`page ${r.page} does not decompress (${(err as Error).message})`);
    }
    if (raw.length !== SNAPSHOT_PAGE_BYTES || zlib.crc32(raw) !== r.crc) {
      throw corrupt(`page ${r.page} fails its CRC-32`);
    }
    pages.push(raw);
    index[i] = r.page;
  }
  return { info, image: { memoryBytes: info.memoryBytes, index, pages, state: new Uint8Array(row.state) } };
}

/** What {@linkcode loadLatestSnapshot} found. */
export interface LatestSnapshot {
  /** The newest snapshot that matches the key and passes its checks, or `null`. */
  found: { info: SnapshotInfo; image: SnapshotImage } | null;
  /** Newer snapshots passed over, and why (a key mismatch, or corruption), newest first. */
  skipped: { seq: number; reason: string }[];
}

/**
 * The newest usable snapshot of `module` for `key`: newer ones that do not match the key or are corrupt
 * are passed over (and reported), so one bad snapshot falls back to the one before it.
 */
export function loadLatestSnapshot(db: DatabaseSync, module: string, key: SnapshotKey): LatestSnapshot {
  const skipped: LatestSnapshot["skipped"] = [];
  for (const info of listSnapshots(db, module)) {
    const mismatch = keyMismatch(info, key);
    if (mismatch !== null) {
      skipped.push({ seq: info.seq, reason: mismatch });
      continue;
    }
    try {
      const found = loadSnapshot(db, info.id);
      if (found) return { found, skipped };
    } catch (err) {
      if (!(err instanceof SnapshotCorruptError)) throw err;
      skipped.push({ seq: info.seq, reason: err.reason });
    }
  }
  return { found: null, skipped };
}

/** Deletes every snapshot of `module`; returns how many there were. */
export function deleteSnapshots(db: DatabaseSync, module: string): number {
  const ids = db.prepare("SELECT id FROM snapshots WHERE module = ?").all(module) as { id: number }[];
  db.exec("BEGIN IMMEDIATE");
  try {
    for (const { id } of ids) deleteSnapshotRows(db, id);
    db.exec("COMMIT");
  } catch (err) {
    db.exec("ROLLBACK");
    throw err;
  }
  return ids.length;
}

/** How a page is stored: as runs when its data is a small part of it, zstd when that saves a quarter, raw. */
function encodePage(raw: Uint8Array): { codec: number; data: Uint8Array } {
  const runs = encodeRuns(raw, raw.length * MAX_RUNS_FRACTION);
  if (runs !== null) return { codec: CODEC_RUNS, data: runs };
  const packed = zlib.zstdCompressSync(raw, { params: { [zlib.constants.ZSTD_c_compressionLevel]: 1 } });
  if (packed.length <= raw.length * (1 - MIN_SAVING)) {
    return { codec: CODEC_ZSTD, data: new Uint8Array(packed.buffer, packed.byteOffset, packed.length) };
  }
  return { codec: CODEC_RAW, data: raw };
}

/** A stored page back as its 64 KiB. @throws {Error} when the codec is unknown or the data malformed. */
function decodePage(codec: number, data: Uint8Array): Uint8Array {
  if (codec === CODEC_RAW) return data;
  if (codec === CODEC_ZSTD) return zlib.zstdDecompressSync(data);
  if (codec === CODEC_RUNS) return decodeRuns(data, new Uint8Array(SNAPSHOT_PAGE_BYTES));
  throw new Error(`codec ${codec} is unknown to this Kiln`);
}

/**
 * The non-zero runs of a page (4-byte words; zero gaps under {@linkcode MIN_ZERO_GAP} bytes merged), or null
 * when they would take more than `maxBytes`.
 */
function encodeRuns(raw: Uint8Array, maxBytes: number): Uint8Array | null {
  const words = new Uint32Array(raw.buffer, raw.byteOffset, raw.length / 4);
  const spans: number[] = []; // [startWord, endWord) pairs
  let size = 0;
  for (let w = 0; w < words.length;) {
    if (words[w] === 0) {
      w++;
      continue;
    }
    let end = w + 1;
    // Extend over non-zero words and over zero gaps too short to pay for a run header.
    for (let zeros = 0; end < words.length; end++) {
      if (words[end] !== 0) zeros = 0;
      else if (++zeros * 4 >= MIN_ZERO_GAP) {
        end -= zeros - 1;
        break;
      }
    }
    while (end > w && words[end - 1] === 0) end--;
    spans.push(w, end);
    size += 8 + (end - w) * 4;
    if (size > maxBytes) return null;
    w = end;
  }
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  let at = 0;
  for (let i = 0; i < spans.length; i += 2) {
    const start = spans[i]! * 4, end = spans[i + 1]! * 4;
    view.setUint32(at, start, true);
    view.setUint32(at + 4, end - start, true);
    out.set(raw.subarray(start, end), at + 8);
    at += 8 + end - start;
  }
  return out;
}

/**
 * A page from its runs, written into `page` (64 KiB of zeros).
 *
 * @throws {RangeError} when a run lies outside the page or the data is cut short.
 */
function decodeRuns(data: Uint8Array, page: Uint8Array): Uint8Array {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  for (let at = 0; at < data.length;) {
    if (at + 8 > data.length) throw new RangeError("a run's header is cut short");
    const offset = view.getUint32(at, true), length = view.getUint32(at + 4, true);
    if (offset + length > SNAPSHOT_PAGE_BYTES || at + 8 + length > data.length) {
      throw new RangeError(`a run of ${length} bytes at ${offset} does not fit`);
    }
    page.set(data.subarray(at + 8, at + 8 + length), offset);
    at += 8 + length;
  }
  return page;
}

function keyMismatch(info: SnapshotInfo, key: SnapshotKey): string | null {
  if (info.moduleSha256 !== key.moduleSha256) {
    return `it was taken of another build of the module (sha256 ${info.moduleSha256.slice(0, 12)}…, ` +
      `now ${key.moduleSha256.slice(0, 12)}…)`;
  }
  if (info.abiVersion !== key.abiVersion) {
    return `it was taken under ABI ${info.abiVersion}, the module now uses ABI ${key.abiVersion}`;
  }
  if (info.configSha256 !== key.configSha256) {
    return "the module's params, data blobs or window changed since it was taken";
  }
  return null;
}

function deleteSnapshotRows(db: DatabaseSync, id: number): void {
  db.prepare("DELETE FROM snapshot_pages WHERE snapshot_id = ?").run(id);
  db.prepare("DELETE FROM snapshots WHERE id = ?").run(id);
}

function checkImage(image: SnapshotImage): void {
  const { memoryBytes, index, pages } = image;
  if (!Number.isInteger(memoryBytes) || memoryBytes < 0 || memoryBytes % SNAPSHOT_PAGE_BYTES !== 0) {
    throw new RangeError(`A snapshot's memoryBytes must be a multiple of 64 KiB, got ${memoryBytes}`);
  }
  if (pages.length !== index.length || pages.some((p) => p.length !== SNAPSHOT_PAGE_BYTES)) {
    throw new RangeError(`A snapshot of ${index.length} pages must carry that many pages of 64 KiB`);
  }
  for (let i = 0; i < index.length; i++) {
    if (index[i]! * SNAPSHOT_PAGE_BYTES >= memoryBytes || (i > 0 && index[i]! <= index[i - 1]!)) {
      throw new RangeError(`A snapshot's page numbers must ascend within its memory (page ${index[i]})`);
    }
  }
}

function integrityOf(
  info: SnapshotInfo,
  pages: readonly { page: number; crc: number }[],
  state: Uint8Array,
): string {
  const hash = createHash("sha256");
  hash.update(
    JSON.stringify([
      info.module,
      info.seq,
      info.moduleSha256,
      info.configSha256,
      info.abiVersion,
      info.takenAtMs,
      info.reason,
      info.memoryBytes,
      info.pagesStored,
      info.storedBytes,
    ]),
  );
  const list = new Uint32Array(pages.length * 2);
  pages.forEach((p, i) => {
    list[2 * i] = p.page;
    list[2 * i + 1] = p.crc >>> 0;
  });
  hash.update(new Uint8Array(list.buffer));
  hash.update(state);
  return hash.digest("hex");
}

const INFO_COLUMNS = `id, module, seq, module_sha256, config_sha256, abi_version, taken_at_ms, reason,
  memory_bytes, pages_stored, stored_bytes`;
const SELECT_INFO = `SELECT ${INFO_COLUMNS} FROM snapshots`;

interface InfoRow {
  id: number;
  module: string;
  seq: number;
  module_sha256: string;
  config_sha256: string;
  abi_version: number;
  taken_at_ms: number;
  reason: SnapshotReason;
  memory_bytes: number;
  pages_stored: number;
  stored_bytes: number;
}

function toInfo(r: InfoRow): SnapshotInfo {
  return {
    id: Number(r.id),
    module: r.module,
    seq: Number(r.seq),
    moduleSha256: r.module_sha256,
    configSha256: r.config_sha256,
    abiVersion: Number(r.abi_version),
    takenAtMs: Number(r.taken_at_ms),
    reason: r.reason,
    memoryBytes: Number(r.memory_bytes),
    pagesStored: Number(r.pages_stored),
    storedBytes: Number(r.stored_bytes),
  };
}
