/**
 * The rollback-condition language: a boolean expression over one device's reported figures for the module
 * being rolled out, e.g. `crash_rate > 0.1% or p99_ms > 15`. A rollout breaches on a device when its condition
 * is true there.
 *
 * Grammar (keywords and identifiers are case-sensitive, lowercase):
 *
 * ```
 * condition  := or
 * or         := and ("or" and)*
 * and        := not ("and" not)*
 * not        := "not" not | "(" or ")" | comparison
 * comparison := operand ("<" | "<=" | ">" | ">=" | "==" | "!=") operand
 * operand    := IDENT | NUMBER [ "%" | "ms" | "us" ]
 * ```
 *
 * `%` divides by 100. `ms`/`us` are allowed only against a time identifier (`p99_ms`, `p99_us`) and are
 * converted to that identifier's unit, so `p99_us > 15ms` is `p99_us > 15000`. A comparison must have at
 * least one identifier. Written by hand rather than with a parser library: the grammar is six rules, and a
 * library would cost a dependency for less precise error positions.
 *
 * @module
 */
import { ConditionSyntaxError } from "./errors.ts";
import type { ModuleFigures, ReportedShadow } from "../runtime/fleet/protocol.ts";

/** The unit family of an identifier. */
type Dimension = "ratio" | "ms" | "us" | "count" | "flag";

/**
 * The identifiers a condition may use, their meaning and unit. The values come from the device's reported
 * state for the rolled-out module ({@linkcode ConditionInput}).
 */
export const IDENTIFIERS: ReadonlyMap<string, { readonly dimension: Dimension; readonly doc: string }> =
  new Map(
    [
      ["invocations", { dimension: "count", doc: "handler invocations since the module started" }],
      ["errors", { dimension: "count", doc: "invocations that returned an error" }],
      ["crashes", { dimension: "count", doc: "traps + watchdog kills since the module started" }],
      ["crash_rate", { dimension: "ratio", doc: "crashes / invocations (0 before the first invocation)" }],
      ["error_rate", { dimension: "ratio", doc: "errors / invocations (0 before the first invocation)" }],
      ["p99_us", { dimension: "us", doc: "99th percentile handler time, microseconds" }],
      ["p99_ms", { dimension: "ms", doc: "99th percentile handler time, milliseconds (p99_us / 1000)" }],
      ["budget_overruns", { dimension: "count", doc: "invocations over their time budget" }],
      ["rolled_back", { dimension: "flag", doc: "1 when the device rolled the new version back by itself" }],
      ["not_running", { dimension: "flag", doc: "1 when the module is reported but not in state running" }],
      ["shadow_invocations", {
        dimension: "count",
        doc: "invocations the shadow compared (after its warm-up)",
      }],
      ["shadow_diverged", { dimension: "count", doc: "compared invocations where the candidate diverged" }],
      [
        "shadow_divergence_rate",
        { dimension: "ratio", doc: "shadow_diverged / shadow_invocations (0 before the first)" },
      ],
      [
        "shadow_max_difference",
        { dimension: "count", doc: "the largest difference on any output (Infinity when not comparable)" },
      ],
      [
        "shadow_time_ratio",
        {
          dimension: "ratio",
          doc: "the candidate's mean time per call / the live version's (0 before both)",
        },
      ],
    ],
  );

/** The values a condition is evaluated over, by identifier (every {@linkcode IDENTIFIERS} key). */
export type ConditionInput = Readonly<Record<string, number>>;

/** A comparison operator. */
export type Operator = "<" | "<=" | ">" | ">=" | "==" | "!=";

/** A parsed condition. */
export type ConditionNode =
  | { readonly type: "or" | "and"; readonly left: ConditionNode; readonly right: ConditionNode }
  | { readonly type: "not"; readonly operand: ConditionNode }
  | { readonly type: "compare"; readonly op: Operator; readonly left: Operand; readonly right: Operand };

/** One side of a comparison: an identifier or a number already converted to the other side's unit. */
export type Operand = { readonly type: "ident"; readonly name: string } | {
  readonly type: "number";
  readonly value: number;
};

/** A compiled condition: its source, tree and the identifiers it reads. */
export interface Condition {
  readonly source: string;
  readonly ast: ConditionNode;
  /** The identifiers used, in order of first use. */
  readonly identifiers: readonly string[];
}

