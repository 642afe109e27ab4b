import assert from "node:assert/strict";
import {
  LicenseCmd,
  licenseResponseName,
  makeHeartbeatRsp,
  MAX_LICENSE_HOST_LENGTH,
  MAX_LICENSE_INSTANCE_ID_LENGTH,
  MAX_LICENSE_USER_LENGTH,
  readLicenseRequestBody,
  readLicenseResponse,
  validateLoginReq,
} from "../../shared/license_messages.ts";
import { State } from "../../shared/state_codes.ts";

const encode = (text: string) => new TextEncoder().encode(text);
const BAD_UTF8 = new Uint8Array([0x7b, 0xff, 0x7d]);

Deno.test("the license envelopes' commands are the ones the server and client speak", () => {
  assert.deepEqual({ ...LicenseCmd }, { STATUS: "license_status", QUEUED: "license_queued" });
});

Deno.test("licenseResponseName pairs each request with its response", () => {
  assert.equal(licenseResponseName("HeartbeatReq"), "HeartbeatRsp");
  assert.equal(licenseResponseName("LoginReq"), "LoginRsp");
  assert.equal(licenseResponseName("LogoutReq"), "LogoutRsp");
  assert.equal(licenseResponseName("GetDogStatusReq"), "GetDogStatusRsp");
});

Deno.test("makeHeartbeatRsp is OK with the clock", () => {
  assert.deepEqual(makeHeartbeatRsp(42), { state: State.OK, time: 42 });
  const rsp = makeHeartbeatRsp();
  assert.ok(Math.abs(rsp.time - Date.now()) < 1000);
});

Deno.test("readLicenseRequestBody takes a JSON object, and an empty body as {}", () => {
  assert.deepEqual(readLicenseRequestBody(new Uint8Array()), { ok: true, value: {} });
  assert.deepEqual(readLicenseRequestBody(encode("  \n")), { ok: true, value: {} });
  assert.deepEqual(readLicenseRequestBody(encode('{"a":1}')), { ok: true, value: { a: 1 } });
});

Deno.test("readLicenseRequestBody names what is wrong", () => {
  const cases: [Uint8Array, string][] = [
    [BAD_UTF8, "The string body is not valid UTF-8"],
    [encode("{nope"), "The string body is not valid JSON"],
    [encode("[1]"), "The string body must be a JSON object"],
    [encode("null"), "The string body must be a JSON object"],
    [encode("7"), "The string body must be a JSON object"],
  ];
  for (const [bytes, error] of cases) {
    assert.deepEqual(readLicenseRequestBody(bytes), { ok: false, error });
  }
});

Deno.test("validateLoginReq accepts a login at the limits, wait absent as false", () => {
  const login = {
    instanceId: "a".repeat(MAX_LICENSE_INSTANCE_ID_LENGTH - 7) + "_.:@-Z9",
    host: "h".repeat(MAX_LICENSE_HOST_LENGTH),
    user: "Ada Lovelace ü".padEnd(MAX_LICENSE_USER_LENGTH, "x"),
  };
  assert.deepEqual(validateLoginReq(login), { ok: true, login: { ...login, wait: false } });
  assert.deepEqual(validateLoginReq({ ...login, wait: true, extra: 1 }), {
    ok: true,
    login: { ...login, wait: true },
  });
});

Deno.test("validateLoginReq names the first field that is wrong", () => {
  const good = { instanceId: "i-1", host: "lab", user: "ada" };
  const cases: [Record<string, unknown>, string][] = [
    [
      { ...good, instanceId: undefined },
      "Field instanceId must be a string of 1 to 128 characters",
    ],
    [{ ...good, instanceId: "" }, "Field instanceId must be a string of 1 to 128 characters"],
    [
      { ...good, instanceId: "i".repeat(MAX_LICENSE_INSTANCE_ID_LENGTH + 1) },
      "Field instanceId must be a string of 1 to 128 characters",
    ],
    [
      { ...good, instanceId: "a b" },
      "Field instanceId may hold only letters, digits and _ . : @ -",
    ],
    [{ ...good, instanceId: "a\tb" }, "Field instanceId must not contain control characters"],
    [{ ...good, host: 7 }, "Field host must be a string of 1 to 255 characters"],
    [
      { ...good, host: "h".repeat(MAX_LICENSE_HOST_LENGTH + 1) },
      "Field host must be a string of 1 to 255 characters",
    ],
    [{ ...good, host: "lab\u007f" }, "Field host must not contain control characters"],
    [
      { ...good, user: "u".repeat(MAX_LICENSE_USER_LENGTH + 1) },
      "Field user must be a string of 1 to 128 characters",
    ],
    [{ ...good, user: "a\nb" }, "Field user must not contain control characters"],
    [{ ...good, wait: "yes" }, "Field wait must be true or false"],
    [{ ...good, wait: null }, "Field wait must be true or false"],
  ];
  for (const [body, error] of cases) {
    assert.deepEqual(validateLoginReq(body), { ok: false, error }, JSON.stringify(body));
  }
});

