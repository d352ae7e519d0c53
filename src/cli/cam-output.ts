import path from 'node:path';
import sharp from 'sharp';
import type { Explanation, Inspection } from '../domain/ports.js';

/**
 * `classify --cam DIR`: judge each image through explain() (the same inspection as inspect()) and write its heat map
 * as DIR/NAME.cam.png, grey, at the model input size, white where the evidence for "defective" is strongest. NAME is
 * the image's file name without extension (the dataset's names are unique; a repeated name is overwritten).
 */
export function camJudge(
  explain: (image: Buffer) => Promise<Explanation>,
  dir: string,
): (image: Buffer, file: string) => Promise<Inspection> {
  return async (image, file) => {
    const { inspection, heatmap } = await explain(image);
    const grey = Buffer.alloc(heatmap.values.length);
    heatmap.values.forEach((value, i) => {
      grey[i] = Math.round(value * 255);
    });
    await sharp(grey, { raw: { width: heatmap.width, height: heatmap.height, channels: 1 } })
      .toColourspace('b-w')
      .png()
      .toFile(path.join(dir, `${path.parse(file).name}.cam.png`));
    return inspection;
  };
}