type Token =
  | { kind: "ident"; text: string; pos: number }
  | { kind: "number"; value: number; unit: "" | "%" | "ms" | "us"; pos: number; text: string }
  | { kind: "op"; text: Operator; pos: number }
  | { kind: "paren"; text: "(" | ")"; pos: number }
  | { kind: "end"; pos: number };

const MAX_SOURCE_CHARS = 1000;

function describe(t: Token): string {
  if (t.kind === "end") return "the end";
  if (t.kind === "number") return `"${t.text}"`;
  return `"${t.text}"`;
}

function tokenize(source: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < source.length) {
    const c = source[i]!;
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    if (c === "(" || c === ")") {
      tokens.push({ kind: "paren", text: c, pos: i++ });
      continue;
    }
    const op = /^(<=|>=|==|!=|<|>)/.exec(source.slice(i, i + 2));
    if (op) {
      tokens.push({ kind: "op", text: op[1] as Operator, pos: i });
      i += op[1]!.length;
      continue;
    }
    const num = /^(\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)(%|ms\b|us\b)?/.exec(source.slice(i));
    if (num) {
      const unit = (num[2] ?? "") as "" | "%" | "ms" | "us";
      tokens.push({ kind: "number", value: Number(num[1]), unit, pos: i, text: num[0] });
      i += num[0].length;
      continue;
    }
    const ident = /^[a-z_][a-z0-9_]*/.exec(source.slice(i));
    if (ident) {
      tokens.push({ kind: "ident", text: ident[0], pos: i });
      i += ident[0].length;
      continue;
    }
    throw new ConditionSyntaxError(
      source,
      i,
      "an identifier, a number, an operator or a parenthesis",
      `"${c}"`,
    );
  }
  tokens.push({ kind: "end", pos: source.length });
  return tokens;
}

/**
 * Parses a rollback condition.
 *
 * @example
 * ```ts
 * const c = parseCondition("crash_rate > 0.1% or p99_ms > 15");
 * evaluateCondition(c, { ...zeros, crash_rate: 0.002 }); // true
 * ```
 * @throws {ConditionSyntaxError} naming the position and what was expected (an unknown identifier, a unit
 *   against an identifier of another unit, a comparison of two numbers, a missing parenthesis...).
 */
export function parseCondition(source: string): Condition {
  if (source.length > MAX_SOURCE_CHARS) {
    throw new ConditionSyntaxError(
      source.slice(0, 40) + "…",
      MAX_SOURCE_CHARS,
      "at most 1000 characters",
      "more",
    );
  }
  const tokens = tokenize(source);
  let at = 0;
  const used: string[] = [];
  const peek = () => tokens[at]!;
  const fail = (expected: string): never => {
    throw new ConditionSyntaxError(source, peek().pos, expected, describe(peek()));
  };
  const isKeyword = (word: string) => {
    const t = peek();
    return t.kind === "ident" && t.text === word;
  };

  const parseOr = (): ConditionNode => {
    let left = parseAnd();
    while (isKeyword("or")) {
      at++;
      left = { type: "or", left, right: parseAnd() };
    }
    return left;
  };
  const parseAnd = (): ConditionNode => {
    let left = parseNot();
    while (isKeyword("and")) {
      at++;
      left = { type: "and", left, right: parseNot() };
    }
    return left;
  };
  const parseNot = (): ConditionNode => {
    if (isKeyword("not")) {
      at++;
      return { type: "not", operand: parseNot() };
    }
    const t = peek();
    if (t.kind === "paren" && t.text === "(") {
      at++;
      const inner = parseOr();
      const close = peek();
      if (close.kind !== "paren" || close.text !== ")") {
        fail(`")" to close the "(" at character ${t.pos + 1}`);
      }
      at++;
      return inner;
    }
    return parseComparison();
  };
  type Raw = { kind: "ident"; name: string; dimension: Dimension; pos: number } | {
    kind: "number";
    value: number;
    unit: "" | "%" | "ms" | "us";
    pos: number;
  };
  const parseOperand = (): Raw => {
    const t = peek();
    if (t.kind === "ident" && !["and", "or", "not"].includes(t.text)) {
      const info = IDENTIFIERS.get(t.text);
      if (info === undefined) fail(`an identifier (one of ${[...IDENTIFIERS.keys()].join(", ")})`);
      at++;
      if (!used.includes(t.text)) used.push(t.text);
      return { kind: "ident", name: t.text, dimension: info!.dimension, pos: t.pos };
    }
    if (t.kind === "number") {
      at++;
      return { kind: "number", value: t.value, unit: t.unit, pos: t.pos };
    }
    return fail('an identifier, a number or "("');
  };
  const convert = (n: Raw & { kind: "number" }, other: Raw): Operand => {
    if (n.unit === "%") return { type: "number", value: n.value / 100 };
    if (n.unit === "") return { type: "number", value: n.value };
    if (other.kind !== "ident" || (other.dimension !== "ms" && other.dimension !== "us")) {
      throw new ConditionSyntaxError(
        source,
        n.pos,
        `a unit "${n.unit}" only against p99_ms or p99_us`,
        `"${n.value}${n.unit}"`,
      );
    }
    const us = n.unit === "ms" ? n.value * 1000 : n.value;
    return { type: "number", value: other.dimension === "ms" ? us / 1000 : us };
  };
  const parseComparison = (): ConditionNode => {
    const left = parseOperand();
    const t = peek();
    if (t.kind !== "op") return fail("a comparison operator (<, <=, >, >=, ==, !=)");
    at++;
    const right = parseOperand();
    if (left.kind === "number" && right.kind === "number") {
      throw new ConditionSyntaxError(
        source,
        left.pos,
        "an identifier on one side of the comparison",
        "two numbers",
      );
    }
    const side = (r: Raw, other: Raw): Operand =>
      r.kind === "ident" ? { type: "ident", name: r.name } : convert(r, other);
    return { type: "compare", op: t.text, left: side(left, right), right: side(right, left) };
  };

  if (peek().kind === "end") fail("a condition");
  const ast = parseOr();
  if (peek().kind !== "end") fail(`"and", "or" or the end`);
  return { source, ast, identifiers: used };
}

