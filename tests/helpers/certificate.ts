/**
 * A test CA and a certificate it signs for 127.0.0.1 and localhost, made with openssl, for the
 * tests that serve TLS.
 *
 * @module
 */

import { onPath, requireTool } from "./tool.ts";

/** openssl for the tests that make certificates: their `ignore`, and the CI check. */
export const opensslNeeded = requireTool({
  name: "openssl",
  found: onPath("openssl", ["version"]),
  install: "apt-get install openssl",
});

/** Runs openssl; throws with its stderr when it fails. */
async function openssl(args: string[]): Promise<void> {
  const { success, stderr } = await new Deno.Command("openssl", {
    args,
    stdout: "null",
    stderr: "piped",
  }).output();
  if (!success) {
    throw new Error(`openssl ${args[0]} failed: ${new TextDecoder().decode(stderr).trim()}`);
  }
}

/**
 * Makes a test CA and a certificate it signs for 127.0.0.1 and localhost. (A self-signed leaf
 * would be refused by rustls as a CA used as an end entity.)
 */
export async function makeCertificate(
  dir: string,
): Promise<{ ca: string; cert: string; key: string }> {
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  await Deno.writeTextFile(
    `${dir}/leaf.ext`,
    "basicConstraints=CA:FALSE\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n",
  );
  await openssl([
    "req",
    "-x509",
    ...ec,
    "-keyout",
    `${dir}/ca.key`,
    "-out",
    `${dir}/ca.pem`,
    "-days",
    "1",
    "-subj",
    "/CN=Gatehouse test CA",
    "-addext",
    "basicConstraints=critical,CA:TRUE",
    "-addext",
    "keyUsage=critical,keyCertSign",
  ]);
  await openssl([
    "req",
    ...ec,
    "-keyout",
    `${dir}/key.pem`,
    "-out",
    `${dir}/leaf.csr`,
    "-subj",
    "/CN=localhost",
  ]);
  await openssl([
    "x509",
    "-req",
    "-in",
    `${dir}/leaf.csr`,
    "-CA",
    `${dir}/ca.pem`,
    "-CAkey",
    `${dir}/ca.key`,
    "-CAcreateserial",
    "-out",
    `${dir}/cert.pem`,
    "-days",
    "1",
    "-extfile",
    `${dir}/leaf.ext`,
  ]);
  return { ca: `${dir}/ca.pem`, cert: `${dir}/cert.pem`, key: `${dir}/key.pem` };
}
