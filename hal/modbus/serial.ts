/**
 * A serial port on a Linux tty, the byte stream under Modbus RTU: {@linkcode SerialPort} is what the RTU
 * client needs from a line, and {@linkcode createTtyPort} drives a tty (`/dev/ttyUSB0`, `/dev/ttyS1`, a
 * symlink such as `/dev/serial/by-id/...`, or a pseudo-terminal) with two small programs of GNU coreutils.
 *
 * Why not `Deno.open`: since Deno 1.43, opening anything under `/dev` (symlinks are followed there) needs
 * `--allow-all`, whatever `--allow-read`/`--allow-write` say, so a sandboxed Kiln cannot open a tty itself.
 * Libc over FFI (`open`, `tcsetattr`) would need `--allow-ffi`, which is no narrower and which the tests do not
 * run with. So the runtime never opens the device: `stty -F <path>` sets the line (raw mode, speed, parity,
 * data and stop bits), one `dd` reads the tty to a pipe and another writes a pipe to it. Kiln needs
 * `--allow-run=stty,dd` for that (see {@linkcode TTY_COMMANDS}), and nothing under `/dev`. (A bind mount of
 * the device node outside `/dev`, which Deno would let Kiln be granted, pins the node it saw when mounted: an
 * adapter plugged back in under another name, or a `/dev/serial/by-id/...` link, is not followed.)
 *
 * This also gives the other properties a port needs: reading is a pipe read, so it never blocks the event
 * loop; closing kills both `dd`s, so a read pending on a silent line cannot hold it up; and a device that
 * goes away (a USB adapter unplugged: its reads fail with EIO or end, its opens fail with ENOENT or ENXIO)
 * ends the reading `dd`, which the port reports through {@linkcode SerialPort.onLost}.
 *
 * @module
 */
import { KilnError } from "../../errors.ts";

/** The programs {@linkcode createTtyPort} runs: what a sandboxed Kiln needs `--allow-run` for. */
export const TTY_COMMANDS = ["stty", "dd"] as const;

/** Line speeds Kiln sets, in bits per second (the usual Modbus RTU rates; all are POSIX or Linux speeds). */
export const SERIAL_BAUD_RATES = [1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400] as const;
/** Parity modes of a line. */
export const SERIAL_PARITIES = ["none", "even", "odd"] as const;
/** A parity mode. */
export type SerialParity = typeof SERIAL_PARITIES[number];

/** How characters go over a line. */
export interface SerialSettings {
  /** Bits per second, one of {@linkcode SERIAL_BAUD_RATES}. */
  readonly baud: number;
  readonly parity: SerialParity;
  /** Data bits per character. */
  readonly dataBits: 7 | 8;
  readonly stopBits: 1 | 2;
}

/** A serial line to open: a tty and its settings. */
export interface SerialLine extends SerialSettings {
  /** The tty's absolute path, e.g. `/dev/ttyUSB0`. */
  readonly path: string;
}

/** A serial port could not be opened or was lost; `path` is the tty, `reason` what went wrong. */
export class SerialPortError extends KilnError {
  readonly code = "serial_port";
  readonly kind = "unavailable";
  constructor(readonly path: string, readonly reason: string, options?: ErrorOptions) {
    super(`Serial port "${path}": ${reason}`, options);
  }
}

