/**
 * Linux GPIO through sysfs (Documentation/admin-guide/gpio/sysfs.rst): each configured line is exported
 * (`echo N > export` makes `gpioN/`), given its polarity (`active_low`) and direction (`in`, or `high`/`low`
 * for an output with its first level), and then read or written through its `value` file, which Kiln keeps
 * open. Plain file I/O: no FFI.
 *
 * Inputs are read on a poll (Deno cannot wait on a `value` file with poll(2), which is how sysfs reports
 * edges), and a change of level between two polls is an edge; a pulse shorter than `poll_ms` can be missed.
 * Writes are synchronous: a sysfs write is the kernel setting the line, so the module's write is on the wire
 * when {@linkcode SysfsGpio.set} returns, in the order the module made them.
 *
 * Kiln leaves the lines it exported exported when it stops, so an output keeps its level across a restart
 * (`echo N > unexport` releases one).
 *
 * @module
 */
import { type Clock, type ConnectorState, type ConnectorStatus, SYSTEM_CLOCK } from "../mod.ts";
import type { GpioBank, GpioChange, GpioPinState } from "./bank.ts";
import type { SysfsGpioConfig, SysfsPinConfig } from "./config.ts";
import { GpioDirectionError, GpioIoError, GpioUnavailableError } from "./errors.ts";

const BACKEND = "linux-sysfs";
/** Default {@linkcode SysfsGpioOptions.exportWaitMs}. */
export const DEFAULT_EXPORT_WAIT_MS = 2000;
/** How often to look again for an exported line's files. */
const EXPORT_RETRY_MS = 10;
const HIGH = new TextEncoder().encode("1\n");
const LOW = new TextEncoder().encode("0\n");

/** Options of {@linkcode createSysfsGpio}. */
export interface SysfsGpioOptions {
  /**
   * How long to wait after exporting a line for its `direction` file to appear and accept writes, in
   * milliseconds: the kernel makes the files as it exports, but udev may change their owner and mode a
   * little later (for a non-root user in a `gpio` group). @default 2000
   */
  exportWaitMs?: number;
  /** @default SYSTEM_CLOCK */
  clock?: Clock;
}

interface Line {
  readonly config: SysfsPinConfig;
  /** The kernel's GPIO number, once resolved. */
  number: number;
  file: Deno.FsFile | null;
  readonly state: GpioPinState;
}

/** Opens a sysfs GPIO bank (call {@linkcode SysfsGpio.open} before use). */
export function createSysfsGpio(config: SysfsGpioConfig, options: SysfsGpioOptions = {}): SysfsGpio {
  return new SysfsGpio(config, options);
}

/** The configured lines of a sysfs GPIO folder, as a {@linkcode GpioBank}. */
export class SysfsGpio implements GpioBank {
  readonly backend = BACKEND;
  readonly pollMs: number;
  readonly root: string;
  #lines = new Map<number, Line>();
  #clock: Clock;
  #exportWaitMs: number;
  #state: ConnectorState = "connecting";
  #lastError: string | null = null;
  #errors = 0;
  /** Pins whose last read or write failed (`r3`, `w8`). */
  #failing = new Set<string>();
  #buffer = new Uint8Array(16);

