/**
 * MQTT topics: validation of names and filters (MQTT 3.1.1 §4.7), filter matching, and topic templates such
 * as `factory/{device}/{module}/telemetry` that the manifest uses to name a stream's topic.
 *
 * @module
 */
import { MqttTopicError, TopicTemplateError } from "./errors.ts";

/** Placeholders a template may use unless the caller names its own. */
export const TOPIC_PLACEHOLDERS: readonly string[] = ["device", "module", "stream", "channel", "connector"];

/** The longest topic, in UTF-8 bytes (MQTT 3.1.1 §4.7.3: a UTF-8 string of at most 65535 bytes). */
const MAX_TOPIC_BYTES = 65535;

const encoder = new TextEncoder();

/** Why `topic` is not a valid topic name or filter, or `null` when it is. */
function topicProblem(topic: string, kind: "name" | "filter"): string | null {
  if (topic.length === 0) return "a topic must be at least one character long (MQTT 3.1.1 §4.7.3)";
  if (topic.includes("\u0000")) return "a topic must not contain the null character (MQTT 3.1.1 §4.7.3)";
  if (!topic.isWellFormed()) return "a topic must be well-formed UTF-8 (MQTT 3.1.1 §1.5.3)";
  if (encoder.encode(topic).length > MAX_TOPIC_BYTES) {
    return `a topic is at most ${MAX_TOPIC_BYTES} bytes long (MQTT 3.1.1 §4.7.3)`;
  }
  const levels = topic.split("/");
  for (const [i, level] of levels.entries()) {
    if (kind === "name") {
      if (level.includes("+") || level.includes("#")) {
        return `a topic name must not contain the wildcards "+" or "#" (MQTT 3.1.1 §4.7.1)`;
      }
      continue;
    }
    if (level.includes("#") && (level !== "#" || i !== levels.length - 1)) {
      return `"#" must be a whole level and the last one, e.g. "plant/#" (MQTT 3.1.1 §4.7.1.2)`;
    }
    if (level.includes("+") && level !== "+") {
      return `"+" must be a whole level, e.g. "plant/+/temp" (MQTT 3.1.1 §4.7.1.3)`;
    }
  }
  return null;
}

/**
 * Checks a topic name, the topic of a PUBLISH: not empty, no wildcards, no null character, at most 65535 bytes.
 *
 * @throws {MqttTopicError} naming the topic and the rule it breaks.
 */
export function validateTopicName(topic: string): void {
  const problem = topicProblem(topic, "name");
  if (problem !== null) throw new MqttTopicError(topic, problem);
}

/**
 * Checks a topic filter, the topic of a SUBSCRIBE: `+` and `#` only as whole levels, `#` only last.
 *
 * @throws {MqttTopicError} naming the filter and the rule it breaks.
 */
export function validateTopicFilter(filter: string): void {
  const problem = topicProblem(filter, "filter");
  if (problem !== null) throw new MqttTopicError(filter, problem);
}

/**
 * True when `topic` (a topic name) matches `filter` (a valid filter), as a broker decides (MQTT 3.1.1 §4.7):
 * `+` matches one level, `#` the parent level and any below it, and a filter that starts with a wildcard
 * does not match topics starting with `$` (§4.7.2).
 *
 * @example
 * ```ts
 * import { topicMatches } from "./topics.ts";
 *
 * topicMatches("factory/+/cmd/#", "factory/gw1/cmd/reset"); // true
 * topicMatches("factory/#", "factory"); // true
 * topicMatches("#", "$SYS/broker/uptime"); // false
 * ```
 */
export function topicMatches(filter: string, topic: string): boolean {
  if (topic.startsWith("$") && (filter.startsWith("+") || filter.startsWith("#"))) return false;
  const f = filter.split("/");
  const t = topic.split("/");
  for (let i = 0; i < f.length; i++) {
    const level = f[i];
    if (level === "#") return true;
    if (i >= t.length) return false;
    if (level !== "+" && level !== t[i]) return false;
  }
  return f.length === t.length;
}

/** Options of {@linkcode parseTopicTemplate}. */
export interface TopicTemplateOptions {
  /**
   * `"name"` for a topic to publish to (no wildcards), `"filter"` for a subscription (`+` and `#` allowed).
   * @default {"name"}
   */
  readonly kind?: "name" | "filter";
  /** The placeholders the template may use. @default {TOPIC_PLACEHOLDERS} */
  readonly placeholders?: readonly string[];
}

