/**
 * The GPIO bank as a manifest describes it (`connectors.gpio`), as a zod schema with snake_case keys, and
 * its camelCase form for the backend. Without `connectors.gpio`, or with `backend: sim`, modules get the
 * simulated bank.
 *
 * ```yaml
 * connectors:
 *   gpio:
 *     backend: linux-sysfs
 *     root: /run/kiln/sys/class/gpio   # /sys bind-mounted at /run/kiln/sys (see below)
 *     poll_ms: 10
 *     pins:
 *       3: { line: 17, direction: in }                               # gpio:pin_3 is kernel GPIO 17
 *       4: { chip: pinctrl-bcm2711, line: 22, direction: in, active_low: true }  # offset 22 of that chip
 *       8: { line: 27, direction: out, initial: 0 }
 * ```
 *
 * Why `root` is not `/sys/class/gpio`: Deno (1.43 and later, advisory GHSA-23rx-c3g5-hv9w) lets a process
 * touch anything under `/sys`, `/dev` or `/proc` only when it holds every permission (`--allow-all`), and a
 * narrower `--allow-write=/sys/class/gpio` is refused. Kiln runs narrowed, so it reaches sysfs through a bind
 * mount elsewhere (`mount --bind /sys /run/kiln/sys`, or systemd's `BindPaths=/sys:/run/kiln/sys`), of which
 * it is granted the GPIO folder only.
 *
 * @module
 */
import { posix } from "node:path";
import { z } from "zod";

/** The backends: the simulated bank, and Linux GPIO through sysfs (`/sys/class/gpio`). */
export const GPIO_BACKENDS = ["sim", "linux-sysfs"] as const;
/** Backends that later versions may add; naming one is an error that says so. */
export const UPCOMING_GPIO_BACKENDS: readonly string[] = ["linux-cdev", "linux-chardev", "gpiochip"];

/** Default `poll_ms`: how often input lines are read. */
export const DEFAULT_GPIO_POLL_MS = 10;
/** Kiln's pin numbers, as in `gpio:pin_<n>` (the capability parser's range). */
export const GPIO_PIN_KEY = /^(0|[1-9][0-9]{0,4})$/;
/** Trees Deno opens only to a process with every permission (Deno's "special" paths on Linux). */
export const DENO_GUARDED_TREES: readonly string[] = ["/sys", "/dev", "/proc"];
/** The bind mount the README and error messages suggest. */
export const SUGGESTED_ROOT = "/run/kiln/sys/class/gpio";

const int = (min: number, max: number) => z.int().min(min).max(max);

/** One pin: the kernel line it is, its direction, polarity and (for outputs) its level when opened. */
export const GpioPinSchema = z.strictObject({
  /**
   * The kernel's GPIO number (the `N` of `/sys/class/gpio/gpioN`); with `chip`, the offset of the line on
   * that chip instead.
   */
  line: int(0, 99_999),
  /** A chip's label (`/sys/class/gpio/gpiochipB/label`): `line` is then counted from its base. */
  chip: z.string().min(1, "a chip label must not be empty").optional(),
  direction: z.enum(["in", "out"]),
  /** The line is active-low: Kiln's 1 is a low wire. @default false */
  active_low: z.boolean().default(false),
  /**
   * An output's level when Kiln opens it. Left out, an output that is already exported as one keeps its
   * level (so a restart does not pulse a relay), and any other starts at 0.
   */
  initial: z.union([z.literal(0), z.literal(1)]).optional(),
}).superRefine((pin, ctx) => {
  if (pin.initial !== undefined && pin.direction !== "out") {
    ctx.addIssue({ code: "custom", path: ["initial"], message: "initial applies only to direction: out" });
  }
});

/** Why a root cannot be used, or null. */
function rootProblem(root: string): string | null {
  if (!posix.isAbsolute(root)) return `a root must be an absolute path, e.g. "${SUGGESTED_ROOT}"`;
  const normal = posix.normalize(root);
  const tree = DENO_GUARDED_TREES.find((t) => normal === t || normal.startsWith(`${t}/`));
  if (tree === undefined) return null;
  return `Deno opens files under ${tree} only to a process with every permission (--allow-all), ` +
    `and Kiln runs with narrowed permissions: bind-mount /sys elsewhere (mount --bind /sys /run/kiln/sys) ` +
    `and give root: ${SUGGESTED_ROOT}`;
}

