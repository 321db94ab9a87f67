import assert from "node:assert/strict";
import { fleetTopics, mergeDesired, mergeShadows, parseDesired } from "../../runtime/fleet/mod.ts";
import { p99Of } from "../../runtime/fleet/protocol.ts";
import { parseManifest } from "../../runtime/manifest/mod.ts";

const DIGEST = `sha256:${"a".repeat(64)}`;
const enc = (doc: unknown) => new TextEncoder().encode(typeof doc === "string" ? doc : JSON.stringify(doc));
const image = (tag: string) => `reg.local:5000/plant/counter:${tag}@${DIGEST}`;
const spec = { schedule: { mode: "periodic", period_us: 20000 } };

Deno.test("a desired state parses, and a malformed one is refused naming the path, never thrown", () => {
  const good = parseDesired(enc({ rev: 3, modules: { counter: { image: image("1"), spec }, old: null } }));
  assert.ok(good.ok);
  assert.equal(good.state.rev, 3);
  assert.equal(good.state.modules.old, null);

  const cases: [unknown, RegExp][] = [
    ["{not json", /not UTF-8 JSON/],
    [{ rev: "x", modules: {} }, /^rev: /],
    [
      { rev: 1, modules: { counter: { image: "reg.local/plant/counter:1", spec } } },
      /modules\.counter\.image: .*pinned/,
    ],
    [
      { rev: 1, modules: { counter: { image: image("1"), spec: { ...spec, wasm: "x.wasm" } } } },
      /modules\.counter\.spec\.wasm/,
    ],
    [{ rev: 1, modules: { "Bad Name": null } }, /modules/],
    [{ rev: 1, modules: {}, extra: 1 }, /extra/],
    [{ rev: 1, modules: {}, pad: "x".repeat(70_000) }, /over 65536/],
  ];
  for (const [doc, why] of cases) {
    const r = parseDesired(enc(doc));
    assert.equal(r.ok, false, JSON.stringify(doc).slice(0, 80));
    if (!r.ok) assert.match(r.message, why);
  }
});

Deno.test("the device's own desired state wins over its groups', and a later group over an earlier one", () => {
  const doc = (rev: number, modules: Record<string, unknown>) => {
    const r = parseDesired(enc({ rev, modules }));
    assert.ok(r.ok);
    return r.state;
  };
  const merged = mergeDesired(doc(7, { a: { image: image("dev"), spec } }), [
    {
      group: "line",
      state: doc(1, { a: { image: image("line"), spec }, b: { image: image("line"), spec } }),
    },
    { group: "site", state: doc(2, { b: { image: image("site"), spec }, c: null }) },
    { group: "empty", state: null },
  ]);
  assert.equal(merged.get("a")?.want?.image, image("dev"));
  assert.equal(merged.get("a")?.from, "device");
  assert.equal(merged.get("b")?.want?.image, image("site"));
  assert.equal(merged.get("b")?.rev, 2);
  assert.equal(merged.get("c")?.want, null);
  assert.equal(merged.has("d"), false);
});

Deno.test("the topics of a device are its fleet's, per device and per group", () => {
  const t = fleetTopics("plant-a", "gw-1", ["line-3"]);
  assert.equal(t.desired, "kiln/fleet/plant-a/gw-1/desired");
  assert.equal(t.reported, "kiln/fleet/plant-a/gw-1/reported");
  assert.deepEqual(t.groups, [{ group: "line-3", topic: "kiln/fleet/plant-a/groups/line-3/desired" }]);
});

Deno.test("the p99 of a latency histogram is its bucket's upper bound, never above the slowest time seen", () => {
  const bounds_us = [10, 100, 1000];
  assert.equal(p99Of({ bounds_us, counts: [0, 0, 0, 0] }, 0), 0);
  assert.equal(p99Of({ bounds_us, counts: [99, 1, 0, 0] }, 50), 10);
  assert.equal(p99Of({ bounds_us, counts: [90, 10, 0, 0] }, 50), 50);
  assert.equal(p99Of({ bounds_us, counts: [0, 0, 0, 5] }, 4000), 4000);
});

