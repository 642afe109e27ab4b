import assert from "node:assert/strict";
import {
  addressOf,
  clientSource,
  MAX_FORWARDED_FOR_LENGTH,
  normalizeAddress,
} from "../../server/gate/client_source.ts";
import { FlagError, parseGateArgs } from "../../server/gate/options.ts";

const xff = (value: string) => new Headers({ "x-forwarded-for": value });
const peer = { hostname: "127.0.0.1", port: 40000 };

Deno.test("client source: the peer, unless a trusted proxy forwarded the client", () => {
  assert.equal(clientSource({ peer, trustProxy: [] }), "127.0.0.1:40000");
  assert.equal(
    clientSource({ peer, headers: xff("198.51.100.7"), trustProxy: [] }),
    "127.0.0.1:40000",
    "no --trust-proxy: the header is ignored",
  );
  assert.equal(
    clientSource({ peer, headers: xff("198.51.100.7"), trustProxy: ["10.0.0.1"] }),
    "127.0.0.1:40000",
    "the peer is not a trusted proxy",
  );
  assert.equal(
    clientSource({ peer, headers: xff("1.1.1.1, 198.51.100.7"), trustProxy: ["127.0.0.1"] }),
    "198.51.100.7:40000",
    "the right-most hop",
  );
  assert.equal(
    clientSource({
      peer,
      headers: xff("198.51.100.7,10.0.0.2 , 127.0.0.1"),
      trustProxy: ["127.0.0.1", "10.0.0.2"],
    }),
    "198.51.100.7:40000",
    "trusted hops are skipped",
  );
  assert.equal(
    clientSource({ peer, headers: xff("198.51.100.7, junk"), trustProxy: ["127.0.0.1"] }),
    "127.0.0.1:40000",
    "nothing left of a hop that is not an address is believed",
  );
  assert.equal(
    clientSource({
      peer,
      headers: xff("198.51.100.7,".repeat(MAX_FORWARDED_FOR_LENGTH / 13) + "198.51.100.7"),
      trustProxy: ["127.0.0.1"],
    }),
    "127.0.0.1:40000",
    "an overlong header is ignored",
  );
  assert.equal(
    clientSource({ peer: { hostname: "::1", port: 5 }, trustProxy: [] }),
    "::1:5",
  );
});

Deno.test("client source: addresses are normalized, the port is dropped", () => {
  assert.equal(normalizeAddress("[2001:DB8::1]"), "2001:db8::1");
  assert.equal(normalizeAddress("::ffff:192.0.2.1"), "192.0.2.1");
  assert.equal(normalizeAddress("256.1.1.1"), undefined);
  assert.equal(normalizeAddress("host.example"), undefined);
  assert.equal(normalizeAddress("1::2::3"), undefined);
  assert.equal(addressOf("192.0.2.1:80"), "192.0.2.1");
  assert.equal(addressOf("2001:db8::1:443"), "2001:db8::1");
});

Deno.test("gate flags: --trust-proxy is repeatable and must name IP addresses", () => {
  const { options } = parseGateArgs(["--trust-proxy", "127.0.0.1", "--trust-proxy", "[::1]"]);
  assert.deepEqual(options.trustProxy, ["127.0.0.1", "::1"]);
  assert.deepEqual(parseGateArgs([]).options.trustProxy, []);
  assert.throws(
    () => parseGateArgs(["--trust-proxy", "proxy.example"]),
    (error) =>
      error instanceof FlagError &&
      error.message === 'Flag --trust-proxy takes an IP address, not "proxy.example"',
  );
});