  /** Use {@linkcode createSysfsGpio}. */
  constructor(config: SysfsGpioConfig, options: SysfsGpioOptions = {}) {
    this.root = config.root;
    this.pollMs = config.pollMs;
    this.#clock = options.clock ?? SYSTEM_CLOCK;
    this.#exportWaitMs = options.exportWaitMs ?? DEFAULT_EXPORT_WAIT_MS;
    for (const p of config.pins) {
      this.#lines.set(p.pin, {
        config: p,
        number: p.line,
        file: null,
        state: {
          pin: p.pin,
          value: 0,
          setBy: p.direction === "in" ? "input" : "output",
          changedAt: 0,
          writes: 0,
          quality: "bad",
        },
      });
    }
  }

  /**
   * Exports and sets up every line, and reads the inputs' levels.
   *
   * @throws {GpioUnavailableError} when the folder is missing or not a sysfs GPIO folder, a chip label is
   * unknown, or the kernel refuses a line; lines exported before the failure stay exported.
   */
  async open(): Promise<void> {
    if (this.#state === "connected") return;
    try {
      await this.#checkRoot();
      await this.#resolve();
      for (const line of this.#lines.values()) await this.#openLine(line);
    } catch (err) {
      this.#closeFiles();
      if (err instanceof GpioUnavailableError) this.#note(err);
      throw err;
    }
    this.#state = "connected";
  }

  async #checkRoot(): Promise<void> {
    let info: Deno.FileInfo;
    try {
      info = await Deno.stat(this.root);
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) {
        throw this.#unavailable(
          this.root,
          null,
          "does not exist: this kernel has no sysfs GPIO (CONFIG_GPIO_SYSFS), or /sys is not bind-mounted " +
            "there (mount --bind /sys /run/kiln/sys); on a machine without GPIO use connectors.gpio.backend: sim",
          err,
        );
      }
      throw this.#unavailable(this.root, null, `cannot be read: ${describe(err)}`, err);
    }
    if (!info.isDirectory) throw this.#unavailable(this.root, null, "is not a folder");
    try {
      await Deno.stat(`${this.root}/export`);
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound)) {
        throw this.#unavailable(this.root, null, `cannot be read: ${describe(err)}`, err);
      }
      throw this.#unavailable(
        this.root,
        null,
        "has no export file: it is not a sysfs GPIO folder (/sys/class/gpio seen through a bind mount)",
        err,
      );
    }
  }

  /** Turns chip offsets into the kernel's GPIO numbers, and refuses two pins on one line. */
  async #resolve(): Promise<void> {
    const lines = [...this.#lines.values()];
    if (lines.some((l) => l.config.chip !== null)) {
      const chips = await this.#chips();
      for (const line of lines) {
        const label = line.config.chip;
        if (label === null) continue;
        const chip = chips.get(label);
        if (chip === undefined) {
          const known = [...chips.keys()].map((l) => `"${l}"`).join(", ") || "none";
          throw this.#unavailable(this.root, null, `has no chip labelled "${label}" (chips: ${known})`);
        }
        if (line.config.line >= chip.ngpio) {
          throw this.#unavailable(
            chip.dir,
            null,
            `is chip "${label}" with ${chip.ngpio} lines (offsets 0 to ${chip.ngpio - 1}), ` +
              `not offset ${line.config.line} (connectors.gpio.pins.${line.config.pin}.line)`,
          );
        }
        line.number = chip.base + line.config.line;
      }
    }
    const byNumber = new Map<number, number>();
    for (const line of lines) {
      const other = byNumber.get(line.number);
      if (other !== undefined) {
        throw this.#unavailable(
          `${this.root}/gpio${line.number}`,
          line.number,
          `is both pin ${other} and pin ${line.config.pin} (a chip offset and a GPIO number name the same line)`,
        );
      }
      byNumber.set(line.number, line.config.pin);
    }
  }

  /** The GPIO chips by label: `gpiochipB/{label, base, ngpio}`. */
  async #chips(): Promise<Map<string, { base: number; ngpio: number; dir: string }>> {
    const chips = new Map<string, { base: number; ngpio: number; dir: string }>();
    try {
      for await (const entry of Deno.readDir(this.root)) {
        if (!/^gpiochip[0-9]+$/.test(entry.name)) continue;
        const dir = `${this.root}/${entry.name}`;
        const label = (await Deno.readTextFile(`${dir}/label`)).trim();
        const base = Number((await Deno.readTextFile(`${dir}/base`)).trim());
        const ngpio = Number((await Deno.readTextFile(`${dir}/ngpio`)).trim());
        if (!Number.isInteger(base) || !Number.isInteger(ngpio)) {
          throw this.#unavailable(dir, null, "has a base or ngpio that is not a number");
        }
        chips.set(label, { base, ngpio, dir });
      }
    } catch (err) {
      if (err instanceof GpioUnavailableError) throw err;
      throw this.#unavailable(this.root, null, `cannot list its chips: ${describe(err)}`, err);
    }
    return chips;
  }

  async #openLine(line: Line): Promise<void> {
    const n = line.number;
    const dir = `${this.root}/gpio${n}`;
    if (!await this.#exists(dir, n)) {
      try {
        await writeAttribute(`${this.root}/export`, `${n}`);
      } catch (err) {
        throw this.#unavailable(
          `${this.root}/export`,
          n,
          `refused line ${n} (${describe(err)}): the line does not exist, or a driver or another program ` +
            `holds it`,
          err,
        );
      }
      await this.#awaitExport(dir, n);
    }
    const { direction, activeLow, initial } = line.config;
    // Polarity first: it decides what the levels below and every later read and write mean.
    await this.#setAttribute(`${dir}/active_low`, activeLow ? "1" : "0", n);
    const value = `${dir}/value`;
    if (direction === "in") {
      await this.#setAttribute(`${dir}/direction`, "in", n);
      line.file = await this.#openValue(value, n, { read: true });
      line.state.value = this.#read(line);
      line.state.quality = "good";
      return;
    }
    let keep = false;
    if (initial === null) {
      keep = (await this.#readAttribute(`${dir}/direction`, n)) === "out";
    }
    if (!keep) {
      // "high" and "low" make the line an output already at that level, with no glitch; they are raw wire
      // levels that ignore active_low (gpiolib-sysfs.c, direction_store: gpiod_direction_output_raw).
      const level = initial ?? 0;
      await this.#setAttribute(`${dir}/direction`, (activeLow ? 1 - level : level) ? "high" : "low", n);
      line.state.value = level;
    }
    line.file = await this.#openValue(value, n, { read: true, write: true });
    if (keep) line.state.value = this.#read(line);
    line.state.quality = "good";
  }

  async #exists(path: string, n: number): Promise<boolean> {
    try {
      await Deno.stat(path);
      return true;
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) return false;
      throw this.#unavailable(path, n, `cannot be read: ${describe(err)}`, err);
    }
  }

  /** Waits until an exported line's `direction` can be opened for writing. */
  async #awaitExport(dir: string, n: number): Promise<void> {
    const deadline = this.#clock.now() + this.#exportWaitMs;
    for (;;) {
      try {
        (await Deno.open(`${dir}/direction`, { write: true })).close();
        return;
      } catch (err) {
        const waiting = err instanceof Deno.errors.NotFound || err instanceof Deno.errors.PermissionDenied;
        if (!waiting) {
          throw this.#unavailable(`${dir}/direction`, n, `cannot be opened: ${describe(err)}`, err);
        }
        if (this.#clock.now() >= deadline) {
          throw this.#unavailable(
            `${dir}/direction`,
            n,
            err instanceof Deno.errors.NotFound
              ? `did not appear within ${this.#exportWaitMs} ms of exporting line ${n}`
              : `was not writable within ${this.#exportWaitMs} ms of exporting line ${n}: run Kiln as a ` +
                `user the GPIO files belong to (a udev rule for a "gpio" group, or root)`,
            err,
          );
        }
      }
      await new Promise<void>((resolve) => this.#clock.setTimer(resolve, EXPORT_RETRY_MS));
    }
  }

  async #setAttribute(path: string, text: string, n: number): Promise<void> {
    try {
      await writeAttribute(path, text);
    } catch (err) {
      throw this.#unavailable(path, n, `refused "${text}" (${describe(err)})`, err);
    }
  }

  async #readAttribute(path: string, n: number): Promise<string> {
    try {
      return (await Deno.readTextFile(path)).trim();
    } catch (err) {
      throw this.#unavailable(path, n, `cannot be read: ${describe(err)}`, err);
    }
  }

  async #openValue(path: string, n: number, mode: Deno.OpenOptions): Promise<Deno.FsFile> {
    try {
      return await Deno.open(path, mode);
    } catch (err) {
      throw this.#unavailable(path, n, `cannot be opened: ${describe(err)}`, err);
    }
  }

  /** Reads a line's level from the start of its `value` file (a sysfs attribute is read from offset 0). */
  #read(line: Line): 0 | 1 {
    const path = `${this.root}/gpio${line.number}/value`;
    let text: string;
    try {
      if (line.file === null) throw new Error("the bank is not open");
      line.file.seekSync(0, Deno.SeekMode.Start);
      const n = line.file.readSync(this.#buffer) ?? 0;
      text = new TextDecoder().decode(this.#buffer.subarray(0, n)).trim();
    } catch (err) {
      throw new GpioIoError(BACKEND, line.config.pin, path, "read", describe(err), { cause: err });
    }
    if (text !== "0" && text !== "1") {
      throw new GpioIoError(BACKEND, line.config.pin, path, "read", `expected "0" or "1", got "${text}"`);
    }
    return text === "1" ? 1 : 0;
  }

  get(pin: number): GpioPinState | null {
    const line = this.#lines.get(pin);
    return line ? { ...line.state } : null;
  }

  list(): GpioPinState[] {
    return [...this.#lines.values()].map((l) => ({ ...l.state }));
  }

  /**
   * Writes an output line's level.
   *
   * @throws {RangeError} when no pin `pin` is configured.
   * @throws {GpioDirectionError} for an input line (counted in the status), or for `setBy: "input"` (only
   * the wire sets a line).
   * @throws {GpioIoError} when the kernel refused the write.
   */
  set(pin: number, value: number, setBy: GpioPinState["setBy"], at = this.#clock.now()): void {
    const line = this.#line(pin);
    if (setBy === "input") {
      throw new GpioDirectionError(BACKEND, pin, `it is a hardware line (${BACKEND}): only its wire sets it`);
    }
    if (line.config.direction !== "out") {
      // A module's write that cannot be carried out: counted, so an operator sees it, but the line is fine.
      const error = new GpioDirectionError(
        BACKEND,
        pin,
        `it is an input line (connectors.gpio.pins.${pin}.direction: in)`,
      );
      this.#errors++;
      this.#lastError = error.message;
      throw error;
    }
    const level = value ? 1 : 0;
    const path = `${this.root}/gpio${line.number}/value`;
    try {
      if (line.file === null) throw new Error("the bank is not open");
      const bytes = level ? HIGH : LOW;
      line.file.seekSync(0, Deno.SeekMode.Start);
      const n = line.file.writeSync(bytes);
      if (n !== bytes.length) throw new Error(`wrote ${n} of ${bytes.length} bytes`);
    } catch (err) {
      const error = new GpioIoError(BACKEND, pin, path, `write ${level} to`, describe(err), { cause: err });
      this.#failing.add(`w${pin}`);
      this.#note(error);
      throw error;
    }
    this.#failing.delete(`w${pin}`);
    this.#settle();
    const s = line.state;
    s.writes++;
    if (s.value !== level) s.changedAt = at;
    s.value = level;
    s.quality = "good";
  }

  poll(at = this.#clock.now()): GpioChange[] {
    const changes: GpioChange[] = [];
    for (const line of this.#lines.values()) {
      if (line.config.direction !== "in" || line.file === null) continue;
      const s = line.state;
      let level: 0 | 1;
      try {
        level = this.#read(line);
      } catch (err) {
        if (!(err instanceof GpioIoError)) throw err;
        this.#failing.add(`r${line.config.pin}`);
        this.#note(err);
        if (s.quality !== "bad") {
          s.quality = "bad";
          changes.push({ state: { ...s }, edge: false });
        }
        continue;
      }
      this.#failing.delete(`r${line.config.pin}`);
      const edge = level !== s.value;
      const recovered = s.quality !== "good";
      if (edge) {
        s.value = level;
        s.changedAt = at;
      }
      s.quality = "good";
      if (edge || recovered) changes.push({ state: { ...s }, edge });
    }
    this.#settle();
    return changes;
  }

  status(): ConnectorStatus {
    return {
      name: "gpio",
      kind: BACKEND,
      state: this.#state,
      lastError: this.#lastError,
      errors: this.#errors,
      reconnects: 0,
    };
  }

  close(): Promise<void> {
    this.#closeFiles();
    this.#state = "closed";
    return Promise.resolve();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #line(pin: number): Line {
    const line = this.#lines.get(pin);
    if (!line) {
      const pins = [...this.#lines.keys()].join(", ");
      throw new RangeError(`No GPIO pin ${pin}: connectors.gpio configures pins ${pins}`);
    }
    return line;
  }

  #closeFiles(): void {
    for (const line of this.#lines.values()) {
      line.file?.close();
      line.file = null;
    }
  }

  /** Counts an error and keeps its message; the state is `error` while some line keeps failing. */
  #note(err: Error): void {
    this.#errors++;
    this.#lastError = err.message;
    if (this.#state !== "closed") this.#state = "error";
  }

  #settle(): void {
    if (this.#state === "error" && this.#failing.size === 0) this.#state = "connected";
  }

  #unavailable(path: string, line: number | null, reason: string, cause?: unknown): GpioUnavailableError {
    return new GpioUnavailableError(BACKEND, path, line, reason, cause === undefined ? undefined : { cause });
  }
}

/** Writes one sysfs attribute in one write, as `echo text > path` does; never creates the file. */
async function writeAttribute(path: string, text: string): Promise<void> {
  const bytes = new TextEncoder().encode(`${text}\n`);
  using file = await Deno.open(path, { write: true, truncate: true });
  const n = await file.write(bytes);
  if (n !== bytes.length) throw new Error(`wrote ${n} of ${bytes.length} bytes`);
}

/** An OS error's reason, in words a user can act on. */
function describe(err: unknown): string {
  if (err instanceof Deno.errors.NotCapable) {
    return `Deno refused it (${err.message}); kiln run grants connectors.gpio.root when it relaunches itself`;
  }
  if (err instanceof Deno.errors.PermissionDenied) {
    return `${err.message}; run Kiln as a user the GPIO files belong to (a udev rule for a "gpio" group, or root)`;
  }
  return err instanceof Error ? err.message : String(err);
}
