/**
 * Errors of manifest loading: an invalid manifest (every issue at once, each with its path and line) and a
 * manifest file that cannot be read.
 *
 * @module
 */
import { KilnError } from "../../errors.ts";

/**
 * What makes an issue a refusal by the device policy's limits, for clients that act on it: which limit, what
 * the manifest asks for and what the policy allows.
 */
export interface PolicyLimitDetail {
  /**
   * `policy_limit_exceeded`: a value past one of `policy`'s limits (`max_priority`, `max_budget_us`, ...).
   * `realtime_not_granted`: a module placed on the `realtime` executor without `use:executor:realtime`.
   */
  readonly code: "policy_limit_exceeded" | "realtime_not_granted";
  /** The limit, e.g. `policy.max_priority`, or the capability `use:executor:realtime`. */
  readonly limit: string;
  /** What the manifest asks for, e.g. `99`, or `"realtime"` (the executor). */
  readonly requested: number | string;
  /** What the policy allows, e.g. `90`, or `"normal"` (the executor a module gets without the grant). */
  readonly allowed: number | string;
}

/** One problem in a manifest. */
export interface ManifestIssue extends Partial<PolicyLimitDetail> {
  /** Dotted path of the offending key, e.g. `modules.fft.capabilities[1]`; `""` for the whole document. */
  readonly path: string;
  /** Sentence-case description, e.g. `expected a number, got a string ("4 MB")`. */
  readonly message: string;
  /** 1-based line in the source, when known. */
  readonly line?: number;
  /** 1-based column in the source, when known. */
  readonly column?: number;
}

/**
 * Formats one issue the way the CLI prints it: `modules.fft.wasm: expected a string (line 12)`. Issues of the
 * whole document (YAML syntax errors) also give the column.
 */
export function formatIssue(issue: ManifestIssue): string {
  const column = issue.path === "" && issue.column !== undefined ? `, column ${issue.column}` : "";
  const where = issue.line === undefined ? "" : ` (line ${issue.line}${column})`;
  return issue.path === "" ? `${issue.message}${where}` : `${issue.path}: ${issue.message}${where}`;
}

/**
 * A manifest failed to parse or validate. `message` is already the text a CLI prints: a first line naming the
 * file and the number of issues, then one indented issue per line, in source order.
 */
export class ManifestError extends KilnError {
  readonly code = "manifest_invalid";
  readonly kind = "rejected";
  /**
   * @param issues Every problem found, in source order.
   * @param file The manifest's file name as given, or `null` for text that came from elsewhere (the API).
   */
  constructor(
    readonly issues: readonly ManifestIssue[],
    readonly file: string | null,
    options?: ErrorOptions,
  ) {
    const count = issues.length === 1 ? "1 issue" : `${issues.length} issues`;
    const name = file === null ? "Invalid manifest" : `Invalid manifest "${file}"`;
    super(`${name} (${count}):\n${issues.map((issue) => `  ${formatIssue(issue)}`).join("\n")}`, options);
  }
}

/** The manifest file does not exist. */
export class ManifestNotFoundError extends KilnError {
  readonly code = "manifest_not_found";
  readonly kind = "not_found";
  /** @param file The manifest's file name as given. */
  constructor(readonly file: string, options?: ErrorOptions) {
    super(`Cannot load manifest "${file}": the file does not exist`, options);
  }
}

/** The manifest file exists but cannot be read (a directory, no permission, not UTF-8). */
export class ManifestReadError extends KilnError {
  readonly code = "manifest_unreadable";
  readonly kind = "invalid";
  /**
   * @param file The manifest's file name as given.
   * @param reason Why it cannot be read, e.g. `it is a directory`.
   */
  constructor(readonly file: string, readonly reason: string, options?: ErrorOptions) {
    super(`Cannot load manifest "${file}": ${reason}`, options);
  }
}
