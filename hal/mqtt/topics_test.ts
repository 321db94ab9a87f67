import assert from "node:assert/strict";
import { MqttTopicError, TopicTemplateError } from "./errors.ts";
import {
  expandTopic,
  parseTopicTemplate,
  topicMatches,
  validateTopicFilter,
  validateTopicName,
} from "./topics.ts";

function templateError(placeholder: string | null, template: string) {
  return (err: unknown) =>
    err instanceof TopicTemplateError && err.code === "mqtt_topic_template_invalid" &&
    err.template === template && err.placeholder === placeholder && err.message.includes(`"${template}"`);
}

Deno.test("a topic template expands its placeholders into one topic level each", () => {
  const t = parseTopicTemplate("factory/{device}/{module}/telemetry");
  assert.deepEqual(t.placeholders, ["device", "module"]);
  assert.equal(t.expand({ device: "gw-01", module: "fft" }), "factory/gw-01/fft/telemetry");
  assert.equal(expandTopic("kiln/{device}-{stream}", { device: "gw", stream: "vib_1" }), "kiln/gw-vib_1");
  assert.equal(expandTopic("{device}/x/{device}", { device: "a" }), "a/x/a");
  assert.equal(expandTopic("plain/topic", {}), "plain/topic");
  assert.equal(
    expandTopic("factory/{device}/cmd/#", { device: "gw" }, { kind: "filter" }),
    "factory/gw/cmd/#",
  );
  assert.equal(expandTopic("site/{site}", { site: "a" }, { placeholders: ["site"] }), "site/a");
});

Deno.test("a malformed topic template is refused with an error naming the template", async (t) => {
  const cases: [string, string, string | null, Parameters<typeof parseTopicTemplate>[1]?][] = [
    ["an unknown placeholder", "factory/{dev}/x", "dev"],
    ["a placeholder unknown to the caller's list", "factory/{device}/x", "device", {
      placeholders: ["site"],
    }],
    ["a placeholder that is not a name", "factory/{Device}/x", "Device"],
    ["an empty placeholder", "factory/{}/x", ""],
    ["an unmatched {", "factory/{device/x", null],
    ["an unmatched }", "factory/device}/x", null],
    ["a wildcard + in a topic name", "factory/+/{device}", null],
    ["a wildcard # in a topic name", "factory/{device}/#", null],
    ["a # that is not the last level of a filter", "factory/#/{device}", null, { kind: "filter" }],
    ["a + that shares a level with a placeholder", "factory/{device}+/x", null, { kind: "filter" }],
    ["an empty template", "", null],
  ];
  for (const [what, template, placeholder, options] of cases) {
    await t.step(what, () => {
      assert.throws(() => parseTopicTemplate(template, options), templateError(placeholder, template));
    });
  }
});

Deno.test("expanding a template refuses missing values and values that would change the topic's shape", async (t) => {
  const template = "factory/{device}/{module}/telemetry";
  const telemetry = parseTopicTemplate(template);
  const cases: [string, Record<string, string>, string][] = [
    ["a missing value", { device: "gw" }, "module"],
    ["an empty value", { device: "", module: "fft" }, "device"],
    ["a value with a /", { device: "line/1", module: "fft" }, "device"],
    ["a value with +", { device: "gw", module: "+" }, "module"],
    ["a value with #", { device: "#", module: "fft" }, "device"],
    ["a value with a null character", { device: "g\u0000w", module: "fft" }, "device"],
  ];
  for (const [what, values, placeholder] of cases) {
    await t.step(what, () => {
      assert.throws(() => telemetry.expand(values), templateError(placeholder, template));
    });
  }
  await t.step("inherited properties are not values", () => {
    assert.throws(() => parseTopicTemplate("x/{constructor}", { placeholders: ["constructor"] }).expand({}));
  });
});

Deno.test("topic names and filters follow MQTT 3.1.1 section 4.7", async (t) => {
  const invalid = (topic: string) => (err: unknown) =>
    err instanceof MqttTopicError && err.code === "mqtt_topic_invalid" && err.topic === topic;
  await t.step("valid names", () => {
    for (const name of ["a", "/", "a/b/c", "a//b", "$SYS/x", "ü/ä", "a b"]) validateTopicName(name);
  });
  await t.step("invalid names", () => {
    for (const name of ["", "a/+", "a/#", "a+b", "a\u0000b", "x".repeat(65536), "\ud800"]) {
      assert.throws(() => validateTopicName(name), invalid(name));
    }
  });
  await t.step("valid filters", () => {
    for (const filter of ["#", "+", "a/#", "a/+/b", "+/+", "/+", "a/b"]) validateTopicFilter(filter);
  });
  await t.step("invalid filters", () => {
    for (const filter of ["", "a/#/b", "a#", "a/b#", "a+", "a/+b", "#/a"]) {
      assert.throws(() => validateTopicFilter(filter), invalid(filter));
    }
  });
});

Deno.test("a filter matches topics as a broker matches them", () => {
  const cases: [string, string, boolean][] = [
    ["a/b", "a/b", true],
    ["a/b", "a/c", false],
    ["a/+", "a/b", true],
    ["a/+", "a/b/c", false],
    ["a/+", "a", false],
    ["a/+", "a/", true],
    ["+/+", "/x", true],
    ["a/#", "a", true],
    ["a/#", "a/b/c", true],
    ["a/#", "ab", false],
    ["#", "a/b", true],
    ["#", "$SYS/uptime", false],
    ["+/uptime", "$SYS/uptime", false],
    ["$SYS/#", "$SYS/uptime", true],
    ["factory/+/cmd/#", "factory/gw1/cmd/valve/open", true],
    ["factory/+/cmd/#", "factory/gw1/status", false],
  ];
  for (const [filter, topic, expected] of cases) {
    assert.equal(topicMatches(filter, topic), expected, `${filter} vs ${topic}`);
  }
});
