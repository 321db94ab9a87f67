/**
 * The publishing rates Kiln asks of an OPC UA server for an endpoint's subscription (Part 4 §5.13): the
 * publishing interval and the keep-alive period, which the subscription (`_subscription.ts`) requests and the
 * link (`_link.ts`) sizes its transport timeout by.
 *
 * @module
 */
import type { OpcuaNode } from "./config.ts";

/** The subscription's maximum keep-alive count (Part 4 §5.13.2.2): keep-alives every 10 publishing intervals. */
export const MAX_KEEP_ALIVE_COUNT = 10;

/** The publishing interval Kiln asks for: the fastest node's sampling interval, at least 50 ms. */
export function requestedPublishingMs(nodes: readonly OpcuaNode[]): number {
  return Math.max(50, Math.min(...nodes.map((n) => n.samplingMs)));
}

/**
 * The keep-alive period Kiln asks for, in milliseconds: the server sends something at least this often
 * while the subscription runs (Part 4 §5.13.1.1), unless it revises the publishing interval up.
 */
export function requestedKeepAliveMs(nodes: readonly OpcuaNode[]): number {
  return requestedPublishingMs(nodes) * MAX_KEEP_ALIVE_COUNT;
}
