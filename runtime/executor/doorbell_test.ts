import assert from "node:assert/strict";
import { Doorbell } from "./doorbell.ts";

Deno.test("a ring between reading the ring count and going to sleep ends the sleep at once, as a ring", () => {
  const bell = new Doorbell();
  const seen = bell.rings; // the executor reads this, then looks for work and finds none...
  bell.ring(); // ...a channel writer rings meanwhile...
  // ...and the sleep must not wait for the next ring: lost, it would time out and return false.
  assert.equal(bell.sleepUntil(performance.timeOrigin + performance.now() + 5_000, false, seen), true);
});

Deno.test("without a ring the sleep ends at its deadline and says so", () => {
  const bell = new Doorbell();
  assert.equal(bell.sleepUntil(performance.timeOrigin + performance.now() + 5, false), false);
});

Deno.test("announced messages count as an int32 that wraps the way the executor counts what it received", () => {
  const bell = new Doorbell();
  new Int32Array(bell.buffer)[2] = 2 ** 31 - 1;
  let received = 2 ** 31 - 1;
  bell.announce();
  received = (received + 1) | 0;
  assert.equal(bell.announced, -(2 ** 31));
  assert.equal(bell.announced, received);
  assert.equal(bell.rings, 1, "an announcement rings too");
});
