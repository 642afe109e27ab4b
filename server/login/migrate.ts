/**
 * `deno task login:migrate --from <data-dir or login.sqlite> --to postgres://…`: copies a SQLite
 * accounts store into PostgreSQL, keeping every id, password hash (PHC strings, as they are) and
 * token (their SHA-256), in one PostgreSQL transaction: a copy that fails leaves the target as it
 * was. The target's id sequence then continues after the highest id the SQLite store ever gave
 * (`sqlite_sequence`, deleted accounts included), so no id is given twice. A target that already
 * holds accounts or tokens is refused unless `--replace` is given, which empties it first (its
 * sequence still only goes up). Prints one progress line per 10,000 rows and a summary; exits 1
 * with a sentence on error. Stop the login services before copying: writes made meanwhile are not
 * copied.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { DatabaseSync } from "node:sqlite";
import { connectPostgres, describePostgresUrl, migratePostgres } from "./postgres_account_store.ts";
import { SCHEMA_VERSION } from "./sqlite_schema.ts";
import { checkDbFlag, sqlitePathOf } from "./open_store.ts";
import { flagsOrExitCode } from "../service_runner.ts";
import { Buffer } from "node:buffer";

const HELP = `Copies the login service's SQLite accounts store into PostgreSQL.

Usage: deno task login:migrate --from <data-dir or login.sqlite> --to postgres://user:pass@host:port/db

  --from PATH   a data dir (its login.sqlite) or the SQLite file itself (read only)
  --to URL      the PostgreSQL database; the schema is made when missing
  --replace     empty the target's accounts and tokens first (refused when it has some otherwise)
  --help        this text

Ids, password hashes and tokens are kept; the id sequence continues after the highest id the
SQLite store ever gave. Stop the login services first.
`;

/** Rows per INSERT statement. */
const CHUNK = 1000;
/** A progress line every this many rows. */
const PROGRESS_EVERY = 10_000;

/** What a copy did. */
export interface MigrateReport {
  accounts: number;
  tokens: number;
  /** The next id PostgreSQL gives. */
  nextId: number;
}

/** Options of {@linkcode migrateSqliteToPostgres}. */
export interface MigrateOptions {
  /** A data dir or a SQLite file. */
  from: string;
  /** The PostgreSQL URL. */
  to: string;
  /** Empty a non-empty target first. */
  replace?: boolean;
  /** Told of progress, one line each. */
  progress?: (line: string) => void;
}

function sqliteFile(from: string): string {
  let stat: Deno.FileInfo;
  try {
    stat = Deno.statSync(from);
  } catch {
    throw new Error(`No SQLite store at ${from}`);
  }
  const path = stat.isDirectory ? sqlitePathOf(from) : from;
  try {
    if (!Deno.statSync(path).isFile) throw new Error();
  } catch {
    throw new Error(`No SQLite store at ${path}`);
  }
  return path;
}

