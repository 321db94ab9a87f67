/**
 * A sandboxed subset of WASI `wasi_snapshot_preview1`, for modules built with a real libc (wasi-libc) that
 * print, read clocks and ask for entropy. What it grants: writes to stdout and stderr (line-buffered into the
 * module log), an always-empty stdin, clocks, random bytes, empty argv and environment, `sched_yield`, and
 * `proc_exit` (as a {@linkcode WasiExit} the host turns into a stop or crash). What it refuses: every
 * filesystem and socket call answers `ENOTCAPABLE` and is reported to {@linkcode WasiContext.denied} for the
 * audit log. One directory is "preopened": `/` on fd 3, which grants nothing, so that wasi-libc's `open()`
 * (`fopen("/etc/passwd")`) reaches the host as `path_open(3, "etc/passwd")` and is refused and audited,
 * instead of failing silently inside libc as it does with no preopens.
 *
 * Every pointer and length is checked against the module's memory before use; a bad one is answered with
 * `EFAULT`, never a host exception, and nothing is written.
 *
 * Specification: WebAssembly/WASI `legacy/preview1/witx/wasi_snapshot_preview1.witx` (the ABI), as
 * wasi-libc's `wasi/api.h` declares it.
 *
 * @example
 * ```ts ignore
 * const imports = createWasiImports({
 *   memory: () => instance.exports.memory as WebAssembly.Memory,
 *   log: (stream, text) => console.log(`[${stream}] ${text}`),
 *   denied: (call, detail) => audit.push({ call, detail }),
 *   monotonicNs: () => BigInt(Math.round(performance.now() * 1e6)),
 *   realtimeNs: () => BigInt(Date.now()) * 1_000_000n,
 * });
 * const instance = new WebAssembly.Instance(module, { [WASI_NAMESPACE]: imports, kiln: kilnImports });
 * ```
 *
 * @module
 */
import { KilnError } from "../../errors.ts";
import { nameTable, type ValType } from "../abi.ts";

/** The import namespace of WASI preview 1. */
export const WASI_NAMESPACE = "wasi_snapshot_preview1";

/** The WASI errno values this subset returns (witx `errno`, an u16 widened to i32). */
export const WasiErrno = {
  SUCCESS: 0,
  BADF: 8,
  FAULT: 21,
  /** Interrupted: what every import answers once the call is past its budget. */
  INTR: 27,
  INVAL: 28,
  SPIPE: 70,
  NOTCAPABLE: 76,
} as const;

/** What the host supplies to the WASI imports of one module instance. */
export interface WasiContext {
  /** The module's memory (fetch `.buffer` fresh on every call: it may grow). */
  memory(): WebAssembly.Memory;
  /** A complete line (or a flushed partial line at 4 KiB) written to stdout/stderr. */
  log(stream: "stdout" | "stderr", text: string): void;
  /** A refused call, for the audit log: the WASI function name and a short detail (e.g. the path it tried). */
  denied(call: string, detail: string): void;
  /** Monotonic time in nanoseconds (bigint) and wall-clock time in nanoseconds. */
  monotonicNs(): bigint;
  realtimeNs(): bigint;
}

/** A WASI function's core Wasm signature. */
export interface WasiSignature {
  params: ValType[];
  results: ValType[];
}

/**
 * A module called `proc_exit`: not a fault of the host, the module asked to stop with `exitCode` (0 is a
 * clean exit). Thrown through the module's Wasm frames back to whoever called into it.
 */
export class WasiExit extends KilnError {
  readonly code = "wasi_exit";
  readonly kind = "failed";
  constructor(readonly exitCode: number) {
    super(`Module called proc_exit(${exitCode})`);
  }
}

const I32: ValType = "i32", I64: ValType = "i64";
const fn = (params: ValType[], results: ValType[] = [I32]): WasiSignature => ({ params, results });
const i32s = (n: number): ValType[] => Array<ValType>(n).fill(I32);

