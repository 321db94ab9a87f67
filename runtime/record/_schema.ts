/**
 * The shape a trace's frames must have once unpacked (`format.ts`): a file that decompresses and parses but
 * holds something else is refused like a corrupt one, before replay uses any of it. Private to
 * `runtime/record/`.
 *
 * @module
 */
import { z } from "zod";

const bytes = z.instanceof(Uint8Array);
const int = z.number().int().nonnegative();
const value = z.union([z.number(), z.bigint(), z.string(), bytes, z.null()]);

const schedule = z.union([
  z.object({ mode: z.literal("stream"), source: z.string(), window: int, hop: int, priority: int }),
  z.object({ mode: z.literal("periodic"), periodUs: int, priority: int }),
  z.object({ mode: z.literal("event"), trigger: z.string(), priority: int }),
]);

/** A header frame. */
export const HeaderFrame = z.object({
  type: z.literal("header"),
  module: z.string(),
  sha256: z.string(),
  abiVersion: int,
  wasm: z.string(),
  recordedAtMs: z.number(),
  plan: z.object({
    maxMemoryMb: z.number().positive(),
    budgetUs: int,
    fuel: int.nullable(),
    account: z.record(z.string(), z.number()).optional(),
    capabilities: z.array(z.string()),
    schedule,
    inputs: z.array(z.string()),
  }),
  params: z.record(z.string(), z.number()),
  channels: z.object({
    writes: z.array(z.object({ id: z.string(), sizeBytes: int })),
    read: z.object({ id: z.string(), sizeBytes: int }).nullable(),
  }),
  actuators: z.array(z.object({ id: z.string(), type: z.string(), resource: z.string() })),
  data: z.array(z.object({ name: z.string(), sha256: z.string(), bytes })),
  start: z.object({ memoryBytes: int, index: bytes, pages: bytes, state: bytes }).nullable(),
  bound: z.object({ maxBytes: int, invocations: int.nullable(), durationMs: z.number().nullable() }),
});

/** An invocation frame. */
export const InvocationFrame = z.object({
  type: z.literal("invocation"),
  seq: int,
  entry: z.string(),
  args: z.array(z.union([z.number(), z.bigint()])),
  input: bytes.nullable(),
  calls: z.array(z.object({
    name: z.string(),
    args: z.array(value),
    result: z.union([z.number(), z.bigint()]),
    out: bytes.nullable(),
  })),
  rc: z.union([z.number(), z.bigint()]).nullable(),
  fault: z.string().nullable(),
});

/** The end frame. */
export const EndFrame = z.object({
  type: z.literal("end"),
  invocations: int,
  stop: z.enum(["invocations", "duration", "budget", "stopped", "module_stopped", "overflow"]),
});