function value(o: Operand, input: ConditionInput): number {
  return o.type === "number" ? o.value : (Object.hasOwn(input, o.name) ? input[o.name]! : 0);
}

/** Evaluates a condition over one device's values; an identifier missing from `input` reads 0. */
export function evaluateCondition(condition: Condition, input: ConditionInput): boolean {
  const walk = (n: ConditionNode): boolean => {
    switch (n.type) {
      case "or":
        return walk(n.left) || walk(n.right);
      case "and":
        return walk(n.left) && walk(n.right);
      case "not":
        return !walk(n.operand);
      case "compare": {
        const a = value(n.left, input);
        const b = value(n.right, input);
        switch (n.op) {
          case "<":
            return a < b;
          case "<=":
            return a <= b;
          case ">":
            return a > b;
          case ">=":
            return a >= b;
          case "==":
            return a === b;
          case "!=":
            return a !== b;
        }
      }
    }
  };
  return walk(condition.ast);
}

/** The figures of a reported module, as the condition's identifiers (a null-prototype object). */
export function conditionInput(
  figures: ModuleFigures,
  flags: { rolledBack: boolean; running: boolean },
  shadow: ReportedShadow | null = null,
): ConditionInput {
  const input: Record<string, number> = Object.create(null);
  input.invocations = figures.invocations;
  input.errors = figures.errors;
  input.crashes = figures.crashes;
  input.crash_rate = figures.invocations === 0 ? 0 : figures.crashes / figures.invocations;
  input.error_rate = figures.error_rate;
  input.p99_us = figures.p99_us;
  input.p99_ms = figures.p99_us / 1000;
  input.budget_overruns = figures.budget_overruns;
  input.rolled_back = flags.rolledBack ? 1 : 0;
  input.not_running = flags.running ? 0 : 1;
  const compared = shadow?.invocations ?? 0;
  input.shadow_invocations = compared;
  input.shadow_diverged = shadow?.diverged ?? 0;
  input.shadow_divergence_rate = compared === 0 ? 0 : shadow!.diverged / compared;
  input.shadow_max_difference = shadow === null ? 0 : shadow.max_difference ?? Infinity;
  const live = shadow?.live_mean_us ?? null, candidate = shadow?.candidate_mean_us ?? null;
  input.shadow_time_ratio = live === null || candidate === null || live <= 0 ? 0 : candidate / live;
  return input;
}
