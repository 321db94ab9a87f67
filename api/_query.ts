/**
 * Query-string parsing shared by the routes.
 *
 * @module
 */
import type { Context } from "hono";
import { BadRequestError } from "./errors.ts";

/**
 * The query parameter `name` as a non-negative integer, `fallback` when it is absent.
 *
 * @throws {BadRequestError} when it is present but not a non-negative integer.
 */
export function queryCount(c: Context, name: string, fallback: number): number {
  const raw = c.req.query(name);
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (raw.trim() === "" || !Number.isInteger(n) || n < 0) {
    throw new BadRequestError(`Query parameter "${name}" must be a non-negative integer, got "${raw}"`);
  }
  return n;
}
