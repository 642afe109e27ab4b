import assert from "node:assert/strict";
import { TOKEN_KEY, TokenStore } from "../../web/app/token_store.ts";
import { memoryStorage } from "./memory_storage.ts";

Deno.test("token store: keeps the token, clears it only when it is the one named", () => {
  const storage = memoryStorage();
  const tokens = new TokenStore(storage);
  tokens.set("t1");
  assert.equal(storage.getItem(TOKEN_KEY), "t1");
  tokens.clear("t0");
  assert.equal(tokens.get(), "t1", "another token is not cleared");
  tokens.clear("t1");
  assert.equal(tokens.get(), undefined);
  const blocked = new TokenStore(memoryStorage(true));
  blocked.set("t2");
  assert.equal(blocked.get(), undefined);
});
