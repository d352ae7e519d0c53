import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** PEM files made by openssl in a test's temp dir: never committed, never shared between test files. */
export interface TestCertificates {
  /** The CA that signed the broker and client certificates. */
  ca: string;
  /** Another CA, that signed nothing the broker shows: trusting it alone must fail the handshake. */
  otherCa: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
  /** A client key that belongs to no certificate here. */
  strayKey: string;
  /** A client certificate signed by the CA that expired in 2020. */
  expiredCert: string;
  expiredKey: string;
}

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

async function openssl(dir: string, args: string[]): Promise<void> {
  await run('openssl', args, { cwd: dir });
}

async function selfSignedCa(dir: string, name: string, cn: string): Promise<void> {
  const out = ['-keyout', `${name}.key`, '-out', `${name}.crt`];
  await openssl(dir, ['req', '-x509', ...EC, ...out, '-days', '365', '-subj', `/CN=${cn}`]);
}

/** A key and a certificate for `name`, signed by ca.crt, with the extensions in `ext` (an openssl ext file). */
async function signed(dir: string, name: string, ext: string): Promise<void> {
  await openssl(dir, ['req', '-new', ...EC, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`]);
  await writeFile(join(dir, `${name}.ext`), ext);
  await openssl(dir, [
    'x509',
    '-req',
    '-in',
    `${name}.csr`,
    '-CA',
    'ca.crt',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-days',
    '365',
    '-extfile',
    `${name}.ext`,
    '-out',
    `${name}.crt`,
  ]);
}

/** `openssl x509` cannot back-date; `openssl ca` can, with a throwaway database. */
async function expired(dir: string): Promise<void> {
  const name = 'expired';
  await openssl(dir, ['req', '-new', ...EC, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`]);
  await writeFile(join(dir, 'index.txt'), '');
  await writeFile(join(dir, 'serial'), '1000\n');
  const conf = ['[ca]', 'default_ca = d', '[d]', 'database = index.txt', 'new_certs_dir = .', 'serial = serial'];
  conf.push('default_md = sha256', 'policy = p', '[p]', 'commonName = supplied');
  await writeFile(join(dir, 'ca.cnf'), `${conf.join('\n')}\n`);
  await openssl(dir, [
    'ca',
    '-batch',
    '-config',
    'ca.cnf',
    '-cert',
    'ca.crt',
    '-keyfile',
    'ca.key',
    '-in',
    `${name}.csr`,
    '-out',
    `${name}.crt`,
    '-notext',
    '-startdate',
    '20200101000000Z',
    '-enddate',
    '20200102000000Z',
  ]);
}

/** A CA, a broker certificate for 127.0.0.1 and localhost, client certificates, and a second, unrelated CA. */
export async function makeCertificates(dir: string): Promise<TestCertificates> {
  await selfSignedCa(dir, 'ca', 'test-ca');
  await selfSignedCa(dir, 'other', 'other-ca');
  await signed(dir, 'server', 'subjectAltName = IP:127.0.0.1, DNS:localhost\nextendedKeyUsage = serverAuth\n');
  await signed(dir, 'client', 'extendedKeyUsage = clientAuth\n');
  await openssl(dir, ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-out', 'stray.key']);
  await expired(dir);
  const at = (file: string): string => join(dir, file);
  return {
    ca: at('ca.crt'),
    otherCa: at('other.crt'),
    serverCert: at('server.crt'),
    serverKey: at('server.key'),
    clientCert: at('client.crt'),
    clientKey: at('client.key'),
    strayKey: at('stray.key'),
    expiredCert: at('expired.crt'),
    expiredKey: at('expired.key'),
  };
}
