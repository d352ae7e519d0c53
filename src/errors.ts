/**
 * Stable error codes. Each code has one row here: what it means and what the operator should do.
 * docs/errors.md is generated from this table (npm run docs); codes are never reused or renumbered.
 */
export const ERROR_CODES = {
  LS_CONFIG_INVALID: {
    summary:
      'The configuration file does not match the schema (message names the key path and value), or a secret it points to is empty or unreadable.',
    action:
      'Fix the named key in the config file, or the named credential file or environment variable; `lineside validate-config FILE` checks the file without touching hardware.',
  },
  LS_CONFIG_UNREADABLE: {
    summary:
      'The configuration file is missing, unreadable or not valid YAML (including aliases that would expand without bound).',
    action: 'Check the path given with --config, its permissions, and the YAML syntax at the reported line.',
  },
  LS_MODEL_MISSING: {
    summary: 'The model bundle (metadata or .onnx file) named in the config does not exist or cannot be read.',
    action: 'Check `model.bundle` in the config and that the bundle directory was installed completely.',
  },
  LS_MODEL_CHECKSUM: {
    summary: 'The .onnx file does not match the sha256 recorded in its bundle metadata: corrupt or swapped model.',
    action: 'Reinstall the model bundle from a trusted source. The daemon refuses to arm with an unverified model.',
  },
  LS_MODEL_INVALID: {
    summary:
      'The bundle metadata is malformed, or the model does not load in onnxruntime or has unexpected inputs/outputs.',
    action: 'Reinstall or re-export the model bundle; run `lineside doctor` for details.',
  },
  LS_EP_UNAVAILABLE: {
    summary:
      'None of the configured execution providers could be used (or `require_gpu` is set and only CPU is available).',
    action:
      'Install the GPU provider libraries (docs/gpu.md), or add `cpu` to `inference.execution_providers`, or clear `require_gpu`.',
  },
  LS_INFERENCE_FAILED: {
    summary: 'The inference worker failed to run the model on an image.',
    action: 'Part was rejected fail-safe. If it repeats, check the logs for the cause and run `lineside doctor`.',
  },
  LS_INFERENCE_WORKER_DIED: {
    summary: 'The inference worker thread exited unexpectedly; it is restarted automatically.',
    action: 'Parts in flight were rejected fail-safe. If it repeats, report it with the logs.',
  },
  LS_IMAGE_DECODE: {
    summary: 'An image could not be decoded (truncated, zero bytes, not an image, or an unsupported format).',
    action: 'Check the camera output format and cable; on the line the part was rejected fail-safe.',
  },
  LS_IMAGE_TOO_LARGE: {
    summary: 'An image exceeds the pixel limit (`inference.max_input_pixels`) and was not decoded.',
    action: 'Lower the camera resolution or raise the limit; on the line the part was rejected fail-safe.',
  },
  LS_FILE_UNREADABLE: {
    summary:
      'An input file could not be read: missing, no permission, or not a regular file (a directory, a FIFO, a device: lineside never waits on a pipe).',
    action: 'Check the path and permissions.',
  },
  LS_CAMERA_TIMEOUT: {
    summary: 'The camera did not deliver an image within `camera.timeout_ms`.',
    action: 'Part was rejected fail-safe. Check camera power, cable and trigger; repeated timeouts raise an alarm.',
  },
  LS_CAMERA_ERROR: {
    summary: 'The camera driver reported an error while capturing.',
    action: 'Part was rejected fail-safe. The message carries the driver error; check the camera connection.',
  },
  LS_CAMERA_NOT_FOUND: {
    summary:
      'The configured camera could not be opened at start (not connected, wrong model/port, no images in the folder).',
    action: 'Check `camera` in the config, the USB connection (`gphoto2 --auto-detect`) or the folder path.',
  },
  LS_GPIO_UNAVAILABLE: {
    summary:
      'A GPIO driver or line could not be opened (missing chip, line in use, permissions, driver module not built).',
    action: 'Check `gpio` in the config, that the user is in the gpio group, and `lineside doctor`.',
  },
  LS_GPIO_WRITE: {
    summary: 'Writing a GPIO output failed.',
    action: 'The gate or an indicator may not have switched: check the wiring and the driver; an alarm is raised.',
  },
  LS_MQTT_OUTBOX: {
    summary:
      'The durable MQTT outbox (in the line record) could not be written or read, or there is no line record: new verdicts wait in memory.',
    action:
      'Check `record.dir`, free disk space and permissions (and `mqtt.outbox_dir` when importing an old outbox). Verdicts are still decided and the gate still works.',
  },
  LS_MQTT_OUTBOX_FULL: {
    summary:
      'The MQTT outbox dropped its oldest unsent verdicts: `mqtt.outbox_max_mb` reached while the broker was unreachable (reason budget), the disk full (disk_full), or the memory cap while nothing could be written (memory).',
    action:
      'Restore the broker connection; free disk space in `record.dir`; raise the limit if outages are expected to last longer.',
  },
  LS_MQTT_CONNECT: {
    summary: 'The MQTT broker is unreachable or refused the connection; verdicts queue in the outbox.',
    action:
      'Check `mqtt.url`, credentials and the network. Inspection continues; nothing is lost while the outbox has room.',
  },
  LS_PIPELINE_OVERRUN: {
    summary: 'A trigger arrived while `pipeline.max_in_flight` parts were still being inspected.',
    action: 'The part was rejected fail-safe. Slow the line, or check why inspection is slow (camera, CPU).',
  },
  LS_ALARM: {
    summary:
      'An alarm was raised: `kind` in the log line (`alarm` on MQTT) names it; docs/tracking.md lists every kind.',
    action:
      'Inspect the line and fix the cause, then acknowledge the alarm: `lineside ack` (every open alarm), ' +
      "`lineside ack KIND` or `lineside ack ID`, the dashboard's Acknowledge button (docs/operator.md), or the MQTT " +
      'command topic `<prefix>/cmd/ack` (docs/mqtt.md; an empty payload acknowledges every open alarm). An alarm ' +
      'stays until acknowledged.',
  },
  LS_SAFE_STATE_PARTS: {
    summary: 'The daemon stopped with parts on the belt whose gate moment came after the gate went to its safe state.',
    action:
      "Quarantine the parts named in the log line (`ids`, also in the run summary's `safe_state.ids`): with " +
      '`energised_position: reject` they passed uninspected or unrejected. Stop the belt before the daemon to avoid it.',
  },
  LS_GATE_NOT_FIRED: {
    summary: 'A reject was not fired: the write that should have opened the gate failed, or the gate output was lost.',
    action:
      'Quarantine the part named in the log line: it may have passed. Fix the gate wiring or driver (see the alarm).',
  },
  LS_WATCHDOG: {
    summary: 'The pipeline made no progress within the watchdog interval; systemd will restart the daemon.',
    action: 'Check the logs just before the restart for the component that stalled.',
  },
  LS_INTERNAL: {
    summary: 'An unexpected internal error.',
    action: 'Report it with the logs. The daemon exits non-zero and systemd restarts it; the gate fails safe.',
  },
  LS_MQTT_REJECTED: {
    summary:
      'The MQTT broker refused a message for good (MQTT 5 reason code >= 0x80: not authorized, topic name invalid, quota exceeded...); it was dropped so later verdicts keep flowing.',
    action:
      'Check the broker ACL and limits for the lineside user on `mqtt.topic_prefix`; the log names the topic and reason code. The state counts such messages as `rejected`.',
  },
  LS_RECORD_CORRUPT: {
    summary:
      'The line record database (record.dir/lineside.db) was not a usable SQLite database; it was moved aside as lineside.db.corrupt-<time> and a fresh one was started. Inspection went on.',
    action:
      'Keep the moved file for analysis (verdicts in it that never reached the broker are not resent). Check the disk (SMART, dmesg) and whether the machine lost power.',
  },
  LS_RECORD_IO: {
    summary:
      'The line record database could not be created, written or synced (permissions, full or failing disk). Inspection goes on.',
    action:
      'Check `record.dir`, its permissions and free space (`df`), and dmesg for disk errors; `lineside doctor` checks them.',
  },
  LS_MODEL_SELFTEST: {
    summary:
      'The self-test before arming failed on the execution provider in use: a pinned probe of the model bundle scored ' +
      'beyond its tolerance, or a golden part in `model.selftest_dir` got the wrong verdict (an FP16 engine, a broken ' +
      'GPU provider, a swapped model or a mislabelled golden image).',
    action:
      'Read the log line: it names each probe (expected and actual score) or golden image (expected and actual verdict). ' +
      'Run `lineside doctor --config FILE` on the same provider; try `execution_providers: [cpu]` or ' +
      '`inference.tensorrt.fp16: false`; check the golden images. The daemon does not arm until it passes.',
  },
  LS_MQTT_TLS: {
    summary:
      'The TLS handshake with the MQTT broker failed: its certificate does not verify against `mqtt.tls.ca` (wrong CA, expired, host name not in the certificate), or it refused the client certificate. Verdicts queue in the outbox meanwhile.',
    action:
      'Run `lineside doctor --config FILE`: it checks the certificate files (readable, dates, key matches cert) and names the handshake error. Give the CA that signed the broker certificate in `mqtt.tls.ca`, and `mqtt.tls.servername` when the URL host is not in it.',
  },
  LS_MQTT_AUTH: {
    summary:
      'The MQTT broker refused the login (bad user name or password, or not authorized). The daemon keeps retrying; verdicts queue in the outbox meanwhile.',
    action:
      'Check `mqtt.username` and the password (systemd credential `mqtt_password` or the variable named by `mqtt.password_env`) against the broker password file, and that the user is allowed to connect.',
  },
  LS_RECORD_UNKNOWN_PART: {
    summary:
      'No part with this id is in the verdict history (a typing error, or it aged out after `record.retention_days`).',
    action:
      'Check the id with `lineside history`; part ids read `<run id>-<seq>`, as in the log and the MQTT verdicts.',
  },
  LS_HTTP_UNAVAILABLE: {
    summary:
      'The operator view could not listen on `http.host`:`http.port` (port taken by another program or another lineside, or the address is not on this machine).',
    action:
      'Free the port or choose another `http.port` (`ss -ltnp` shows who holds it), or set `http.enabled: false`. The daemon exits 69.',
  },
} as const satisfies Record<string, { summary: string; action: string }>;

export type ErrorCode = keyof typeof ERROR_CODES;

export class LinesideError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'LinesideError';
    this.code = code;
  }
}

export function isLinesideError(err: unknown): err is LinesideError {
  return err instanceof LinesideError;
}

/** The code of any thrown value: ours, or LS_INTERNAL for anything else. */
export function errorCode(err: unknown): ErrorCode {
  return isLinesideError(err) ? err.code : 'LS_INTERNAL';
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
