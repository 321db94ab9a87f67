/**
 * Capturing and restoring a module instance's memory image for snapshots: the non-zero 64 KiB pages of its
 * linear memory, its mutable globals (exported by the instrumenter as `__kiln_global_<index>`), and the
 * host's own pointers into that memory. Private to `runtime/`.
 *
 * @module
 */
import { GLOBAL_EXPORT_PREFIX } from "../wasm/constants.ts";
import type { SnapshotImage } from "../../snapshots/mod.ts";

/** WebAssembly's page size; snapshots store memory in these. */
export const PAGE_BYTES = 65_536;

/** The host's pointers into a module's memory, allocated with `kiln_alloc` before `kiln_init`. */
export interface HostPointers {
  data: [name: string, ptr: number, len: number][];
  sampleBuf: number;
  eventBuf: number;
  recordBuf: number;
}

/** What the runtime stores beside the pages: version 1 of the state blob, as JSON. */
interface StateV1 {
  v: 1;
  /** Global index, and the value: a number, or a string for i64 (`"12n"`) and non-finite floats. */
  globals: [index: number, value: number | string][];
  host: HostPointers;
}

/** A module instance's image could not be captured (an unsupported global) or restored. */
export class ImageError extends Error {}

/**
 * Copies the non-zero pages of `memory` and the module's mutable globals: one copy of the pages that hold
 * data, nothing else. Runs between two handler calls, so the module sees no pause beyond it.
 *
 * @throws {ImageError} when a mutable global cannot be read from JavaScript (`v128`, references).
 */
export function captureImage(
  memory: WebAssembly.Memory,
  exports: Record<string, unknown>,
  host: HostPointers,
): SnapshotImage {
  const buffer = memory.buffer;
  const words = new Int32Array(buffer);
  const perPage = PAGE_BYTES / 4;
  const pageCount = buffer.byteLength / PAGE_BYTES;
  const used: number[] = [];
  for (let p = 0; p < pageCount; p++) {
    const end = (p + 1) * perPage;
    for (let i = p * perPage; i < end; i++) {
      if (words[i] !== 0) {
        used.push(p);
        break;
      }
    }
  }
  const bytes = new Uint8Array(buffer);
  const packed = new Uint8Array(used.length * PAGE_BYTES);
  const pages = used.map((p, i) => {
    const page = packed.subarray(i * PAGE_BYTES, (i + 1) * PAGE_BYTES);
    page.set(bytes.subarray(p * PAGE_BYTES, (p + 1) * PAGE_BYTES));
    return page;
  });
  const state: StateV1 = { v: 1, globals: readGlobals(exports), host };
  return {
    memoryBytes: buffer.byteLength,
    index: Uint32Array.from(used),
    pages,
    state: new TextEncoder().encode(JSON.stringify(state)),
  };
}

/**
 * Writes an image into a freshly instantiated module: grows the memory to the image's size, zeroes what
 * instantiation wrote (`written`: the active data segments' byte ranges, or null for "anywhere", as when
 * the module has a start function), copies the stored pages in, and sets the mutable globals. Memory
 * nobody wrote is left alone: on a VM, touching fresh pages costs more than copying into them.
 *
 * @returns The host pointers saved with the image.
 * @throws {ImageError} when the image does not fit this module (memory cap, globals it lacks).
 */
export function restoreImage(
  memory: WebAssembly.Memory,
  exports: Record<string, unknown>,
  image: SnapshotImage,
  written: readonly (readonly [start: number, end: number])[] | null,
): HostPointers {
  let state: StateV1;
  try {
    state = JSON.parse(new TextDecoder().decode(image.state));
  } catch {
    throw new ImageError("the snapshot's state is not valid JSON");
  }
  if (state.v !== 1) throw new ImageError(`the snapshot's state has version ${state.v}, expected 1`);
  const have = memory.buffer.byteLength;
  if (image.memoryBytes > have) {
    try {
      memory.grow((image.memoryBytes - have) / PAGE_BYTES);
    } catch {
      throw new ImageError(
        `the snapshot's memory of ${image.memoryBytes} bytes does not fit the module's memory cap`,
      );
    }
  } else if (image.memoryBytes < have) {
    throw new ImageError(
      `the snapshot's memory of ${image.memoryBytes} bytes is smaller than the module's initial ${have}`,
    );
  }
  const bytes = new Uint8Array(memory.buffer);
  // Grown pages are zero already; of the initial ones, only what instantiation wrote can be non-zero.
  if (written === null) bytes.fill(0, 0, have);
  else for (const [start, end] of written) bytes.fill(0, start, Math.min(end, have));
  image.index.forEach((p, i) => bytes.set(image.pages[i]!, p * PAGE_BYTES));
  for (const [index, value] of state.globals) {
    const g = exports[`${GLOBAL_EXPORT_PREFIX}${index}`];
    if (!(g instanceof WebAssembly.Global)) throw new ImageError(`the module has no mutable global ${index}`);
    g.value = decodeValue(value);
  }
  return state.host;
}

function readGlobals(exports: Record<string, unknown>): StateV1["globals"] {
  const out: StateV1["globals"] = [];
  for (const [name, g] of Object.entries(exports)) {
    if (!name.startsWith(GLOBAL_EXPORT_PREFIX) || !(g instanceof WebAssembly.Global)) continue;
    const index = Number(name.slice(GLOBAL_EXPORT_PREFIX.length));
    let value: unknown;
    try {
      value = g.value;
    } catch {
      throw new ImageError(`mutable global ${index} is a v128, which a snapshot cannot hold`);
    }
    if (typeof value === "bigint") out.push([index, `${value}n`]);
    else if (typeof value === "number") {
      out.push([
        index,
        Number.isFinite(value) && !Object.is(value, -0) ? value : String(value === 0 ? "-0" : value),
      ]);
    } else throw new ImageError(`mutable global ${index} holds a reference, which a snapshot cannot hold`);
  }
  return out;
}

function decodeValue(v: number | string): number | bigint {
  if (typeof v === "number") return v;
  if (v.endsWith("n")) return BigInt(v.slice(0, -1));
  return v === "-0" ? -0 : Number(v);
}

/** The buffers of an image, each once: what to transfer to another thread. */
export function imageBuffers(image: SnapshotImage): ArrayBuffer[] {
  const set = new Set<ArrayBuffer>([image.index.buffer as ArrayBuffer, image.state.buffer as ArrayBuffer]);
  for (const p of image.pages) set.add(p.buffer as ArrayBuffer);
  return [...set];
}