/** A byte stream to and from a device on a serial line. */
export interface SerialPort extends AsyncDisposable {
  readonly path: string;
  /** True from a successful {@linkcode SerialPort.open} until the port is closed or lost. */
  readonly isOpen: boolean;
  /**
   * Configures the line and opens it; resolves at once when it is open. A closed or lost port may be opened
   * again.
   *
   * @throws {SerialPortError} when the tty does not exist, is not a tty, refuses the settings, or the
   * programs that drive it are missing or not permitted.
   */
  open(): Promise<void>;
  /**
   * Queues bytes for the line; resolves once the port has taken them (not once they are on the wire).
   *
   * @throws {SerialPortError} when the port is not open or was lost.
   */
  write(bytes: Uint8Array): Promise<void>;
  /**
   * Calls `listener` with bytes as they arrive, in arbitrary chunks; returns the unsubscribe function. A
   * listener that throws ends the port, reported through {@linkcode SerialPort.onLost}.
   */
  onData(listener: (bytes: Uint8Array) => void): () => void;
  /**
   * Calls `listener` when an open port goes away by itself (device unplugged, line hung up, a helper killed),
   * once it is closed and may be opened again; not on {@linkcode SerialPort.close}. Returns the unsubscribe
   * function.
   */
  onLost(listener: (cause: SerialPortError) => void): () => void;
  /** Closes the port; resolves once it is closed, without waiting for a read to complete. */
  close(): Promise<void>;
}

/** Options of {@linkcode createTtyPort}. */
export interface TtyPortOptions {
  /** How long `stty` may take to configure the line, in milliseconds. @default 2000 */
  readonly openTimeoutMs?: number;
}

/**
 * The `stty` arguments that put `path` into raw mode with `settings`: no echo, no line editing, no signals,
 * no flow control, no translation of CR or NL, and `clocal`, so that opening the tty does not wait for a
 * modem's carrier detect.
 *
 * @example
 * ```ts
 * import { sttyArgs } from "./serial.ts";
 *
 * sttyArgs("/dev/ttyUSB0", { baud: 19200, parity: "even", dataBits: 8, stopBits: 1 });
 * // ["-F", "/dev/ttyUSB0", "raw", "-echo", ..., "19200", "cs8", "parenb", "-parodd", "-cstopb"]
 * ```
 *
 * @throws {RangeError} when the speed is not one of {@linkcode SERIAL_BAUD_RATES}.
 */
export function sttyArgs(path: string, settings: SerialSettings): string[] {
  if (!(SERIAL_BAUD_RATES as readonly number[]).includes(settings.baud)) {
    throw new RangeError(
      `A serial line runs at one of ${SERIAL_BAUD_RATES.join(", ")} baud, got ${settings.baud}`,
    );
  }
  const parity = settings.parity === "none"
    ? ["-parenb"]
    : ["parenb", settings.parity === "odd" ? "parodd" : "-parodd"];
  return [
    "-F",
    path,
    "raw",
    "-echo",
    "-echoe",
    "-echok",
    "-echoctl",
    "-echoke",
    "-crtscts",
    "-ixon",
    "-ixoff",
    "clocal",
    "cread",
    // `raw` means min 1 time 0 already; said here because `dd` relies on it: a read returns as soon as one
    // byte is there, so a response is passed on as it arrives.
    "min",
    "1",
    "time",
    "0",
    String(settings.baud),
    `cs${settings.dataBits}`,
    ...parity,
    settings.stopBits === 2 ? "cstopb" : "-cstopb",
  ];
}

/**
 * A serial port on a Linux tty, driven by `stty` and `dd` (GNU coreutils). Nothing happens until
 * {@linkcode SerialPort.open}.
 *
 * @example
 * ```ts ignore
 * import { createTtyPort } from "./serial.ts";
 *
 * await using port = createTtyPort({ path: "/dev/ttyUSB0", baud: 9600, parity: "none", dataBits: 8, stopBits: 2 });
 * port.onData((bytes) => console.log(bytes));
 * await port.open();
 * await port.write(Uint8Array.of(0x01, 0x03, 0x00, 0x00, 0x00, 0x01, 0x84, 0x0a));
 * ```
 */
export function createTtyPort(line: SerialLine, options: TtyPortOptions = {}): SerialPort {
  return new TtyPort(line, options);
}

/** One opening of the tty: the two `dd`s and what tears them down. */
interface Session {
  readonly reader: Deno.ChildProcess;
  readonly writer: Deno.ChildProcess;
  readonly input: WritableStreamDefaultWriter<Uint8Array>;
  readonly readerErr: Promise<string>;
  readonly writerErr: Promise<string>;
  /** The reading loop; ends when the reading `dd` exits. */
  pump: Promise<void>;
  /** What a data listener threw, which ends the session. */
  failure: unknown;
  down: Promise<void> | null;
}

