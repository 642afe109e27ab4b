import assert from "node:assert/strict";
import {
  DEFAULT_MESSAGE_TYPES,
  type MessageTypeName,
  MessageTypes,
} from "../../shared/message_types.ts";

/** The default numbers, copied from DESIGN.md ("Frames"). */
const DESIGN_TABLE: Record<MessageTypeName, number> = {
  HeartbeatReq: 1,
  HeartbeatRsp: 2,
  LoginReq: 3,
  LoginRsp: 4,
  LogoutReq: 5,
  LogoutRsp: 6,
  GetDogStatusReq: 7,
  GetDogStatusRsp: 8,
  Envelope: 100,
  Error: 255,
};

const NAMES = Object.keys(DESIGN_TABLE) as MessageTypeName[];

function assertTypeError(fn: () => unknown, message: string): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof TypeError, `Expected a TypeError, got ${error}`);
    assert.equal(error.message, message);
    return true;
  });
}

Deno.test("the default message types are DESIGN.md's table", () => {
  assert.deepEqual({ ...DEFAULT_MESSAGE_TYPES }, DESIGN_TABLE);
  assert.ok(Object.isFrozen(DEFAULT_MESSAGE_TYPES));
  const types = new MessageTypes();
  for (const name of NAMES) {
    assert.equal(types.number(name), DESIGN_TABLE[name], name);
    assert.equal(types.name(DESIGN_TABLE[name]), name, name);
  }
  assert.deepEqual(types.toJSON(), DESIGN_TABLE);
});

Deno.test("MessageTypes.name is undefined for a number the table does not know", () => {
  const types = new MessageTypes();
  for (const number of [0, 9, 99, 101, 254, 256, 0xffff_ffff, -1, 1.5, NaN]) {
    assert.equal(types.name(number), undefined, `${number}`);
  }
});

Deno.test("MessageTypes.fromJson renumbers the types it names and keeps the rest", () => {
  const types = MessageTypes.fromJson(
    '{"HeartbeatReq": 11, "HeartbeatRsp": 12, "Envelope": 4000000000}',
  );
  assert.equal(types.number("HeartbeatReq"), 11);
  assert.equal(types.number("HeartbeatRsp"), 12);
  assert.equal(types.number("Envelope"), 4000000000);
  assert.equal(types.number("Error"), 255);
  assert.equal(types.name(11), "HeartbeatReq");
  assert.equal(types.name(4000000000), "Envelope");
  assert.equal(types.name(1), undefined);
  assert.equal(types.name(100), undefined);
});

Deno.test("MessageTypes.fromJson lets two types swap numbers", () => {
  const types = MessageTypes.fromJson('{"HeartbeatReq": 2, "HeartbeatRsp": 1}');
  assert.equal(types.number("HeartbeatReq"), 2);
  assert.equal(types.name(1), "HeartbeatRsp");
});

Deno.test("MessageTypes.fromJson of an empty object is the default table", () => {
  assert.deepEqual(MessageTypes.fromJson("{}").toJSON(), DESIGN_TABLE);
});

Deno.test("MessageTypes round-trips through its JSON", () => {
  const types = new MessageTypes({ LoginReq: 30, LoginRsp: 31, Error: 0 });
  const again = MessageTypes.fromJson(JSON.stringify(types));
  assert.deepEqual(again.toJSON(), types.toJSON());
  assert.equal(again.name(0), "Error");
});

Deno.test("MessageTypes refuses a name the protocol does not know", () => {
  assertTypeError(
    () => MessageTypes.fromJson('{"Heartbeat": 50}'),
    'Message type "Heartbeat" is not one the protocol knows',
  );
  assertTypeError(
    () => MessageTypes.fromJson('{"heartbeatreq": 50}'),
    'Message type "heartbeatreq" is not one the protocol knows',
  );
});

Deno.test("MessageTypes refuses names inherited from Object.prototype", () => {
  for (const name of ["toString", "constructor", "hasOwnProperty", "__proto__"]) {
    assertTypeError(
      () => MessageTypes.fromJson(`{"${name}": 500}`),
      `Message type "${name}" is not one the protocol knows`,
    );
  }
});

Deno.test("MessageTypes refuses two types with one number", () => {
  assertTypeError(
    () => MessageTypes.fromJson('{"HeartbeatReq": 2}'),
    "Message types HeartbeatReq and HeartbeatRsp share the number 2",
  );
  assertTypeError(
    () => MessageTypes.fromJson('{"LoginReq": 9, "LogoutReq": 9}'),
    "Message types LoginReq and LogoutReq share the number 9",
  );
  assertTypeError(
    () => new MessageTypes({ Error: 100 }),
    "Message types Envelope and Error share the number 100",
  );
});

Deno.test("MessageTypes refuses numbers that are not unsigned 32-bit integers", () => {
  for (const bad of ["1.5", "-1", "4294967296", '"7"', "null", "true", "[7]", "{}"]) {
    assertTypeError(
      () => MessageTypes.fromJson(`{"LoginReq": ${bad}}`),
      "Message type LoginReq must be an unsigned 32-bit integer",
    );
  }
  assert.equal(MessageTypes.fromJson('{"LoginReq": 4294967295}').number("LoginReq"), 4294967295);
  assert.equal(MessageTypes.fromJson('{"LoginReq": 0}').name(0), "LoginReq");
});

Deno.test("MessageTypes.fromJson refuses text that is not JSON", () => {
  for (const text of ["", "{", "HeartbeatReq=1", "{'HeartbeatReq': 1}"]) {
    assertTypeError(() => MessageTypes.fromJson(text), "The message-type file is not valid JSON");
  }
});

Deno.test("MessageTypes.fromJson refuses JSON that is not an object", () => {
  for (const text of ["null", "[]", '[["HeartbeatReq", 1]]', "1", '"HeartbeatReq"', "true"]) {
    assertTypeError(
      () => MessageTypes.fromJson(text),
      "The message-type file must hold a JSON object of name to number",
    );
  }
});
