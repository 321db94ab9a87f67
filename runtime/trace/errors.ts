/**
 * The trace export's errors.
 *
 * @module
 */
import { KilnError } from "../../errors.ts";

/** A batch of spans the OTLP collector did not take: it refused it, timed out, or could not be reached. */
export class OtlpExportError extends KilnError {
  readonly code = "otlp_export_failed";
  readonly kind = "failed";
  /**
   * @param endpoint The URL posted to.
   * @param status The HTTP status the collector answered, or null when none came (refused, timed out).
   */
  constructor(
    readonly endpoint: string,
    readonly status: number | null,
    reason: string,
    options?: ErrorOptions,
  ) {
    super(`Cannot export spans to "${endpoint}": ${reason}`, options);
  }
}