/**
 * Every function of `wasi_snapshot_preview1` with its core Wasm signature (pointers and sizes `i32`,
 * 64-bit values such as timestamps, offsets, rights and file sizes `i64`; every result an `errno` as `i32`
 * except `proc_exit`). The 45 imports of wasi-libc's `wasi/api.h`, plus `proc_raise`, which the witx still
 * lists and wasi-libc no longer declares.
 */
export const WASI_FUNCTIONS: Readonly<Record<string, WasiSignature>> = nameTable({
  args_get: fn(i32s(2)),
  args_sizes_get: fn(i32s(2)),
  environ_get: fn(i32s(2)),
  environ_sizes_get: fn(i32s(2)),
  clock_res_get: fn(i32s(2)),
  clock_time_get: fn([I32, I64, I32]),
  fd_advise: fn([I32, I64, I64, I32]),
  fd_allocate: fn([I32, I64, I64]),
  fd_close: fn(i32s(1)),
  fd_datasync: fn(i32s(1)),
  fd_fdstat_get: fn(i32s(2)),
  fd_fdstat_set_flags: fn(i32s(2)),
  fd_fdstat_set_rights: fn([I32, I64, I64]),
  fd_filestat_get: fn(i32s(2)),
  fd_filestat_set_size: fn([I32, I64]),
  fd_filestat_set_times: fn([I32, I64, I64, I32]),
  fd_pread: fn([I32, I32, I32, I64, I32]),
  fd_prestat_get: fn(i32s(2)),
  fd_prestat_dir_name: fn(i32s(3)),
  fd_pwrite: fn([I32, I32, I32, I64, I32]),
  fd_read: fn(i32s(4)),
  fd_readdir: fn([I32, I32, I32, I64, I32]),
  fd_renumber: fn(i32s(2)),
  fd_seek: fn([I32, I64, I32, I32]),
  fd_sync: fn(i32s(1)),
  fd_tell: fn(i32s(2)),
  fd_write: fn(i32s(4)),
  path_create_directory: fn(i32s(3)),
  path_filestat_get: fn(i32s(5)),
  path_filestat_set_times: fn([I32, I32, I32, I32, I64, I64, I32]),
  path_link: fn(i32s(7)),
  path_open: fn([I32, I32, I32, I32, I32, I64, I64, I32, I32]),
  path_readlink: fn(i32s(6)),
  path_remove_directory: fn(i32s(3)),
  path_rename: fn(i32s(6)),
  path_symlink: fn(i32s(5)),
  path_unlink_file: fn(i32s(3)),
  poll_oneoff: fn(i32s(4)),
  proc_exit: fn(i32s(1), []),
  proc_raise: fn(i32s(1)),
  sched_yield: fn([]),
  random_get: fn(i32s(2)),
  sock_accept: fn(i32s(3)),
  sock_recv: fn(i32s(6)),
  sock_send: fn(i32s(5)),
  sock_shutdown: fn(i32s(2)),
});

/** The longest line handed to `log`; a longer one is flushed in pieces of at most this many bytes. */
export const MAX_LINE_BYTES = 4096;
/** At most this many iovecs per `fd_write`/`fd_read`: wasi-libc's `IOV_MAX`. */
export const MAX_IOVECS = 1024;
/** At most this many bytes per `fd_write`: `SSIZE_MAX` of wasm32, which `nwritten` must be able to hold. */
const MAX_WRITE_BYTES = 0x7fff_ffff;
/**
 * At most this many bytes are taken by one `fd_write`; the rest of its iovecs are left unwritten and
 * `nwritten` says so (a short write, as POSIX allows: libc writes the rest in another call). It bounds the
 * host work of one call, which the module's budget is checked before: 1024 iovecs each naming all of a
 * 16 MiB memory once made one call copy 16 GiB.
 */
