import assert from "node:assert/strict";
import { inviteLink, parseInvite } from "../../web/app/invite.ts";

Deno.test("invite: the link carries the group id and key in the fragment, not the query", () => {
  const link = inviteLink({ origin: "https://chat.example.com", pathname: "/" }, {
    groupId: "room_1-a",
    key: "k&y=#?/ é",
  });
  const url = new URL(link);
  assert.equal(url.search, "");
  assert.equal(url.origin + url.pathname, "https://chat.example.com/");
  assert.deepEqual(parseInvite(url.hash), { groupId: "room_1-a", key: "k&y=#?/ é" });
});

Deno.test("invite: a fragment without a well-formed id and key is no invite", () => {
  for (
    const hash of [
      "",
      "#",
      "#join=room",
      "#key=k",
      "#join=a%20b&key=k",
      `#join=${"g".repeat(65)}&key=k`,
      "#join=g&key=",
      `#join=g&key=${"k".repeat(129)}`,
    ]
  ) {
    assert.equal(parseInvite(hash), undefined, hash);
  }
  assert.deepEqual(parseInvite("join=g&key=k"), { groupId: "g", key: "k" }, "no leading #");
});
