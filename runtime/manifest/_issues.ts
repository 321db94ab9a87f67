/**
 * Turns zod issues into manifest issues with messages a user can act on:
 * `expected a number, got a string ("4 MB")`, `must be at most 25600, got 30000`, `unknown key "widow"; did
 * you mean "window"?`.
 *
 * @module
 */
import type { z } from "zod";
import type { PathSegment, RawIssue } from "./_document.ts";
import { KEY_MESSAGE_SEPARATOR } from "./schema.ts";

/**
 * The per-parse zod error map: the default message for every issue whose schema gives none. Schema-level
 * messages (a regex's explanation, an object's unknown keys) take precedence over it.
 */
export const errorMap: z.core.$ZodErrorMap = (issue) => {
  const input = issue.input;
  switch (issue.code) {
    case "invalid_type":
      if (input === undefined) return "required key is missing";
      return `expected ${typeName(issue.expected)}, got ${describe(input)}`;
    case "too_small":
    case "too_big":
      return sizeMessage(issue);
    case "invalid_value": {
      const values = issue.values.map((v) => JSON.stringify(v));
      const expected = values.length === 1 ? values[0] : `one of ${values.join(", ")}`;
      return input === undefined
        ? `required key is missing (expected ${expected})`
        : `expected ${expected}, got ${quote(input)}`;
    }
    case "invalid_format":
      return `${describe(input)} is not a valid ${issue.format}`;
    case "unrecognized_keys":
      return issue.keys.map((key) => `unknown key "${key}"`).join(KEY_MESSAGE_SEPARATOR);
    case "invalid_union":
      return input === undefined ? "required key is missing" : `${describe(input)} is not valid here`;
    case "not_multiple_of":
      return `must be a multiple of ${issue.divisor}`;
    default:
      return undefined;
  }
};

/**
 * Converts zod's issues to raw manifest issues: one per unknown key, record keys by their own message.
 * `data` is the validated input, to name the value a union's discriminator actually had.
 */
export function fromZodIssues(issues: readonly z.core.$ZodIssue[], data: unknown): RawIssue[] {
  const out: RawIssue[] = [];
  for (const issue of issues) {
    const path = issue.path.filter((s): s is PathSegment => typeof s !== "symbol");
    switch (issue.code) {
      case "unrecognized_keys": {
        const messages = issue.message.split(KEY_MESSAGE_SEPARATOR);
        issue.keys.forEach((key, i) => {
          // The document reports a "__proto__" key wherever it is (`_document.ts`): once is enough.
          if (key !== "__proto__") out.push({ path: [...path, key], message: messages[i] ?? `unknown key` });
        });
        break;
      }
      case "invalid_key":
        // The key itself is wrong (a module name with capitals, a reserved param): its own message says how.
        for (const inner of issue.issues) out.push({ path, message: inner.message });
        break;
      case "invalid_union": {
        // A discriminated union reports at the discriminator's path, with the whole object as its input.
        const value = "discriminator" in issue ? valueAt(data, path) : issue.input;
        if (value === undefined) {
          const message = issue.message.startsWith("required")
            ? issue.message
            : `required key is missing; ${issue.message}`;
          out.push({ path, message });
        } else {
          out.push({ path, message: `${issue.message}, got ${quote(value)}` });
        }
        break;
      }
      case "invalid_format":
        out.push({ path, message: `${issue.message}, got ${quote(issue.input)}` });
        break;
      default:
        out.push({ path, message: issue.message });
    }
  }
  return out;
}

/** A value as a message names it: `a string ("4 MB")`, `1.5`, `a list`, `an empty value`. */
export function describe(value: unknown): string {
  if (value === undefined) return "nothing";
  if (value === null) return "an empty value";
  if (typeof value === "string") {
    const shown = value.length > 40 ? `${value.slice(0, 37)}...` : value;
    return `a string (${JSON.stringify(shown)})`;
  }
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  if (Array.isArray(value)) return "a list";
  if (typeof value === "object") return "a mapping";
  return typeof value;
}

/** A value where a string of some format was expected: `"GW 1"`, or as {@linkcode describe} names it. */
function quote(value: unknown): string {
  return typeof value === "string"
    ? JSON.stringify(value.length > 40 ? `${value.slice(0, 37)}...` : value)
    : describe(value);
}

function valueAt(data: unknown, path: readonly PathSegment[]): unknown {
  let value = data;
  for (const segment of path) {
    if (typeof value !== "object" || value === null) return undefined;
    // Own keys only: a path names what the document holds, never a member of Object.prototype.
    value = Object.hasOwn(value, segment) ? (value as Record<PathSegment, unknown>)[segment] : undefined;
  }
  return value;
}

const TYPE_NAMES: Record<string, string> = {
  number: "a number",
  int: "an integer",
  string: "a string",
  boolean: "true or false",
  object: "a mapping",
  record: "a mapping",
  map: "a mapping",
  array: "a list",
};

function typeName(expected: string): string {
  return TYPE_NAMES[expected] ?? expected;
}

function sizeMessage(issue: z.core.$ZodRawIssue<z.core.$ZodIssueTooSmall | z.core.$ZodIssueTooBig>): string {
  const small = issue.code === "too_small";
  const bound = Number(
    small ? (issue as { minimum: number | bigint }).minimum : (issue as { maximum: number | bigint }).maximum,
  );
  const inclusive = issue.inclusive ?? true;
  switch (issue.origin) {
    case "string":
      if (small && bound === 1) return "must not be empty";
      return `must be ${small ? "at least" : "at most"} ${bound} characters long`;
    case "array":
    case "set":
      if (small && bound === 1) return "must not be empty";
      return `must have ${small ? "at least" : "at most"} ${bound} items`;
    default: {
      const relation = small
        ? (inclusive ? "at least" : "greater than")
        : (inclusive ? "at most" : "less than");
      return `must be ${relation} ${bound}, got ${describe(issue.input)}`;
    }
  }
}