export const MAX_WRITE_CALL_BYTES = 65_536;
/** At most this many bytes per `random_get`; more is `EINVAL` (wasi-libc's `getentropy` asks for 256). */
export const MAX_RANDOM_BYTES = 1 << 20;
/** `crypto.getRandomValues` refuses more than this many bytes per call (WebCrypto). */
const RANDOM_CHUNK_BYTES = 65536;
/** Paths in a denial's detail are cut at this many bytes. */
const MAX_DETAIL_PATH_BYTES = 256;
/** Resolution reported for every clock: the host clocks are read in microseconds at best. */
const CLOCK_RES_NS = 1000n;
const FILETYPE_CHARACTER_DEVICE = 2;
const RIGHTS_FD_WRITE = 1n << 6n;
const FDSTAT_SIZE = 24;
const FILETYPE_DIRECTORY = 3;
/** The preopen's rights: `path_open` (bit 13), so libc asks the host, which then refuses every open. */
const RIGHTS_PATH_OPEN = 1n << 13n;
/** Rights a file opened through it would inherit (all 29 of preview1): never granted, as nothing opens. */
const RIGHTS_ALL = (1n << 29n) - 1n;
const STDIN = 0, STDOUT = 1, STDERR = 2;

const decoder = new TextDecoder("utf-8", { fatal: false });

/** Collects a stream's bytes and hands out complete lines, or 4 KiB pieces of an overlong line. */
class LineBuffer {
  #buf = new Uint8Array(MAX_LINE_BYTES);
  #len = 0;
  constructor(readonly emit: (text: string) => void) {}

