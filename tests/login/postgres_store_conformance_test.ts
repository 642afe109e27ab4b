import { PostgresAccountStore } from "../../server/login/postgres_account_store.ts";
import { postgresTool, startPostgres } from "../helpers/postgres.ts";
import { INTEGRATION } from "../helpers/suite.ts";
import { runConformance } from "./store_conformance.ts";

const postgres = postgresTool();

Deno.test({
  name: "postgres store conformance: --db postgres://… shared by instances on many machines",
  ...INTEGRATION,
  ignore: postgres.ignore,
  async fn(t) {
    postgres.check();
    const server = await startPostgres();
    let serial = 0;
    try {
      await runConformance(t, {
        async fresh() {
          const url = await server.createDatabase(`conformance${++serial}`);
          return {
            open: () => PostgresAccountStore.open({ url }),
            loginFlags: ["--db", url],
            cleanup: () => Promise.resolve(),
          };
        },
      });
    } finally {
      await server.stop();
    }
  },
});
