/**
 * The Bearer token flow against a real Distribution registry (docker-registry 2.8 with `auth: token`): the
 * registry answers 401 with `WWW-Authenticate: Bearer realm=...,service=...,scope=...`, the client asks the
 * realm for a token with its Basic credentials and retries. The token server is the test's own (the part a
 * plant runs as docker_auth, Harbor's core or a cloud IAM): it checks the password and signs an ES256 JWT
 * with an x5c header; the real registry verifies it against its `rootcertbundle`.
 *
 * @module
 */
import assert from "node:assert/strict";
import { pullModule, pushModule, RegistryClient, RegistryHttpError } from "../../registry/mod.ts";
import { tempDir } from "../hal/_mosquitto.ts";
import { openssl } from "../signing/_pki.ts";
import { FFT } from "./_fixture.ts";
import { startRegistry } from "./_registry.ts";

const SERVICE = "kiln-test-registry";
const ISSUER = "kiln-test-token-issuer";

function b64url(bytes: Uint8Array): string {
  let bin = "";
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function pemBody(pem: string): Uint8Array {
  const b64 = pem.replace(/-----[A-Z ]+-----/g, "").replace(/\s+/g, "");
  return Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
}

/** A token server on a free port that grants `user`/`password` what it asks for in `scope`. */
async function startTokenServer(dir: string, user: string, password: string) {
  await openssl([
    "req",
    "-x509",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:prime256v1",
    "-nodes",
    "-keyout",
    `${dir}/token.key`,
    "-out",
    `${dir}/token.crt`,
    "-days",
    "2",
    "-subj",
    "/CN=Kiln Test Token Issuer",
  ], dir);
  const certDer = pemBody(await Deno.readTextFile(`${dir}/token.crt`));
  const key = await crypto.subtle.importKey(
    "pkcs8",
    pemBody(await Deno.readTextFile(`${dir}/token.key`)) as Uint8Array<ArrayBuffer>,
    { name: "ECDSA", namedCurve: "P-256" },
    false,
    ["sign"],
  );
  const issued: string[] = [];
  const expected = `Basic ${btoa(`${user}:${password}`)}`;
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
    const url = new URL(req.url);
    if (req.headers.get("authorization") !== expected) return new Response("denied", { status: 401 });
    const scope = url.searchParams.get("scope") ?? "";
    issued.push(scope);
    const [type, name, actions] = scope.split(":");
    const now = Math.floor(Date.now() / 1000);
    const enc = (v: unknown) => b64url(new TextEncoder().encode(JSON.stringify(v)));
    const head = enc({ alg: "ES256", typ: "JWT", x5c: [btoa(String.fromCharCode(...certDer))] });
    const claims = enc({
      iss: ISSUER,
      sub: user,
      aud: url.searchParams.get("service"),
      exp: now + 300,
      nbf: now - 10,
      iat: now,
      jti: crypto.randomUUID(),
      access: type === "repository" ? [{ type, name, actions: (actions ?? "").split(",") }] : [],
    });
    const sig = new Uint8Array(
      await crypto.subtle.sign(
        { name: "ECDSA", hash: "SHA-256" },
        key,
        new TextEncoder().encode(`${head}.${claims}`),
      ),
    );
    return Response.json({ token: `${head}.${claims}.${b64url(sig)}`, expires_in: 300 });
  });
  return { server, realm: `http://127.0.0.1:${server.addr.port}/token`, issued };
}

Deno.test("docker-registry with Bearer token auth", async (t) => {
  await using dir = await tempDir();
  const tokens = await startTokenServer(dir.path, "ci", "s3cret-pass");
  await using _tokenServer = tokens.server;
  await using registry = await startRegistry(dir.path, {
    token: { realm: tokens.realm, service: SERVICE, issuer: ISSUER, rootCertFile: `${dir.path}/token.crt` },
  });

  await t.step("the client fetches a token for its scope and pushes and pulls with it", async () => {
    using client = new RegistryClient(registry.host, {
      plainHttp: true,
      credentials: { username: "ci", password: "s3cret-pass" },
    });
    const pushed = await pushModule(client, { repository: "plant/fft", tag: "1.0.0" }, {
      wasm: FFT,
      fileName: "fft.wasm",
    });
    const pulled = await pullModule(client, { repository: "plant/fft", tag: "1.0.0", digest: null });
    assert.equal(pulled.digest, pushed.digest);
    assert.deepEqual(pulled.wasm, FFT);
    assert.ok(tokens.issued.includes("repository:plant/fft:pull,push"), tokens.issued.join(" "));
    assert.ok(tokens.issued.includes("repository:plant/fft:pull"), tokens.issued.join(" "));
  });

  await t.step(
    "a token server that refuses the password is a 401 naming the registry and repository",
    async () => {
      using client = new RegistryClient(registry.host, {
        plainHttp: true,
        credentials: { username: "ci", password: "wrong" },
      });
      await assert.rejects(client.getManifest("plant/fft", "1.0.0"), (err) => {
        assert.ok(err instanceof RegistryHttpError, String(err));
        assert.equal(err.code, "registry_unauthorized");
        assert.ok(err.message.includes(`${registry.host}/plant/fft:1.0.0`), err.message);
        assert.match(err.message, /token from/);
        return true;
      });
    },
  );
});