/** Linux GPIO through sysfs: the lines Kiln exports, sets up and reads or writes through their files. */
export const SysfsGpioSchema = z.strictObject({
  backend: z.literal("linux-sysfs"),
  /** The sysfs GPIO folder (holding `export`, `unexport`, `gpioN/`), through a bind mount of `/sys`. */
  root: z.string().superRefine((root, ctx) => {
    const problem = rootProblem(root);
    if (problem !== null) ctx.addIssue({ code: "custom", message: problem });
  }),
  /**
   * How often input lines are read, in milliseconds (Deno cannot wait on a sysfs `value` file with
   * poll(2), so edges are found by reading). @default 10
   */
  poll_ms: int(1, 60_000).default(DEFAULT_GPIO_POLL_MS),
  /** Kiln's pins (`gpio:pin_<n>`) by number. */
  pins: z.record(
    z.string().regex(GPIO_PIN_KEY, `a pin must be a number from 0 to 99999, as in "gpio:pin_<n>"`),
    GpioPinSchema,
  ).refine((pins) => Object.keys(pins).length > 0, "give at least one pin"),
}).superRefine((bank, ctx) => {
  const seen = new Map<string, string>();
  for (const [pin, p] of Object.entries(bank.pins)) {
    const key = `${p.chip ?? ""}#${p.line}`;
    const other = seen.get(key);
    if (other !== undefined) {
      ctx.addIssue({
        code: "custom",
        path: ["pins", pin, "line"],
        message: p.chip === undefined
          ? `line ${p.line} is already pin ${other}`
          : `line ${p.line} of chip "${p.chip}" is already pin ${other}`,
      });
    } else {
      seen.set(key, pin);
    }
  }
});

/** The simulated bank, which is also what modules get without `connectors.gpio`. */
export const SimGpioSchema = z.strictObject({ backend: z.literal("sim") });

/** `connectors.gpio`: which bank modules' GPIO pins are, told apart by `backend`. */
export const GpioConnectorSchema = z.discriminatedUnion("backend", [SimGpioSchema, SysfsGpioSchema], {
  error: (issue) => {
    if (issue.code !== "invalid_union") return undefined;
    const backend = (issue.input as { backend?: unknown } | undefined)?.backend;
    return typeof backend === "string" && UPCOMING_GPIO_BACKENDS.includes(backend)
      ? `the GPIO character device (/dev/gpiochipN) is not supported yet (this version supports: ${
        GPIO_BACKENDS.join(", ")
      })`
      : `expected a "backend" of ${GPIO_BACKENDS.map((b) => `"${b}"`).join(" or ")}`;
  },
});

/** `connectors.gpio` as written. */
export type GpioConnectorConfig = z.output<typeof GpioConnectorSchema>;

/** One configured line, for the backend. */
export interface SysfsPinConfig {
  /** Kiln's pin number. */
  pin: number;
  /** The kernel's GPIO number, or with `chip` the offset on that chip. */
  line: number;
  chip: string | null;
  direction: "in" | "out";
  activeLow: boolean;
  /** The output's level when opened; `null` to keep an already exported output's level. */
  initial: 0 | 1 | null;
}

/** A sysfs GPIO bank, for the backend. */
export interface SysfsGpioConfig {
  backend: "linux-sysfs";
  /** The sysfs GPIO folder, absolute. */
  root: string;
  pollMs: number;
  /** By pin number. */
  pins: SysfsPinConfig[];
}

/** The backend's form of `connectors.gpio`: `null` for the simulated bank. */
export function toGpioConfig(config: GpioConnectorConfig | undefined): SysfsGpioConfig | null {
  if (config === undefined || config.backend === "sim") return null;
  return {
    backend: "linux-sysfs",
    root: posix.normalize(config.root),
    pollMs: config.poll_ms,
    pins: Object.entries(config.pins)
      .map(([pin, p]) => ({
        pin: Number(pin),
        line: p.line,
        chip: p.chip ?? null,
        direction: p.direction,
        activeLow: p.active_low,
        initial: p.initial ?? null,
      }))
      .sort((a, b) => a.pin - b.pin),
  };
}
