/**
 * The stream's topics and subscriptions: the roots every topic starts with, a subscription's pattern and the
 * topics it matches, and the check of a pattern a client asks for.
 *
 * @module
 */
/** The first segment of every topic the feed publishes; subscriptions must start with one (or `*`, `#`). */
export const STREAM_TOPIC_ROOTS = [
  "outputs",
  "arrays",
  "metrics",
  "logs",
  "messages",
  "alerts",
  "status",
  "health",
  "traces",
  "gateway",
] as const;

const SEGMENT = /^[a-z0-9_.-]{1,63}$/;
const MAX_PATTERN_LENGTH = 128;

/** A topic filter: `/`-separated segments, `*` matches one segment, a last `#` matches the rest (or none). */
export class Pattern {
  readonly #segments: string[];
  constructor(readonly source: string) {
    this.#segments = source.split("/");
  }

  /** Whether it matches a topic, given as its `/`-separated segments. */
  matches(topic: string[]): boolean {
    const p = this.#segments;
    for (let i = 0; i < p.length; i++) {
      if (p[i] === "#") return true;
      if (i >= topic.length || (p[i] !== "*" && p[i] !== topic[i])) return false;
    }
    return p.length === topic.length;
  }
}

/** Why `pattern` is not a valid subscription, or null. */
export function patternProblem(pattern: string): string | null {
  if (pattern.length > MAX_PATTERN_LENGTH) return `is longer than ${MAX_PATTERN_LENGTH} characters`;
  const segments = pattern.split("/");
  for (const [i, s] of segments.entries()) {
    if (s === "#" && i !== segments.length - 1) return `has "#" before its last segment`;
    if (s !== "*" && s !== "#" && !SEGMENT.test(s)) {
      return `has a bad segment ${
        JSON.stringify(s)
      }: use lowercase letters, digits, "_", "-", ".", "*" or "#"`;
    }
  }
  const root = segments[0]!;
  if (root !== "*" && root !== "#" && !(STREAM_TOPIC_ROOTS as readonly string[]).includes(root)) {
    return `is not a stream topic: it must start with one of ${STREAM_TOPIC_ROOTS.join(", ")}`;
  }
  return null;
}
