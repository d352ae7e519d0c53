import type { Lifecycle } from '../lifecycle.js';

export type Label = 'defective' | 'ok';

export interface CapturedImage {
  /** Encoded image bytes (JPEG, PNG, ...), kept in memory: drivers leave no temp files behind. */
  data: Buffer;
  /** Where it came from: file path, URL, camera model + path. For logs and the verdict payload. */
  source: string;
  /** Known ground truth (folder camera with def_front/ok_front sub-folders), so summaries can count escapes. */
  label?: Label;
}

/**
 * One camera. `capture` is called once per part; drivers serialise their own calls.
 * It rejects with LinesideError LS_CAMERA_TIMEOUT / LS_CAMERA_ERROR, and honours `signal`
 * (the pipeline aborts it at the capture deadline; a driver that cannot cancel must still settle or be ignored).
 */
export interface Camera extends Lifecycle {
  readonly type: string;
  capture(signal: AbortSignal): Promise<CapturedImage>;
}