Deno.test("a manifest's fleet section needs connectors.mqtt", () => {
  const base = "version: 1\ndevice: { id: gw }\nmodules: {}\n";
  assert.throws(() => parseManifest(`${base}fleet: { id: plant-a }\n`), /fleet.*connectors\.mqtt/s);
  const m = parseManifest(
    `${base}fleet: { id: plant-a, groups: [line-3] }\nconnectors: { mqtt: { url: "mqtt://127.0.0.1:1883" } }\n`,
  );
  assert.deepEqual(m.fleet, { id: "plant-a", groups: ["line-3"], report_every_s: 10 });
});

Deno.test("prototype names in a desired state are refused or kept as plain names, never dropped", () => {
  const text = (name: string) => new TextEncoder().encode(`{"rev":1,"modules":{"${name}":null,"ok":null}}`);
  const proto = parseDesired(text("__proto__"));
  assert.equal(proto.ok, false);
  assert.match(proto.ok ? "" : proto.message, /modules\.__proto__: "__proto__" is not a valid key/);
  const inSpec = parseDesired(
    new TextEncoder().encode(`{"rev":1,"modules":{"m":{"image":"x","spec":{"__proto__":{"a":1}}}}}`),
  );
  assert.match(inSpec.ok ? "" : inSpec.message, /modules\.m\.spec\.__proto__/);
  const ctor = parseDesired(text("constructor"));
  assert.ok(ctor.ok);
  assert.deepEqual([...mergeDesired(ctor.ok ? ctor.state : null, []).keys()].sort(), ["constructor", "ok"]);
  for (const name of ["toString", "hasOwnProperty"]) assert.equal(parseDesired(text(name)).ok, false, name);
});

Deno.test("a desired state's shadows parse with their defaults, merge as modules do, and bad ones are refused by path", () => {
  const group = parseDesired(enc({
    rev: 1,
    modules: {},
    shadows: { counter: { image: image("2") }, fft: { image: image("9"), start: "init", warmup: 5 } },
  }));
  assert.ok(group.ok);
  assert.deepEqual(group.state.shadows?.counter, {
    image: image("2"),
    tolerance: 0,
    start: "image",
    warmup: 0,
  });
  const device = parseDesired(enc({ rev: 4, modules: {}, shadows: { counter: null } }));
  assert.ok(device.ok);
  const merged = mergeShadows(device.state, [{ group: "line-3", state: group.state }]);
  assert.equal(merged.get("counter")?.want, null, "the device's own document wins");
  assert.equal(merged.get("counter")?.from, "device");
  assert.equal(merged.get("fft")?.want?.warmup, 5);
  assert.equal(merged.get("fft")?.from, "group:line-3");
  assert.equal(mergeDesired(device.state, [{ group: "line-3", state: group.state }]).size, 0);

  const cases: [unknown, RegExp][] = [
    [
      { rev: 1, modules: {}, shadows: { counter: { image: "reg.local/plant/counter:2" } } },
      /shadows\.counter\.image/,
    ],
    [
      { rev: 1, modules: {}, shadows: { counter: { image: image("2"), tolerance: -1 } } },
      /shadows\.counter\.tolerance/,
    ],
    [
      { rev: 1, modules: {}, shadows: { counter: { image: image("2"), start: "cold" } } },
      /shadows\.counter\.start/,
    ],
    [{ rev: 1, modules: {}, shadows: { counter: { image: image("2"), wasm: "x" } } }, /shadows\.counter/],
    ['{"rev":1,"modules":{},"shadows":{"__proto__":null}}', /__proto__/],
  ];
  for (const [doc, why] of cases) {
    const parsed = parseDesired(enc(doc));
    assert.equal(parsed.ok, false, JSON.stringify(doc));
    if (!parsed.ok) assert.match(parsed.message, why);
  }
});
