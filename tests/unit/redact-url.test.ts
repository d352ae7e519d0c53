import { describe, expect, it } from 'vitest';
import { redactUrl } from '../../src/redact-url.js';

describe('redactUrl', () => {
  it('drops user:password@ from broker and camera URLs, keeping scheme, host, port and path', () => {
    expect(redactUrl('mqtt://plant:s3cret@broker.local:1883')).toBe('mqtt://broker.local:1883');
    expect(redactUrl('mqtts://plant@broker.local:8883/')).toBe('mqtts://broker.local:8883/');
    expect(redactUrl(new URL('http://admin:hunter2@10.0.0.5:8080/snap.jpg'))).toBe('http://10.0.0.5:8080/snap.jpg');
  });

  it('drops the query and the fragment, where cameras and gateways take passwords and tokens', () => {
    expect(redactUrl('http://10.0.0.5:8080/cgi-bin/snapshot.cgi?user=admin&pwd=hunter2')).toBe(
      'http://10.0.0.5:8080/cgi-bin/snapshot.cgi',
    );
    expect(redactUrl('wss://gw.example/mqtt?token=abc123#x')).toBe('wss://gw.example/mqtt');
  });

  it('leaves a URL without secrets as it was', () => {
    expect(redactUrl('mqtt://127.0.0.1:1883')).toBe('mqtt://127.0.0.1:1883');
    expect(redactUrl('https://cam.example/snapshot.jpg')).toBe('https://cam.example/snapshot.jpg');
  });

  it('cuts text that is not a valid URL the same way, so a malformed value does not echo its password', () => {
    expect(redactUrl('mqtt://plant:s3cret@broker:99999')).toBe('mqtt://broker:99999');
    expect(redactUrl('http://u:p@bad host/x?pwd=1')).toBe('http://bad host/x');
    expect(redactUrl('not a url')).toBe('not a url');
  });
});