class TtyPort implements SerialPort {
  readonly path: string;
  readonly #line: SerialLine;
  readonly #openTimeoutMs: number;
  readonly #dataListeners = new Set<(bytes: Uint8Array) => void>();
  readonly #lostListeners = new Set<(cause: SerialPortError) => void>();
  #session: Session | null = null;
  #opening: Promise<void> | null = null;

  constructor(line: SerialLine, options: TtyPortOptions) {
    this.path = line.path;
    this.#line = line;
    this.#openTimeoutMs = options.openTimeoutMs ?? 2000;
  }

  get isOpen(): boolean {
    return this.#session !== null && this.#session.down === null;
  }

  open(): Promise<void> {
    if (this.isOpen) return Promise.resolve();
    this.#opening ??= this.#open().finally(() => this.#opening = null);
    return this.#opening;
  }

  async #open(): Promise<void> {
    await this.#session?.down; // a lost session finishes its teardown first
    await this.#configure();
    // The reader first, so that the tty stays open (and keeps what arrives) from the first byte written.
    const reader = this.#spawn("dd", [`if=${this.path}`, "bs=512", "status=none"], "reader");
    let writer: Deno.ChildProcess;
    try {
      // conv=nocreat: if the device vanished since stty, fail rather than create a regular file in its place.
      writer = this.#spawn(
        "dd",
        [`of=${this.path}`, "bs=512", "conv=nocreat,notrunc", "status=none"],
        "writer",
      );
    } catch (err) {
      reader.kill("SIGTERM");
      await Promise.all([reader.status, reader.stdout.cancel(), reader.stderr.cancel()]);
      throw err;
    }
    const session: Session = {
      reader,
      writer,
      input: writer.stdin.getWriter(),
      readerErr: text(reader.stderr),
      writerErr: text(writer.stderr),
      pump: Promise.resolve(),
      failure: null,
      down: null,
    };
    session.pump = this.#pump(session);
    this.#session = session;
    void Promise.race([reader.status, writer.status]).then(() => this.#lose(session));
  }

  /**
   * Runs `stty` on the tty, killing it if it takes longer than the open timeout.
   *
   * @throws {RangeError} when the line's speed is not one `stty` is given (the manifest schema refuses it).
   */
  async #configure(): Promise<void> {
    const args = sttyArgs(this.path, this.#line);
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), this.#openTimeoutMs);
    let out: Deno.CommandOutput | null = null;
    try {
      out = await new Deno.Command("stty", {
        args,
        stdin: "null",
        stdout: "null",
        stderr: "piped",
        signal: abort.signal,
      }).output();
    } catch (err) {
      if (!abort.signal.aborted) throw this.#cannotRun("stty", err);
    } finally {
      clearTimeout(timer);
    }
    if (out === null || abort.signal.aborted) {
      throw new SerialPortError(this.path, `stty did not finish within ${this.#openTimeoutMs}ms`);
    }
    if (!out.success) {
      const reason = lastLine(new TextDecoder().decode(out.stderr), this.path) ||
        `stty exited with code ${out.code}`;
      throw new SerialPortError(this.path, reason);
    }
  }

  #spawn(program: "dd", args: string[], role: "reader" | "writer"): Deno.ChildProcess {
    try {
      return new Deno.Command(program, {
        args,
        stdin: role === "writer" ? "piped" : "null",
        stdout: role === "reader" ? "piped" : "null",
        stderr: "piped",
      }).spawn();
    } catch (err) {
      throw this.#cannotRun(program, err);
    }
  }

  #cannotRun(program: string, err: unknown): SerialPortError {
    if (err instanceof Deno.errors.NotFound) {
      return new SerialPortError(this.path, `${program} is not installed (GNU coreutils)`, { cause: err });
    }
    if (err instanceof Deno.errors.NotCapable || err instanceof Deno.errors.PermissionDenied) {
      return new SerialPortError(
        this.path,
        `no permission to run ${program} (a serial line needs --allow-run=${TTY_COMMANDS.join(",")})`,
        { cause: err },
      );
    }
    return new SerialPortError(this.path, `cannot run ${program}: ${(err as Error)?.message ?? err}`, {
      cause: err,
    });
  }

  /** Hands what the reading `dd` writes to the data listeners until it exits. */
  async #pump(session: Session): Promise<void> {
    try {
      for await (const chunk of session.reader.stdout) {
        for (const listener of [...this.#dataListeners]) listener(chunk);
      }
    } catch (err) {
      // A listener threw (leaving the loop cancelled the stream): end the port and report it as the cause.
      session.failure = err;
      try {
        session.reader.kill("SIGTERM");
      } catch { /* it has exited */ }
    }
  }

  /** A helper exited by itself: the device went away (or someone killed it). Closes, then tells listeners. */
  async #lose(session: Session): Promise<void> {
    if (session.down !== null) return; // closed on purpose
    await this.#teardown(session);
    const [readerErr, writerErr] = await Promise.all([session.readerErr, session.writerErr]);
    const reader = await session.reader.status;
    const reason = session.failure !== null
      ? `a data listener failed: ${(session.failure as Error)?.message ?? session.failure}`
      : lastLine(readerErr, this.path) || lastLine(writerErr, this.path) ||
        (reader.success
          ? "the line hung up (end of input)"
          : `the reading dd exited with code ${reader.code}`);
    const cause = new SerialPortError(
      this.path,
      reason,
      session.failure !== null ? { cause: session.failure } : undefined,
    );
    for (const listener of [...this.#lostListeners]) listener(cause);
  }

  write(bytes: Uint8Array): Promise<void> {
    const session = this.#session;
    if (session === null || session.down !== null) {
      return Promise.reject(new SerialPortError(this.path, "the port is not open"));
    }
    return session.input.write(bytes).catch((err) => {
      throw new SerialPortError(this.path, `cannot write: ${(err as Error)?.message ?? err}`, { cause: err });
    });
  }

  onData(listener: (bytes: Uint8Array) => void): () => void {
    this.#dataListeners.add(listener);
    return () => this.#dataListeners.delete(listener);
  }

  onLost(listener: (cause: SerialPortError) => void): () => void {
    this.#lostListeners.add(listener);
    return () => this.#lostListeners.delete(listener);
  }

  async close(): Promise<void> {
    await this.#opening?.catch(() => {});
    const session = this.#session;
    if (session) await this.#teardown(session);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /** Kills both `dd`s (a read blocked on a silent line ends with them) and waits for every stream. */
  #teardown(session: Session): Promise<void> {
    session.down ??= (async () => {
      for (const child of [session.reader, session.writer]) {
        try {
          child.kill("SIGTERM");
        } catch { /* it has exited */ }
      }
      await session.input.close().catch(() => {});
      await Promise.all([
        session.reader.status,
        session.writer.status,
        session.pump,
        session.readerErr,
        session.writerErr,
      ]);
    })();
    return session.down;
  }
}

/** A stream's text, or "" when it fails. */
async function text(stream: ReadableStream<Uint8Array>): Promise<string> {
  try {
    return await new Response(stream).text();
  } catch {
    return "";
  }
}

/**
 * The last line a coreutils program printed, without its `program:` prefix and the path it starts with:
 * `/usr/bin/stty: /dev/ttyUSB0: No such file or directory` gives `No such file or directory`.
 */
function lastLine(stderr: string, path: string): string {
  const line = (stderr.trim().split("\n").at(-1) ?? "").replace(/^\S*(stty|dd): /, "");
  return (line.startsWith(`${path}: `) ? line.slice(path.length + 2) : line).trim();
}