Deno.test("readLicenseResponse reads each response body", () => {
  const bodies = {
    HeartbeatRsp: { state: 1, time: 1700000000000.5 },
    LoginRsp: { state: 1, seats: 2, seatsLeft: 1, heartbeatMs: 5000 },
    LogoutRsp: { state: 1, seatsLeft: 2 },
    GetDogStatusRsp: {
      state: 1,
      present: true,
      valid: true,
      expired: false,
      customer: "ACME",
      seats: 2,
      expiresAt: "2099-12-31",
    },
  } as const;
  for (const [name, body] of Object.entries(bodies)) {
    const read = readLicenseResponse(name as keyof typeof bodies, encode(JSON.stringify(body)));
    assert.deepEqual(read, { ok: true, body }, name);
  }
});

Deno.test("readLicenseResponse lets a refusal leave out fields, not give wrong ones", () => {
  const refused = { state: State.FAIL, msg: "No seats can be granted" };
  assert.deepEqual(readLicenseResponse("LoginRsp", encode(JSON.stringify(refused))), {
    ok: true,
    body: refused,
  });
  assert.deepEqual(
    readLicenseResponse("LoginRsp", encode(JSON.stringify({ ...refused, seats: "2" }))),
    { ok: false, error: "The server's LoginRsp field seats is missing or not a int" },
  );
});

Deno.test("readLicenseResponse names what is wrong", () => {
  const cases: [Parameters<typeof readLicenseResponse>[0], Uint8Array, string][] = [
    ["LoginRsp", BAD_UTF8, "The server's LoginRsp is not valid JSON"],
    ["LoginRsp", new Uint8Array(), "The server's LoginRsp is not valid JSON"],
    ["LoginRsp", encode("{"), "The server's LoginRsp is not valid JSON"],
    ["LogoutRsp", encode("[]"), "The server's LogoutRsp is not a JSON object"],
    ["LogoutRsp", encode('{"seatsLeft":1}'), "The server's LogoutRsp has no state code"],
    ["LogoutRsp", encode('{"state":-1}'), "The server's LogoutRsp has no state code"],
    [
      "LogoutRsp",
      encode('{"state":0,"msg":5}'),
      "The server's LogoutRsp has a msg that is not a string",
    ],
    [
      "LogoutRsp",
      encode('{"state":1}'),
      "The server's LogoutRsp field seatsLeft is missing or not a int",
    ],
    [
      "HeartbeatRsp",
      encode('{"state":1,"time":"now"}'),
      "The server's HeartbeatRsp field time is missing or not a number",
    ],
    [
      "GetDogStatusRsp",
      encode('{"state":0,"present":"yes"}'),
      "The server's GetDogStatusRsp field present is missing or not a boolean",
    ],
    [
      "LoginRsp",
      encode('{"state":1,"seats":2,"seatsLeft":1.5,"heartbeatMs":5000}'),
      "The server's LoginRsp field seatsLeft is missing or not a int",
    ],
    [
      "LoginRsp",
      encode('{"state":1,"seats":2,"seatsLeft":1,"heartbeatMs":0}'),
      "The server's LoginRsp gives a heartbeat interval of 0 ms",
    ],
  ];
  for (const [name, bytes, error] of cases) {
    assert.deepEqual(readLicenseResponse(name, bytes), { ok: false, error }, error);
  }
});
