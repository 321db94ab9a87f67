/**
 * Semantic versions (semver.org 2.0.0) through npm's own `semver` package, typed by `@types/semver`.
 *
 * @module
 */
// @deno-types="@types/semver"
import semver from "semver";

/** `version` in its canonical form, or `null` when it is not a semantic version (`v1.0` is not; `1.0.0` is). */
export function valid(version: string): string | null {
  return semver.valid(version);
}

/**
 * Compares two valid semantic versions by precedence (semver.org §11: build metadata is ignored,
 * a pre-release is lower than its release): negative when `a` is lower, 0 when equal, positive when higher.
 */
export function compare(a: string, b: string): number {
  return semver.compare(a, b);
}
