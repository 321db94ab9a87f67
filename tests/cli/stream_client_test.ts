/**
 * The CLI's stream follower (`cli/_stream_client.ts`) on its own: bounded reconnects, and a stop on demand.
 *
 * @module
 */
import assert from "node:assert/strict";
import { ApiRequestError } from "../../cli/_api_client.ts";
import { followStream } from "../../cli/_stream_client.ts";

/** A local port nothing listens on. */
function closedPort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  listener.close();
  return port;
}

Deno.test("following a gateway that cannot be reached gives up after its reconnects, as unreachable", async () => {
  let connected = 0;
  const err = await followStream(`http://127.0.0.1:${closedPort()}`, {
    token: "t",
    topics: ["alerts"],
    onConnected: () => Promise.resolve(void connected++),
    onFrame: () => {},
    maxReconnects: 2,
    reconnectDelayMs: 5,
  }).then(() => null, (e) => e);
  assert.ok(err instanceof ApiRequestError, String(err));
  assert.equal(err.status, null); // exit code 3
  assert.match(err.message, /lost 3 times in a row/);
  assert.equal(connected, 0);
});

Deno.test("a follower stopped by its signal while it waits to reconnect resolves without an error", async () => {
  const stop = new AbortController();
  const following = followStream(`http://127.0.0.1:${closedPort()}`, {
    token: "t",
    topics: ["alerts"],
    onConnected: () => Promise.resolve(),
    onFrame: () => {},
    reconnectDelayMs: 60_000,
    signal: stop.signal,
  });
  setTimeout(() => stop.abort(), 50);
  assert.equal(await following, undefined);
});