/** Copies the SQLite store into PostgreSQL; see the module text. */
export async function migrateSqliteToPostgres(options: MigrateOptions): Promise<MigrateReport> {
  const say = options.progress ?? (() => {});
  const path = sqliteFile(options.from);
  const db = new DatabaseSync(path, { readOnly: true });
  const sql = connectPostgres(options.to, { max: 1 });
  try {
    db.exec("PRAGMA busy_timeout = 5000");
    const version = (db.prepare("PRAGMA user_version").get() as { user_version: number })
      .user_version;
    if (version !== SCHEMA_VERSION) {
      throw new Error(
        `The SQLite store ${path} has schema version ${version}; this program copies version ${SCHEMA_VERSION}`,
      );
    }
    await migratePostgres(sql);
    const target = describePostgresUrl(options.to);
    const [{ accounts: had, tokens: hadTokens }] = await sql`
      SELECT (SELECT count(*) FROM accounts)::int8 AS accounts,
             (SELECT count(*) FROM tokens)::int8 AS tokens`;
    if ((had as number) + (hadTokens as number) > 0 && !options.replace) {
      throw new Error(
        `The target ${target} already holds ${had} accounts and ${hadTokens} tokens: give --replace to empty it first`,
      );
    }
    const accountTotal = (db.prepare("SELECT count(*) AS n FROM accounts").get() as { n: number })
      .n;
    const tokenTotal = (db.prepare("SELECT count(*) AS n FROM tokens").get() as { n: number }).n;
    const seqRow = db.prepare("SELECT seq FROM sqlite_sequence WHERE name = 'accounts'").get() as
      | { seq: number }
      | undefined;
    const maxRow = db.prepare("SELECT max(id) AS m FROM accounts").get() as { m: number | null };
    const highest = Math.max(seqRow?.seq ?? 0, maxRow.m ?? 0);
    say(`copying ${accountTotal} accounts and ${tokenTotal} tokens from ${path} to ${target}`);

    // One read transaction on SQLite: the rows copied are one moment's.
    db.exec("BEGIN");
    let nextId = 0;
    await sql.begin(async (tx) => {
      if (options.replace) {
        await tx`DELETE FROM tokens`;
        await tx`DELETE FROM accounts`;
      }
      const accounts = db.prepare(
        `SELECT id, username, password_hash, created_at, password_changed_at
           FROM accounts ORDER BY id`,
      );
      let copied = 0;
      let chunk: { id: number; u: string; h: string; c: number; p: number }[] = [];
      const flushAccounts = async () => {
        if (chunk.length === 0) return;
        await tx`
          INSERT INTO accounts (id, username, password_hash, created_at, password_changed_at)
          SELECT * FROM unnest(${chunk.map((r) => r.id)}::int8[], ${chunk.map((r) => r.u)}::text[],
                               ${chunk.map((r) => r.h)}::text[], ${chunk.map((r) => r.c)}::int8[],
                               ${chunk.map((r) => r.p)}::int8[])`;
        const before = copied;
        copied += chunk.length;
        chunk = [];
        if (Math.floor(copied / PROGRESS_EVERY) > Math.floor(before / PROGRESS_EVERY)) {
          say(`accounts ${copied}/${accountTotal}`);
        }
      };
      for (const row of accounts.iterate()) {
        const r = row as {
          id: number;
          username: string;
          password_hash: string;
          created_at: number;
          password_changed_at: number;
        };
        chunk.push({
          id: r.id,
          u: r.username,
          h: r.password_hash,
          c: r.created_at,
          p: r.password_changed_at,
        });
        if (chunk.length >= CHUNK) await flushAccounts();
      }
      await flushAccounts();
      say(`accounts ${copied}/${accountTotal} copied`);

      const tokens = db.prepare(
        "SELECT token_hash, user_id, created_at, expires_at FROM tokens ORDER BY user_id",
      );
      let copiedTokens = 0;
      let pending: Promise<unknown>[] = [];
      for (const row of tokens.iterate()) {
        const r = row as {
          token_hash: Uint8Array;
          user_id: number;
          created_at: number;
          expires_at: number;
        };
        // Pipelined: postgres.js sends these on the transaction's connection without waiting.
        pending.push(tx`
          INSERT INTO tokens (token_hash, user_id, created_at, expires_at)
          VALUES (${Buffer.from(r.token_hash)}, ${r.user_id}, ${r.created_at}, ${r.expires_at})`);
        if (pending.length >= CHUNK) {
          await Promise.all(pending);
          pending = [];
        }
        copiedTokens++;
        if (copiedTokens % PROGRESS_EVERY === 0) say(`tokens ${copiedTokens}/${tokenTotal}`);
      }
      await Promise.all(pending);
      say(`tokens ${copiedTokens}/${tokenTotal} copied`);

      // The sequence goes on after every id either side ever gave; it never goes back.
      const [{ next }] = await tx`
        SELECT setval(pg_get_serial_sequence('accounts', 'id'),
                      greatest(${highest}::int8,
                               (SELECT coalesce(max(id), 0) FROM accounts),
                               (SELECT last_value FROM accounts_id_seq)),
                      true) + 1 AS next`;
      nextId = next as number;
      const [{ a, t }] = await tx`
        SELECT (SELECT count(*) FROM accounts)::int8 AS a, (SELECT count(*) FROM tokens)::int8 AS t`;
      if (a !== accountTotal || t !== tokenTotal) {
        throw new Error(
          `The copy holds ${a} accounts and ${t} tokens, not ${accountTotal} and ${tokenTotal}`,
        );
      }
    });
    db.exec("COMMIT");
    say(`done: ${accountTotal} accounts and ${tokenTotal} tokens; the next id is ${nextId}`);
    return { accounts: accountTotal, tokens: tokenTotal, nextId };
  } finally {
    if (db.isTransaction) db.exec("ROLLBACK");
    db.close();
    await sql.end({ timeout: 5 });
  }
}

/** Parses the task's flags; `undefined` for `--help`. Throws a sentence on a bad flag. */
function parseMigrateArgs(args: string[]): MigrateOptions | undefined {
  const { values } = parseArgs({
    args,
    options: {
      from: { type: "string" },
      to: { type: "string" },
      replace: { type: "boolean" },
      help: { type: "boolean" },
    },
    strict: true,
  });
  if (values.help) return undefined;
  if (!values.from) throw new TypeError("Flag --from is required (a data dir or a login.sqlite)");
  if (!values.to) throw new TypeError("Flag --to is required (postgres://user:pass@host:port/db)");
  checkDbFlag(values.to);
  return { from: values.from, to: values.to, replace: values.replace };
}

/** The task: parses the flags, copies, prints; resolves with the exit code. */
export async function main(args: string[]): Promise<number> {
  const parsed = flagsOrExitCode(() => parseMigrateArgs(args), HELP);
  if ("code" in parsed) return parsed.code;
  try {
    await migrateSqliteToPostgres({ ...parsed.flags, progress: (line) => console.log(line) });
    return 0;
  } catch (error) {
    console.error(`login:migrate failed: ${(error as Error).message}`);
    return 1;
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
