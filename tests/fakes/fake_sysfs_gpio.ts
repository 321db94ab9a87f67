/**
 * A FAKE sysfs GPIO folder for tests: a temporary directory shaped like `/sys/class/gpio` (an `export`
 * file, `gpiochipB/{label,base,ngpio}`, and `gpioN` entries that are symlinks into a `devices/` tree, as
 * sysfs has them), with a stand-in for the kernel's side of `export`. It is not sysfs and no kernel is
 * behind it: its files are ordinary files, so a write to `value` is only a write to a file, and nothing
 * here proves the backend on real GPIO hardware (the VM these tests run on has none).
 *
 * The stand-in: `export` is a named pipe that the fake reads; each number written to it makes that line's
 * folder (`direction` "in", `value` "0", `active_low` "0") a moment later, as udev would leave it.
 *
 * @example
 * ```ts ignore
 * await using fake = await createFakeSysfsGpio({ chips: [{ label: "pinctrl-bcm2711", base: 512, ngpio: 58 }] });
 * // ... point connectors.gpio.root at fake.root, then:
 * await fake.setValue(17, 1); // the wire of GPIO 17 goes high
 * await fake.value(27); // what Kiln last wrote to GPIO 27
 * ```
 *
 * @module
 */

import { TOOL_TIMEOUT_MS } from "../_timeouts.ts";

/** A pre-existing line, as an earlier run (or another program) left it exported. */
export interface FakeLine {
  direction: "in" | "out";
  value: 0 | 1;
  activeLow?: boolean;
}

/** Options of {@linkcode createFakeSysfsGpio}. */
export interface FakeSysfsGpioOptions {
  /** GPIO chips (`gpiochip<base>`). */
  chips?: { label: string; base: number; ngpio: number }[];
  /** Lines already exported, by kernel number. */
  exported?: Record<number, FakeLine>;
  /** Lines the fake kernel takes from `export` but never makes a folder for. */
  ignore?: number[];
  /** `export` refuses every write (it is a folder, so opening it for writing fails with EISDIR). */
  refuseExports?: boolean;
}

/** A fake sysfs GPIO folder; remove it with `await using`. */
export interface FakeSysfsGpio extends AsyncDisposable {
  /** The folder to give as `connectors.gpio.root`. */
  readonly root: string;
  /** Every number written to `export`, in order. */
  readonly exports: readonly number[];
  /** A line's attribute as Kiln left it (`direction`, `active_low`), trimmed. */
  attribute(line: number, name: "direction" | "active_low" | "value"): Promise<string>;
  /** A line's `value` file as a level, or throws when it is not "0" or "1". */
  value(line: number): Promise<0 | 1>;
  /** Sets a line's `value` file to a level, or to any text (to stand for a garbled read). */
  setValue(line: number, value: 0 | 1 | string): Promise<void>;
}

/** Makes a fake sysfs GPIO folder in a new temporary directory. */
export async function createFakeSysfsGpio(options: FakeSysfsGpioOptions = {}): Promise<FakeSysfsGpio> {
  const base = await Deno.makeTempDir({ prefix: "kiln-fake-sysfs-" });
  const root = `${base}/sys/class/gpio`;
  const devices = `${base}/sys/devices/platform/fake-gpio/gpio`;
  await Deno.mkdir(root, { recursive: true });
  await Deno.mkdir(devices, { recursive: true });
  await Deno.writeTextFile(`${root}/unexport`, "");
  for (const chip of options.chips ?? []) {
    const dir = `${root}/gpiochip${chip.base}`;
    await Deno.mkdir(dir);
    await Deno.writeTextFile(`${dir}/label`, `${chip.label}\n`);
    await Deno.writeTextFile(`${dir}/base`, `${chip.base}\n`);
    await Deno.writeTextFile(`${dir}/ngpio`, `${chip.ngpio}\n`);
  }
  const makeLine = async (n: number, line: FakeLine) => {
    const dir = `${devices}/gpio${n}`;
    await Deno.mkdir(dir);
    await Deno.writeTextFile(`${dir}/direction`, `${line.direction}\n`);
    await Deno.writeTextFile(`${dir}/value`, `${line.value}\n`);
    await Deno.writeTextFile(`${dir}/active_low`, `${line.activeLow ? 1 : 0}\n`);
    await Deno.writeTextFile(`${dir}/edge`, "none\n");
    // Last, as the kernel makes the class entry once the device is complete.
    await Deno.symlink(`../../devices/platform/fake-gpio/gpio/gpio${n}`, `${root}/gpio${n}`);
  };
  for (const [n, line] of Object.entries(options.exported ?? {})) await makeLine(Number(n), line);

  const exportPath = `${root}/export`;
  const exports: number[] = [];
  let kernel: Promise<void> = Promise.resolve();
  if (options.refuseExports) {
    await Deno.mkdir(exportPath);
  } else {
    const made = await new Deno.Command("mkfifo", {
      args: [exportPath],
      signal: AbortSignal.timeout(TOOL_TIMEOUT_MS),
    }).output();
    if (!made.success) throw new Error(`mkfifo ${exportPath}: ${new TextDecoder().decode(made.stderr)}`);
    kernel = (async () => {
      // Each read returns once a writer opened, wrote and closed the pipe: one `echo N > export`.
      for (;;) {
        const text = await Deno.readTextFile(exportPath);
        const tokens = text.split(/\s+/).filter((t) => t !== "");
        for (const token of tokens) {
          if (token === "stop") continue;
          const n = Number(token);
          exports.push(n);
          if (!(options.ignore ?? []).includes(n)) await makeLine(n, { direction: "in", value: 0 });
        }
        if (tokens.includes("stop")) return;
      }
    })();
  }
  const file = (n: number, name: string) => `${devices}/gpio${n}/${name}`;
  return {
    root,
    exports,
    attribute: async (n, name) => (await Deno.readTextFile(file(n, name))).trim(),
    value: async (n) => {
      const text = (await Deno.readTextFile(file(n, "value"))).trim();
      if (text !== "0" && text !== "1") throw new Error(`gpio${n}/value holds "${text}"`);
      return text === "1" ? 1 : 0;
    },
    setValue: (n, value) => Deno.writeTextFile(file(n, "value"), `${value}\n`),
    async [Symbol.asyncDispose]() {
      if (!options.refuseExports) {
        await Deno.writeTextFile(exportPath, "stop\n");
        await kernel;
      }
      await Deno.remove(base, { recursive: true });
    },
  };
}
