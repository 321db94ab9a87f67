/**
 * Errors of the OCI registry client: every failure names the registry, the repository and the reference it
 * was about, and for an HTTP answer the status, so a user can tell a wrong password from a missing tag.
 *
 * @module
 */
import { type ErrorKind, KilnError } from "../errors.ts";

/** Where a registry operation was aimed: `host[:port]`, repository path and tag or digest (when known). */
export interface RegistryTarget {
  readonly registry: string;
  readonly repository: string;
  readonly reference: string | null;
}

/** `registry/repository:reference` for messages. */
export function describeTarget(t: RegistryTarget): string {
  const base = `${t.registry}/${t.repository}`;
  if (t.reference === null) return `"${base}"`;
  return `"${base}${t.reference.startsWith("sha256:") ? "@" : ":"}${t.reference}"`;
}

/** An image reference (`registry/repo:tag[@sha256:...]`) that does not parse. */
export class ImageReferenceError extends KilnError {
  readonly code = "image_reference_invalid";
  readonly kind = "invalid";
  constructor(readonly reference: string, detail: string) {
    super(`Invalid image reference "${reference.slice(0, 300)}": ${detail}`);
  }
}

/** What an HTTP status from a registry means, as an error code and kind. */
const STATUS_CODES: ReadonlyMap<number, { code: string; kind: ErrorKind }> = new Map([
  [401, { code: "registry_unauthorized", kind: "unauthorized" }],
  [403, { code: "registry_forbidden", kind: "forbidden" }],
  [404, { code: "registry_not_found", kind: "not_found" }],
]);

/**
 * A registry answered with an unexpected HTTP status. `code` is `registry_unauthorized` (401),
 * `registry_forbidden` (403), `registry_not_found` (404) or `registry_http_error` (anything else).
 */
export class RegistryHttpError extends KilnError {
  readonly code: string;
  readonly kind: ErrorKind;
  constructor(
    readonly target: RegistryTarget,
    readonly operation: string,
    readonly status: number,
    /** The registry's error code from its JSON error body (`MANIFEST_UNKNOWN`...), when it sent one. */
    readonly registryCode: string | null,
    detail = "",
  ) {
    super(
      `Cannot ${operation} ${describeTarget(target)}: the registry answered HTTP ${status}` +
        (registryCode ? ` ${registryCode}` : "") + (detail ? ` (${detail})` : ""),
    );
    const mapped = STATUS_CODES.get(status);
    this.code = mapped?.code ?? "registry_http_error";
    this.kind = mapped?.kind ?? "failed";
  }
}

/** The registry could not be reached, or did not answer within the timeout. */
export class RegistryUnavailableError extends KilnError {
  readonly code = "registry_unavailable";
  readonly kind: ErrorKind;
  constructor(
    readonly target: RegistryTarget,
    readonly operation: string,
    detail: string,
    options?: ErrorOptions & { timedOut?: boolean },
  ) {
    super(`Cannot ${operation} ${describeTarget(target)}: ${detail}`, options);
    this.kind = options?.timedOut ? "timeout" : "unavailable";
  }
}

/** Content from a registry did not match its digest: the registry, a proxy or the storage altered it. */
export class RegistryDigestError extends KilnError {
  readonly code = "registry_digest_mismatch";
  readonly kind = "rejected";
  constructor(
    readonly target: RegistryTarget,
    readonly expected: string,
    readonly actual: string,
    what: string,
  ) {
    super(`Refused ${what} from ${describeTarget(target)}: expected digest "${expected}", got "${actual}"`);
  }
}

/** A manifest or blob is larger than the client accepts. */
export class RegistryTooLargeError extends KilnError {
  readonly code = "registry_too_large";
  readonly kind = "too_large";
  constructor(
    readonly target: RegistryTarget,
    what: string,
    readonly sizeBytes: number | null,
    readonly limitBytes: number,
  ) {
    super(
      `Refused ${what} from ${describeTarget(target)}: ` +
        (sizeBytes === null ? "it is" : `it is ${sizeBytes} bytes,`) + ` over the ${limitBytes}-byte limit`,
    );
  }
}

/** A registry answered something that is not what the Distribution or image spec allows, or not a module. */
export class RegistryProtocolError extends KilnError {
  readonly code = "registry_protocol_error";
  readonly kind = "failed";
  constructor(readonly target: RegistryTarget, detail: string) {
    super(`Unexpected answer from ${describeTarget(target)}: ${detail}`);
  }
}
