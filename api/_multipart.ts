/**
 * Multipart bodies shared by the routes that take a module (deploy, shadow).
 *
 * @module
 */
import type { Context } from "hono";
import { BadRequestError } from "./errors.ts";

/** A parsed multipart body: every part, and the first value of a field. */
export interface MultipartForm {
  /** Every part by field name (a repeated field as a list). */
  readonly all: Record<string, string | File | (string | File)[]>;
  /** The first value of field `name`, or undefined. */
  field(name: string): string | File | undefined;
}

/**
 * Parses a `multipart/form-data` body.
 *
 * @throws {BadRequestError} when the body is not one.
 */
export async function multipartForm(c: Context): Promise<MultipartForm> {
  let all: Record<string, string | File | (string | File)[]>;
  try {
    all = await c.req.parseBody({ all: true });
  } catch (err) {
    throw new BadRequestError(`Expected a multipart/form-data body: ${(err as Error).message}`);
  }
  return {
    all,
    field(name) {
      if (!Object.hasOwn(all, name)) return undefined;
      const v = all[name];
      return Array.isArray(v) ? v[0] : v;
    },
  };
}
