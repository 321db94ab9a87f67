/**
 * Turns off mqtt-packet's table of pre-built 2-byte Buffers (`writeToStream.cacheNumbers`, its documented
 * switch), for mqtt.js's client and aedes's broker alike: both use the one `mqtt-packet` this import map pins.
 * On the first packet written the table is built for every 16-bit number: 65,536 Buffers, about 7 MiB of
 * JavaScript heap in Deno, for a gateway that writes a few packets a second. Without it each packet
 * identifier or length is written into a 2-byte Buffer made for it (`bench/footprint.ts`).
 *
 * Imported for its effect by every module that loads mqtt.js or aedes, before either writes a packet.
 *
 * @module
 */
import mqttPacket from "mqtt-packet";

mqttPacket.writeToStream.cacheNumbers = false;