/** A parsed, validated topic template. */
export interface TopicTemplate {
  /** The template as written. */
  readonly template: string;
  readonly kind: "name" | "filter";
  /** The placeholders it uses, in order of first use, without braces. */
  readonly placeholders: readonly string[];
  /**
   * The topic with every placeholder replaced by its value. A value must be one non-empty topic level:
   * no `/`, `+`, `#` or null character, so a device id cannot change the shape of the topic.
   *
   * @throws {TopicTemplateError} when a placeholder has no value or an unusable one.
   */
  expand(values: Readonly<Record<string, string>>): string;
}

type Part = { readonly text: string } | { readonly placeholder: string };

const PLACEHOLDER_NAME = /^[a-z_][a-z0-9_]*$/;

/**
 * Parses and validates a topic template: placeholders are `{name}`, the rest is literal; the template with
 * any value in place must be a valid topic name (or filter, with `kind: "filter"`).
 *
 * @example
 * ```ts
 * import { parseTopicTemplate } from "./topics.ts";
 *
 * const telemetry = parseTopicTemplate("factory/{device}/{module}/telemetry");
 * telemetry.expand({ device: "gw-01", module: "fft" }); // "factory/gw-01/fft/telemetry"
 * ```
 *
 * @throws {TopicTemplateError} naming the template: unknown placeholder, unmatched brace, wildcard in a
 * topic name, wildcard not a whole level in a filter.
 */
export function parseTopicTemplate(template: string, options: TopicTemplateOptions = {}): TopicTemplate {
  const kind = options.kind ?? "name";
  const known = options.placeholders ?? TOPIC_PLACEHOLDERS;
  const parts: Part[] = [];
  const used: string[] = [];
  let rest = template;
  while (rest.length > 0) {
    const open = rest.indexOf("{");
    const close = rest.indexOf("}");
    if (close !== -1 && (open === -1 || close < open)) {
      throw new TopicTemplateError(template, null, `"}" without a matching "{"`);
    }
    if (open === -1) {
      parts.push({ text: rest });
      break;
    }
    if (open > 0) parts.push({ text: rest.slice(0, open) });
    if (close === -1) throw new TopicTemplateError(template, null, `"{" without a matching "}"`);
    const name = rest.slice(open + 1, close);
    if (!PLACEHOLDER_NAME.test(name)) {
      throw new TopicTemplateError(
        template,
        name,
        `"{${name}}" is not a placeholder name (lower-case letters, digits and "_")`,
      );
    }
    if (!known.includes(name)) {
      const list = known.map((k) => `{${k}}`).join(", ");
      throw new TopicTemplateError(template, name, `unknown placeholder "{${name}}" (known: ${list})`);
    }
    parts.push({ placeholder: name });
    if (!used.includes(name)) used.push(name);
    rest = rest.slice(close + 1);
  }
  // Any valid value is one plain level, so "x" stands for all of them when checking the template's shape.
  const sample = parts.map((p) => "text" in p ? p.text : "x").join("");
  const problem = topicProblem(sample, kind);
  if (problem !== null) throw new TopicTemplateError(template, null, problem);

  return {
    template,
    kind,
    placeholders: used,
    expand(values) {
      const out = parts.map((p) => {
        if ("text" in p) return p.text;
        const value = Object.hasOwn(values, p.placeholder) ? values[p.placeholder] : undefined;
        if (value === undefined) {
          throw new TopicTemplateError(template, p.placeholder, `no value for "{${p.placeholder}}"`);
        }
        const bad = valueProblem(value);
        if (bad !== null) {
          throw new TopicTemplateError(
            template,
            p.placeholder,
            `the value "${value}" of "{${p.placeholder}}" ${bad}`,
          );
        }
        return value;
      }).join("");
      const problem = topicProblem(out, kind);
      if (problem !== null) throw new TopicTemplateError(template, null, `expanded to "${out}": ${problem}`);
      return out;
    },
  };
}

/** Why `value` cannot stand for a placeholder, or `null` when it can. */
function valueProblem(value: string): string | null {
  if (value.length === 0) return "is empty";
  if (value.includes("/")) return `contains "/" (a value must stay within one topic level)`;
  if (value.includes("+") || value.includes("#")) return `contains a wildcard ("+" or "#")`;
  if (value.includes("\u0000")) return "contains the null character";
  return null;
}

/**
 * Parses `template` and expands it at once; see {@linkcode parseTopicTemplate}.
 *
 * @throws {TopicTemplateError} when the template is invalid or a value is missing or unusable.
 */
export function expandTopic(
  template: string,
  values: Readonly<Record<string, string>>,
  options: TopicTemplateOptions = {},
): string {
  return parseTopicTemplate(template, options).expand(values);
}
