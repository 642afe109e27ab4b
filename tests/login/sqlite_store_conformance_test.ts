import { SqliteAccountStore } from "../../server/login/sqlite_account_store.ts";
import { INTEGRATION } from "../helpers/suite.ts";
import { runConformance } from "./store_conformance.ts";

Deno.test({
  name: "sqlite store conformance: <data-dir>/login.sqlite shared by instances on one machine",
  ...INTEGRATION,
  async fn(t) {
    await runConformance(t, {
      async fresh() {
        const dir = await Deno.makeTempDir({ prefix: "gatehouse_conformance_" });
        return {
          open: () => SqliteAccountStore.open({ path: `${dir}/login.sqlite` }),
          loginFlags: [],
          dataDir: dir,
          cleanup: () => Deno.remove(dir, { recursive: true }),
        };
      },
    });
  },
});
