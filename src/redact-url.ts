/**
 * A URL as it may appear in logs, error messages, state and verdict payloads: scheme, host, port and path.
 * User info (`user:password@`) is dropped, and so are the query and the fragment, where cheap IP cameras and
 * some brokers' gateways take a password or token (`?pwd=`, `?token=`). Text that does not parse as a URL
 * (a malformed config value) is cut the same way by pattern, so a password in it is not echoed either.
 */
export function redactUrl(url: string | URL): string {
  let parsed: URL;
  try {
    parsed = typeof url === 'string' ? new URL(url) : url;
  } catch {
    return String(url)
      .replace(/[?#].*$/s, '')
      .replace(/\/\/[^/]*@/, '//');
  }
  // Not `origin`: it is "null" for schemes the URL standard does not know, such as mqtt: and mqtts:.
  return `${parsed.protocol}//${parsed.host}${parsed.pathname}`;
}
