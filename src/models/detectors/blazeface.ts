/**
 * The default detector: BlazeFace finds the faces (./blazeface-net.ts), FaceMesh fits its 468
 * points to each (./facemesh.ts), and the five points MTCNN would give are predicted from the mesh
 * (./mtcnn-five.ts). Both networks run on onnxruntime-node, or on tfjs where it cannot load.
 *
 * MTCNN's own ONet on BlazeFace's box was measured as the five points' source instead (no FaceMesh
 * at all): 98.53% on LFW through the whole pipeline against 99.07% with the mesh (README, "Models").
 */
import type { RgbImage } from '../../core/image.js';
import type { Detector, DetectedFace, DetectorOptions } from './detector.js';
import { decode, letterbox, type RawDetection } from './blazeface-decode.js';
import { blazefaceSession, blazefaceRows, defaultEngine, type DetectionEngine } from './blazeface-net.js';
import { faceMesh, meshBox, meshLandmarks, meshSession } from './facemesh.js';

/** BlazeFace's detections in `img` (image pixels), on the engine asked for. */
export async function blazefaceDetections(img: RgbImage, opts: DetectorOptions, engine: DetectionEngine = defaultEngine()): Promise<RawDetection[]> {
  const boxed = await letterbox(img);
  return decode(await blazefaceRows(boxed.input, engine), boxed, opts.maxFaces, opts.minScore);
}

export const blazeface: Detector = {
  id: 'blazeface',
  async detect(img, opts) {
    const engine = opts.engine ?? defaultEngine();
    const found = await blazefaceDetections(img, opts, engine);
    const faces: DetectedFace[] = [];
    for (const det of found) {
      const mesh = await faceMesh(img, det, engine);
      if (!mesh) continue; // the mesh model judges it no face
      faces.push({ box: meshBox(mesh, img.width, img.height), score: det.score, landmarks: meshLandmarks(mesh), mesh });
    }
    return faces;
  },
  async warm() {
    if (defaultEngine() === 'ort') await Promise.all([blazefaceSession(), meshSession()]);
  },
};
