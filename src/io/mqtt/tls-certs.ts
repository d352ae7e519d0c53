import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { errorMessage } from '../../errors.js';

/**
 * What the certificate files of `mqtt.tls` say about themselves: parsed, dated, and the key matched to the
 * certificate. Start refuses material that can never work (unparseable, key of another certificate); doctor
 * reports every finding. Node's own X509Certificate and createPrivateKey, so no openssl is needed on the device.
 */

/** The PEM text of the files (or credential) of `mqtt.tls`, with the config keys they came from. */
export interface TlsMaterial {
  ca?: { file: string; pem: string };
  cert?: { file: string; pem: string };
  key?: { from: string; pem: string };
}

export interface TlsFinding {
  /** What was checked: `mqtt.tls.ca`, `mqtt.tls.cert`, `mqtt.tls.key`. */
  subject: string;
  status: 'ok' | 'warn' | 'fail';
  detail: string;
  /** The material can never work (unparseable, key of another certificate): start refuses it. */
  fatal: boolean;
  /** What to do about a finding that is not ok. */
  action?: string;
}

/** A certificate that expires within this many days is a warning: renew before the broker starts refusing it. */
export const EXPIRY_WARNING_DAYS = 30;
const DAY_MS = 86_400_000;

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

function certificatesIn(pem: string): X509Certificate[] {
  const blocks = pem.match(PEM_CERT) ?? [];
  if (blocks.length === 0) throw new Error('no PEM certificate (-----BEGIN CERTIFICATE-----) in it');
  return blocks.map((block) => new X509Certificate(block));
}

function subjectName(cert: X509Certificate): string {
  return cert.subject.split('\n').join(', ');
}

/** Dates of one certificate against now. */
function dated(subject: string, cert: X509Certificate, nowMs: number): TlsFinding {
  const from = Date.parse(cert.validFrom);
  const to = Date.parse(cert.validTo);
  const who = `${subjectName(cert)} (valid ${new Date(from).toISOString()} to ${new Date(to).toISOString()})`;
  const renew =
    'Renew it (and restart lineside): the other side of the handshake refuses a certificate out of its dates.';
  if (nowMs > to) return { subject, status: 'fail', detail: `${who} has EXPIRED`, fatal: false, action: renew };
  if (nowMs < from) {
    const action = 'Check the device clock (timedatectl; NTP), or the certificate dates.';
    return { subject, status: 'fail', detail: `${who} is not valid yet`, fatal: false, action };
  }
  const daysLeft = Math.floor((to - nowMs) / DAY_MS);
  if (daysLeft < EXPIRY_WARNING_DAYS)
    return { subject, status: 'warn', detail: `${who} expires in ${daysLeft} days`, fatal: false, action: renew };
  return { subject, status: 'ok', detail: who, fatal: false };
}

function unparseable(subject: string, file: string, err: unknown): TlsFinding {
  const action = `Give ${subject} a PEM file (-----BEGIN ...-----); convert DER with openssl x509 -inform der.`;
  return { subject, status: 'fail', detail: `${file}: ${errorMessage(err)}`, fatal: true, action };
}

function caFindings(ca: NonNullable<TlsMaterial['ca']>, nowMs: number): TlsFinding[] {
  const subject = 'mqtt.tls.ca';
  try {
    return certificatesIn(ca.pem).map((cert) => {
      const finding = dated(subject, cert, nowMs);
      if (!cert.ca && finding.status === 'ok')
        return {
          ...finding,
          status: 'warn',
          detail: `${finding.detail} is not a CA certificate (basicConstraints)`,
          action: 'Give mqtt.tls.ca the CA that signed the broker certificate, not a server certificate.',
        };
      return finding;
    });
  } catch (err) {
    return [unparseable(subject, ca.file, err)];
  }
}

function parseKey(key: NonNullable<TlsMaterial['key']>): { key: KeyObject } | { finding: TlsFinding } {
  try {
    return { key: createPrivateKey(key.pem) };
  } catch (err) {
    return { finding: unparseable('mqtt.tls.key', key.from, err) };
  }
}

/** The client certificate, dated, and its key: present, parseable, and the one of this certificate. */
function clientFindings(material: TlsMaterial, nowMs: number): TlsFinding[] {
  const { cert, key } = material;
  if (cert === undefined) {
    if (key === undefined) return [];
    return [
      { subject: 'mqtt.tls.key', status: 'fail', detail: `${key.from} is set without mqtt.tls.cert`, fatal: true },
    ];
  }
  let x509: X509Certificate;
  try {
    const first = certificatesIn(cert.pem)[0];
    if (first === undefined) throw new Error('no certificate');
    x509 = first;
  } catch (err) {
    return [unparseable('mqtt.tls.cert', cert.file, err)];
  }
  const findings = [dated('mqtt.tls.cert', x509, nowMs)];
  if (key === undefined) {
    const detail = 'no private key for mqtt.tls.cert: set mqtt.tls.key, or provide the systemd credential mqtt_tls_key';
    return [...findings, { subject: 'mqtt.tls.key', status: 'fail', detail, fatal: true, action: KEY_ACTION }];
  }
  const parsed = parseKey(key);
  if ('finding' in parsed) return [...findings, parsed.finding];
  const matches = x509.checkPrivateKey(parsed.key);
  findings.push(
    matches
      ? { subject: 'mqtt.tls.key', status: 'ok', detail: `${key.from} matches the certificate`, fatal: false }
      : {
          subject: 'mqtt.tls.key',
          status: 'fail',
          detail: `${key.from} is not the private key of ${cert.file} (${subjectName(x509)})`,
          fatal: true,
          action: KEY_ACTION,
        },
  );
  return findings;
}

const KEY_ACTION =
  'Give mqtt.tls.key (or the credential mqtt_tls_key) the key the client certificate was issued for: openssl x509 -noout -pubkey -in CERT and openssl pkey -pubout -in KEY must print the same.';

/** Every finding about the material, in the order ca, cert, key. */
export function certificateFindings(material: TlsMaterial, nowMs = Date.now()): TlsFinding[] {
  return [...(material.ca ? caFindings(material.ca, nowMs) : []), ...clientFindings(material, nowMs)];
}
