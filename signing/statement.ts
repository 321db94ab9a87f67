/**
 * The signed payload: an in-toto Statement v1 (github.com/in-toto/attestation, `spec/v1/statement.md`) whose
 * subject is the module (its name and SHA-256) and whose predicate is Kiln's module attestation: how the
 * module was built and what the catalog says of it. Validated with zod; an invalid one is reported with the
 * path of what is wrong (`predicate.catalog.version`).
 *
 * @module
 */
import { z } from "zod";
import { valid as validSemver } from "./_semver.ts";

/** The in-toto Statement type, v1. */
export const STATEMENT_TYPE = "https://in-toto.io/Statement/v1";

/** Kiln's predicate type: the module attestation, version 1. */
export const KILN_PREDICATE_TYPE = "https://kiln.dev/attestation/module/v1";

/** Most subjects one statement may name. */
export const MAX_SUBJECTS = 16;
/** Most capabilities one attestation may list. */
export const MAX_CAPABILITIES = 256;

const text = (max: number) => z.string().min(1).max(max);
const semver = text(64).refine((v) => validSemver(v) === v, {
  message: "expected a semantic version such as 1.4.0 (semver.org)",
});
const url = text(2048).refine((v) => /^https?:\/\/[^\s]+$/.test(v), { message: "expected an http(s) URL" });

/**
 * A capability as a manifest writes it, `operation:type:resource` (`write:gpio:pin_9`,
 * `write:mqtt:plant/#`). Only its shape is checked here; the runtime parses it.
 */
export const CAPABILITY_SHAPE = /^(read|write|use):[a-z0-9*]{1,16}:\S{1,240}$/;

/** The `build` part of the predicate: the seed's build attestation. */
export const BuildSchema = z.strictObject({
  /** The compiler and its version, e.g. `clang 19.1.7`. */
  compiler: text(200),
  /** The Wasm backend, e.g. `wasm32-wasip1`, `llvm`. */
  wasm_backend: text(200),
  /** Where the source lives, e.g. `https://git.plant.example/controls/fft`. */
  source_repository: text(512),
  /** The commit built: a git object id, 7 to 64 hex digits. */
  commit: z.string().regex(/^[0-9a-f]{7,64}$/, "expected a git commit id (7 to 64 lowercase hex digits)"),
  /** Where the build's own attestation (provenance) can be read. */
  attestation_url: url,
});

/** The `catalog` part of the predicate: what a gateway checks before it runs the module. */
export const CatalogSchema = z.strictObject({
  /** The module's version, semver. */
  version: semver,
  /** Hardware tags the module runs on; the gateway's tag must be one of them. */
  hardware: z.array(z.string().regex(/^[a-z0-9][a-z0-9._-]{0,62}$/, "expected a hardware tag such as arm64"))
    .min(1).max(32),
  /** The oldest Kiln runtime that runs it, semver. */
  min_runtime_version: semver,
  /** Capabilities the module may be granted, as a manifest writes them. */
  capabilities: z.array(
    z.string().regex(CAPABILITY_SHAPE, 'expected "operation:type:resource", e.g. "write:gpio:pin_9"'),
  ).max(MAX_CAPABILITIES),
  /** The most linear memory it may be given, MiB. */
  max_memory_mb: z.number().int().min(1).max(65536),
});

/** Kiln's predicate: `build` and `catalog`. */
export const PredicateSchema = z.strictObject({ build: BuildSchema, catalog: CatalogSchema });

/** The in-toto Statement v1 with Kiln's predicate. */
export const StatementSchema = z.object({
  _type: z.literal(STATEMENT_TYPE),
  subject: z.array(z.object({
    name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/, "expected a module name"),
    digest: z.object({ sha256: z.string().regex(/^[0-9a-f]{64}$/, "expected 64 lowercase hex digits") }),
  })).min(1).max(MAX_SUBJECTS),
  predicateType: z.literal(KILN_PREDICATE_TYPE),
  predicate: PredicateSchema,
});

/** Kiln's predicate. */
export type ModuleAttestation = z.infer<typeof PredicateSchema>;
/** The build facts. */
export type BuildFacts = z.infer<typeof BuildSchema>;
/** The catalog facts. */
export type CatalogFacts = z.infer<typeof CatalogSchema>;
/** A Statement with Kiln's predicate. */
export type Statement = z.infer<typeof StatementSchema>;

/** The first problem of a zod validation, as `path: message` (`predicate.catalog.version: expected ...`). */
export type Validation<T> = { ok: true; value: T } | { ok: false; problem: string };

function firstProblem(error: z.ZodError, prefix: string): string {
  const issue = error.issues[0];
  if (!issue) return `${prefix || "(root)"}: invalid`;
  const path = [prefix, ...issue.path.map((p) => typeof p === "number" ? `[${p}]` : String(p))]
    .filter((p) => p !== "").join(".").replaceAll(".[", "[");
  return `${path || "(root)"}: ${issue.message}`;
}

/** Validates a parsed Statement; a problem names its path from `prefix` (e.g. `payload`). */
export function validateStatement(value: unknown, prefix = ""): Validation<Statement> {
  const r = StatementSchema.safeParse(value);
  return r.success ? { ok: true, value: r.data } : { ok: false, problem: firstProblem(r.error, prefix) };
}

/** Validates an attestation (`{ build, catalog }`), as `kiln sign --attest` reads it. */
export function validateAttestation(value: unknown, prefix = ""): Validation<ModuleAttestation> {
  const r = PredicateSchema.safeParse(value);
  return r.success ? { ok: true, value: r.data } : { ok: false, problem: firstProblem(r.error, prefix) };
}

/** A Statement with one subject, the module `name` of SHA-256 `sha256`, and `attestation` as predicate. */
export function createStatement(name: string, sha256: string, attestation: ModuleAttestation): Statement {
  return {
    _type: STATEMENT_TYPE,
    subject: [{ name, digest: { sha256 } }],
    predicateType: KILN_PREDICATE_TYPE,
    predicate: attestation,
  };
}
