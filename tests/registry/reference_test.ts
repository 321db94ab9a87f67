/**
 * Image reference parsing and authentication challenge parsing (pure functions, no registry), and the
 * CLI's errors for a bad reference, half a login or a registry that is not there.
 *
 * @module
 */
import assert from "node:assert/strict";
import { formatImageReference, ImageReferenceError, parseImageReference } from "../../registry/mod.ts";
import { parseChallenge } from "../../registry/_auth.ts";
import { runKiln } from "../_process.ts";
import { freePort } from "../hal/_mosquitto.ts";

const DIGEST = `sha256:${"ab".repeat(32)}`;

Deno.test("a reference with host, port, nested repository and tag parses into its parts", () => {
  assert.deepEqual(parseImageReference("registry.plant.local:5000/analytics/fft:2.3.1"), {
    registry: "registry.plant.local:5000",
    repository: "analytics/fft",
    tag: "2.3.1",
    digest: null,
  });
});

Deno.test("a reference with a tag and a digest keeps both, and formats back to the same text", () => {
  const text = `127.0.0.1:5000/fft:1.0.0@${DIGEST}`;
  const ref = parseImageReference(text);
  assert.equal(ref.tag, "1.0.0");
  assert.equal(ref.digest, DIGEST);
  assert.equal(formatImageReference(ref), text);
  assert.deepEqual(parseImageReference(`localhost/fft@${DIGEST}`).tag, null);
});

Deno.test("malformed references are refused with an error that names the part at fault", () => {
  const cases: [string, RegExp][] = [
    ["fft:1.0.0", /no registry host/],
    ["docker/fft:1.0.0", /"docker" is not a registry host/],
    ["reg.local/FFT:1.0.0", /repository "FFT"/],
    ["reg.local/fft", /neither a tag/],
    ["reg.local/fft:-bad", /tag "-bad"/],
    ["reg.local/fft@sha256:xyz", /digest "sha256:xyz"/],
    ["reg.local//fft:1", /repository "\/fft"/],
  ];
  for (const [text, pattern] of cases) {
    assert.throws(() => parseImageReference(text), (err: unknown) => {
      assert.ok(err instanceof ImageReferenceError, `${text}: ${err}`);
      assert.equal(err.code, "image_reference_invalid");
      assert.equal(err.kind, "invalid");
      assert.match(err.message, pattern);
      return true;
    });
  }
});

Deno.test("a Bearer challenge yields its realm, service and scope; a Basic one its realm", () => {
  const bearer = parseChallenge(
    'Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push"',
  );
  assert.equal(bearer?.scheme, "bearer");
  assert.equal(bearer?.params.realm, "https://auth.example/token");
  assert.equal(bearer?.params.service, "registry.example");
  assert.equal(bearer?.params.scope, "repository:a/b:pull,push");
  assert.equal(Object.getPrototypeOf(bearer?.params), null);
  const basic = parseChallenge('Basic realm="kiln-test"');
  assert.equal(basic?.scheme, "basic");
  assert.equal(basic?.params.realm, "kiln-test");
  assert.equal(parseChallenge(null), null);
});

Deno.test("kiln pull and push turn a bad reference, half a login or a dead registry into clear errors", async () => {
  const bad = await runKiln(["pull", "fft:1.0.0"]);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /Invalid image reference "fft:1\.0\.0": it has no registry host/);
  const half = await runKiln(["pull", "127.0.0.1:5000/a/fft:1", "--username", "ci"]);
  assert.equal(half.code, 2);
  assert.match(half.stderr, /--username and --password-file go together/);
  const digestPush = await runKiln(["push", "x.wasm", `127.0.0.1:5000/a/fft@${DIGEST}`]);
  assert.equal(digestPush.code, 2);
  assert.match(digestPush.stderr, /push takes a reference with a tag and no digest/);
  const port = freePort(); // nothing listens there
  const dead = await runKiln(["pull", `127.0.0.1:${port}/a/fft:1`, "--plain-http", "--timeout-ms", "5000"]);
  assert.equal(dead.code, 1);
  assert.ok(dead.stderr.includes(`Cannot pull manifest "127.0.0.1:${port}/a/fft:1"`), dead.stderr);
});