  write(bytes: Uint8Array): void {
    let i = 0;
    while (i < bytes.length) {
      const nl = bytes.indexOf(0x0a, i);
      const end = nl === -1 ? bytes.length : nl;
      while (i < end) {
        // Flush only when more bytes arrive for a full buffer, so a line of exactly 4 KiB stays whole.
        if (this.#len === MAX_LINE_BYTES) this.#flushPiece();
        const n = Math.min(end - i, MAX_LINE_BYTES - this.#len);
        this.#buf.set(bytes.subarray(i, i + n), this.#len);
        this.#len += n;
        i += n;
      }
      if (nl === -1) break;
      this.#emitBytes(this.#len, true);
      i = nl + 1;
    }
  }

  /** Hands out a pending partial line (on close). */
  flush(): void {
    if (this.#len > 0) this.#emitBytes(this.#len, false);
  }

  /** Emits a full buffer up to its last complete UTF-8 character; the rest starts the next piece. */
  #flushPiece(): void {
    const buf = this.#buf, len = this.#len;
    let lead = len - 1;
    while (lead > len - 4 && lead > 0 && (buf[lead]! & 0xc0) === 0x80) lead--;
    const b = buf[lead]!;
    const need = b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : b >= 0xc0 ? 2 : 1;
    const cut = need > len - lead && lead > 0 ? lead : len;
    this.#emitBytes(cut, false);
  }

  #emitBytes(count: number, line: boolean): void {
    let end = count;
    if (line && end > 0 && this.#buf[end - 1] === 0x0d) end--; // "\r\n"
    const text = decoder.decode(this.#buf.subarray(0, end));
    this.#buf.copyWithin(0, count, this.#len);
    this.#len -= count;
    this.emit(text);
  }
}

/** The preopened directory: `/` on fd 3, through which every path call is refused. */
const ROOT_FD = 3;
const ROOT_NAME = new TextEncoder().encode("/");

/** Where the `path` arguments of each path call are: `[ptr index, len index, label]`. */
const PATH_ARGS: Readonly<Record<string, readonly [number, number, string][]>> = nameTable({
  path_create_directory: [[1, 2, "path"]],
  path_filestat_get: [[2, 3, "path"]],
  path_filestat_set_times: [[2, 3, "path"]],
  path_link: [[2, 3, "path"], [5, 6, "new path"]],
  path_open: [[2, 3, "path"]],
  path_readlink: [[1, 2, "path"]],
  path_remove_directory: [[1, 2, "path"]],
  path_rename: [[1, 2, "path"], [4, 5, "new path"]],
  path_symlink: [[0, 1, "target"], [3, 4, "path"]],
  path_unlink_file: [[1, 2, "path"]],
});

/** The functions this subset implements; every other one of {@linkcode WASI_FUNCTIONS} is refused. */
const IMPLEMENTED = new Set([
  "args_get",
  "args_sizes_get",
  "environ_get",
  "environ_sizes_get",
  "clock_res_get",
  "clock_time_get",
  "fd_close",
  "fd_fdstat_get",
  "fd_prestat_get",
  "fd_prestat_dir_name",
  "fd_read",
  "fd_seek",
  "fd_write",
  "proc_exit",
  "random_get",
  "sched_yield",
]);

/**
 * Builds the `wasi_snapshot_preview1` imports of one module instance: every function of
 * {@linkcode WASI_FUNCTIONS}, the refused ones answering `ENOTCAPABLE` after reporting to `ctx.denied`.
 * Functions return a WASI errno and never throw, except `proc_exit` and whatever `ctx`'s callbacks throw.
 *
 * @throws {WasiExit} from `proc_exit`, carrying the module's exit code.
 */
export function createWasiImports(ctx: WasiContext): Record<string, (...args: never[]) => unknown> {
  const { FAULT, BADF, INVAL, SUCCESS } = WasiErrno;
  const open = new Set([STDIN, STDOUT, STDERR]);
  const out = new Map<number, LineBuffer>([
    [STDOUT, new LineBuffer((text) => ctx.log("stdout", text))],
    [STDERR, new LineBuffer((text) => ctx.log("stderr", text))],
  ]);

  const buffer = (): ArrayBufferLike => ctx.memory().buffer;
  /** `[ptr, ptr + len)` as unsigned offsets when it lies inside `buf`; JS numbers cannot wrap around. */
  const fits = (buf: ArrayBufferLike, ptr: number, len: number): boolean =>
    (ptr >>> 0) + (len >>> 0) <= buf.byteLength;
  const setU32 = (ptr: number, value: number): number => {
    const buf = buffer();
    if (!fits(buf, ptr, 4)) return FAULT;
    new DataView(buf).setUint32(ptr >>> 0, value, true);
    return SUCCESS;
  };
  const setU64 = (ptr: number, value: bigint): number => {
    const buf = buffer();
    if (!fits(buf, ptr, 8)) return FAULT;
    new DataView(buf).setBigUint64(ptr >>> 0, BigInt.asUintN(64, value), true);
    return SUCCESS;
  };

  /** The `(buf, len)` pairs of an iovec array, each checked, or an errno. */
  const iovecs = (buf: ArrayBufferLike, ptr: number, count: number): [number, number][] | number => {
    const n = count >>> 0;
    if (n > MAX_IOVECS) return INVAL;
    if (!fits(buf, ptr, n * 8)) return FAULT;
    const view = new DataView(buf);
    const list: [number, number][] = [];
    let total = 0;
    for (let i = 0; i < n; i++) {
      const base = view.getUint32((ptr >>> 0) + i * 8, true);
      const len = view.getUint32((ptr >>> 0) + i * 8 + 4, true);
      if (!fits(buf, base, len)) return FAULT;
      total += len;
      list.push([base, len]);
    }
    return total > MAX_WRITE_BYTES ? INVAL : list;
  };

  const clockNs = (id: number): bigint | null => {
    switch (id) {
      case 0:
        return ctx.realtimeNs();
      case 1:
      case 2: // PROCESS_CPUTIME_ID and THREAD_CPUTIME_ID: a module has no CPU clock of its own here.
      case 3:
        return ctx.monotonicNs();
      default:
        return null;
    }
  };

  const implemented: Record<string, (...args: never[]) => unknown> = {
    fd_write: (fd: number, iovsPtr: number, iovsLen: number, nwrittenPtr: number): number => {
      const stream = out.get(fd);
      if (stream === undefined || !open.has(fd)) return BADF;
      const buf = buffer();
      if (!fits(buf, nwrittenPtr, 4)) return FAULT;
      const list = iovecs(buf, iovsPtr, iovsLen);
      if (typeof list === "number") return list;
      // Copies, all taken before `log` runs host code: the module's memory does not hold still.
      const chunks: Uint8Array[] = [];
      let total = 0;
      for (const [base, len] of list) {
        const n = Math.min(len, MAX_WRITE_CALL_BYTES - total);
        if (n <= 0) break;
        chunks.push(new Uint8Array(buf, base, n).slice());
        total += n;
      }
      for (const chunk of chunks) stream.write(chunk);
      return setU32(nwrittenPtr, total);
    },
    fd_read: (fd: number, iovsPtr: number, iovsLen: number, nreadPtr: number): number => {
      if (fd !== STDIN || !open.has(fd)) return BADF;
      const buf = buffer();
      if (!fits(buf, nreadPtr, 4)) return FAULT;
      const list = iovecs(buf, iovsPtr, iovsLen);
      if (typeof list === "number") return list;
      return setU32(nreadPtr, 0); // stdin is always at end of file
    },
    fd_close: (fd: number): number => {
      if (!open.delete(fd)) return BADF;
      out.get(fd)?.flush();
      return SUCCESS;
    },
    fd_fdstat_get: (fd: number, statPtr: number): number => {
      if (!open.has(fd) && fd !== ROOT_FD) return BADF;
      const buf = buffer();
      if (!fits(buf, statPtr, FDSTAT_SIZE)) return FAULT;
      if (fd === ROOT_FD) {
        // wasi-libc's openat() reads the directory's rights before it calls path_open.
        const view = new DataView(buf, statPtr >>> 0, FDSTAT_SIZE);
        new Uint8Array(buf, statPtr >>> 0, FDSTAT_SIZE).fill(0);
        view.setUint8(0, FILETYPE_DIRECTORY);
        view.setBigUint64(8, RIGHTS_PATH_OPEN, true);
        view.setBigUint64(16, RIGHTS_ALL, true);
        return SUCCESS;
      }
      const view = new DataView(buf, statPtr >>> 0, FDSTAT_SIZE);
      new Uint8Array(buf, statPtr >>> 0, FDSTAT_SIZE).fill(0);
      view.setUint8(0, FILETYPE_CHARACTER_DEVICE);
      // No FD_SEEK or FD_TELL right: wasi-libc then takes stdout for a terminal and line-buffers it.
      view.setBigUint64(8, fd === STDIN ? 0n : RIGHTS_FD_WRITE, true);
      return SUCCESS;
    },
    fd_seek: (fd: number): number => (open.has(fd) ? WasiErrno.SPIPE : BADF),
    // One preopen, "/" on fd 3, so that libc's opens reach the host to be refused and audited; wasi-libc
    // stops looking at the first EBADF.
    fd_prestat_get: (fd: number, ptr: number): number => {
      if (fd !== ROOT_FD) return BADF;
      const buf = buffer();
      if (!fits(buf, ptr, 8)) return FAULT;
      const view = new DataView(buf, ptr >>> 0, 8);
      view.setUint32(0, 0, true); // tag: directory (and padding)
      view.setUint32(4, ROOT_NAME.length, true);
      return SUCCESS;
    },
    fd_prestat_dir_name: (fd: number, ptr: number, len: number): number => {
      if (fd !== ROOT_FD) return BADF;
      const buf = buffer();
      if ((len >>> 0) < ROOT_NAME.length) return INVAL;
      if (!fits(buf, ptr, ROOT_NAME.length)) return FAULT;
      new Uint8Array(buf, ptr >>> 0, ROOT_NAME.length).set(ROOT_NAME);
      return SUCCESS;
    },
    clock_time_get: (id: number, _precision: bigint, timePtr: number): number => {
      const buf = buffer();
      if (!fits(buf, timePtr, 8)) return FAULT;
      const ns = clockNs(id);
      return ns === null ? INVAL : setU64(timePtr, ns);
    },
    clock_res_get: (id: number, resPtr: number): number => {
      if (!fits(buffer(), resPtr, 8)) return FAULT;
      return (id >>> 0) > 3 ? INVAL : setU64(resPtr, CLOCK_RES_NS);
    },
    random_get: (ptr: number, len: number): number => {
      const buf = buffer();
      if (!fits(buf, ptr, len)) return FAULT;
      if ((len >>> 0) > MAX_RANDOM_BYTES) return INVAL;
      const target = new Uint8Array(buf, ptr >>> 0, len >>> 0);
      for (let i = 0; i < target.length; i += RANDOM_CHUNK_BYTES) {
        const chunk = target.subarray(i, i + RANDOM_CHUNK_BYTES);
        // WebCrypto refuses views of a SharedArrayBuffer: fill a private chunk and copy it in.
        if (buf instanceof ArrayBuffer) crypto.getRandomValues(chunk);
        else chunk.set(crypto.getRandomValues(new Uint8Array(chunk.length)));
      }
      return SUCCESS;
    },
    args_sizes_get: (countPtr: number, sizePtr: number): number => sizesEmpty(countPtr, sizePtr),
    environ_sizes_get: (countPtr: number, sizePtr: number): number => sizesEmpty(countPtr, sizePtr),
    // With no arguments and no variables there is nothing to write.
    args_get: (): number => SUCCESS,
    environ_get: (): number => SUCCESS,
    sched_yield: (): number => SUCCESS,
    proc_exit: (code: number): never => {
      throw new WasiExit(code >>> 0);
    },
  };

  function sizesEmpty(countPtr: number, sizePtr: number): number {
    const buf = buffer();
    if (!fits(buf, countPtr, 4) || !fits(buf, sizePtr, 4)) return FAULT;
    setU32(countPtr, 0);
    return setU32(sizePtr, 0);
  }

  /** A short description of a refused call: its fd, the paths it named, or its subscription count. */
  const detail = (name: string, args: readonly unknown[]): string => {
    const num = (i: number): number => Number(args[i] ?? 0) >>> 0;
    if (name === "poll_oneoff") return `${num(2)} subscriptions`;
    if (name === "proc_raise") return `signal ${num(0)}`;
    const parts: string[] = [];
    if (name !== "path_symlink") parts.push(num(0) === ROOT_FD ? `fd ${ROOT_FD} ("/")` : `fd ${num(0)}`);
    for (const [p, l, label] of PATH_ARGS[name] ?? []) {
      const buf = buffer(), ptr = num(p), len = num(l);
      if (!fits(buf, ptr, len)) {
        parts.push(`${label} out of bounds (${len} bytes at ${ptr})`);
        continue;
      }
      const bytes = new Uint8Array(buf, ptr, Math.min(len, MAX_DETAIL_PATH_BYTES));
      const cut = len > MAX_DETAIL_PATH_BYTES ? "…" : "";
      parts.push(`${label} ${JSON.stringify(decoder.decode(bytes.slice()))}${cut}`);
    }
    if (name === "path_symlink") parts.splice(1, 0, `fd ${num(2)}`);
    return parts.join(", ");
  };

  const imports: Record<string, (...args: never[]) => unknown> = {};
  for (const name of Object.keys(WASI_FUNCTIONS)) {
    const granted = IMPLEMENTED.has(name) ? implemented[name] : undefined;
    imports[name] = granted ?? ((...args: unknown[]): number => {
      ctx.denied(name, detail(name, args));
      return WasiErrno.NOTCAPABLE;
    });
  }
  return imports;
}

/**
 * True for the functions {@linkcode createWasiImports} serves; every other function of
 * {@linkcode WASI_FUNCTIONS} answers `ENOTCAPABLE` (e.g. for `kiln inspect` to say what a module will be
 * refused).
 */
export function isWasiFunctionGranted(name: string): boolean {
  return IMPLEMENTED.has(name);
}
