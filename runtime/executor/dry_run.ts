/**
 * A deploy's trial start is a dry run: the new version is instantiated and its `kiln_init` run exactly as
 * for real, but what it does to the outside is held back, so that the real start that follows does it once.
 * Its host calls see what they would see (`KILN_OK`, the same grants and denials, the same limits), and:
 * outputs, arrays, alerts, GPIO and actuator writes, published messages, channel writes, grant uses and
 * denials are discarded; log lines are kept, marked `[trial]`. Documented in modules/ABI.md ("Trial start").
 *
 * @module
 */
import type { ActuatorWrite, AlertEvent, LogEvent, OutboundMessage } from "./protocol.ts";
import type { InstanceSink } from "./host_kiln.ts";

/** The sink of a trial instance: logs go on to `logs`, marked; everything else is dropped. */
export class DryRunSink implements InstanceSink {
  readonly #logs: Pick<InstanceSink, "log">;

  constructor(logs: Pick<InstanceSink, "log">) {
    this.#logs = logs;
  }

  output(_module: string, _key: string, _value: number): void {}
  outputArray(_module: string, _key: string, _values: Float32Array): void {}
  alert(_event: AlertEvent): void {}
  log(event: LogEvent): void {
    this.#logs.log({ ...event, message: `[trial] ${event.message}` });
  }
  denied(_module: string, _capability: string, _detail: string): void {}
  used(_module: string, _capability: string): void {}
  write(_write: ActuatorWrite): void {}
  publish(_message: OutboundMessage): boolean {
    return true;
  }
}

/** A channel writer of a trial instance: takes every record that fits, and keeps none. */
export function dryRunWriter(maxRecordBytes: number): { maxRecordBytes: number; write(): "ok" } {
  return { maxRecordBytes, write: () => "ok" };
}

/** A sink that keeps nothing: an instance run offline (replay, a shadow candidate, offline recording). */
export const NULL_SINK: InstanceSink = Object.freeze({
  output() {},
  outputArray() {},
  alert() {},
  log() {},
  denied() {},
  used() {},
  write() {},
  publish: () => true,
});
