import { z } from 'zod';

const timeoutMs = z
  .number()
  .int()
  .min(10)
  .max(60_000)
  .default(2000)
  .describe('Milliseconds a capture may take before the part is rejected fail-safe (LS_CAMERA_TIMEOUT).');

export const folderCamera = z
  .strictObject({
    type: z.literal('folder'),
    path: z
      .string()
      .min(1)
      .describe('Directory of images, replayed as the camera. Sub-folders def_front/ and ok_front/ give labels.'),
    order: z.enum(['sequential', 'shuffle']).default('shuffle').describe('Replay order; shuffle is seeded.'),
    seed: z.number().int().default(1).describe('Seed for shuffle order (same seed, same sequence).'),
    loop: z.boolean().default(true).describe('Start again after the last image; otherwise captures fail after it.'),
    timeout_ms: timeoutMs,
  })
  .describe('Replays a directory of images: the simulated line and re-runs of recorded production images.');

export const gphoto2Camera = z
  .strictObject({
    type: z.literal('gphoto2'),
    model: z.string().optional().describe('Camera model as listed by `gphoto2 --auto-detect`; first camera if unset.'),
    port: z.string().optional().describe('Port such as "usb:001,004"; first matching camera if unset.'),
    keep_on_camera: z
      .boolean()
      .default(false)
      .describe(
        'Leave each picture on the camera card after download; by default it is deleted so the card never fills.',
      ),
    timeout_ms: timeoutMs,
  })
  .describe('A USB/PTP camera through libgphoto2 (node-gphoto2).');

export const httpCamera = z
  .strictObject({
    type: z.literal('http'),
    url: z
      .url({ protocol: /^https?$/ })
      .describe(
        'Snapshot URL returning one JPEG/PNG per GET (http or https; credentials go in username/password_env).',
      ),
    username: z.string().optional().describe('HTTP basic-auth user.'),
    password_env: z
      .string()
      .default('LINESIDE_CAMERA_PASSWORD')
      .describe(
        'Environment variable holding the password; a systemd credential file $CREDENTIALS_DIRECTORY/<this name, lower-cased> takes precedence. Empty is an error.',
      ),
    max_bytes: z
      .number()
      .int()
      .min(1024)
      .max(256 * 1024 * 1024)
      .default(32 * 1024 * 1024)
      .describe('Bytes: a snapshot larger than this is refused (LS_CAMERA_ERROR) instead of filling memory.'),
    timeout_ms: timeoutMs,
  })
  .describe('An IP camera snapshot URL.');

export const cameraSection = z
  .discriminatedUnion('type', [folderCamera, gphoto2Camera, httpCamera])
  .describe('The camera, chosen by `type`.');

export type FolderCameraConfig = z.infer<typeof folderCamera>;
export type Gphoto2CameraConfig = z.infer<typeof gphoto2Camera>;
export type HttpCameraConfig = z.infer<typeof httpCamera>;
export type CameraConfig = z.infer<typeof cameraSection>;
