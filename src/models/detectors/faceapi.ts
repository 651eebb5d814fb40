/**
 * face-api's detectors (SSD MobileNetV1, Tiny Face Detector), each followed by face-api's
 * 68-point landmark net (the iBUG 300-W points dlib uses).
 */
import type { Detector, DetectedFace } from './detector.js';
import { meanPoint, pt } from './detector.js';
import { loadFaceApi, tf } from '../runtime.js';
import type { Landmarks } from '../../core/records.js';
import type { DetectorId } from '../catalogue.js';

function landmarks68(p: number[][]): Landmarks {
  const at = (i: number) => pt(p[i]);
  return {
    leftEye: meanPoint(p.slice(36, 42)),
    rightEye: meanPoint(p.slice(42, 48)),
    noseTip: at(30),
    mouthLeft: at(48),
    mouthRight: at(54),
    leftEyeOuter: at(36),
    leftEyeInner: at(39),
    rightEyeInner: at(42),
    rightEyeOuter: at(45),
    noseBase: at(33),
  };
}

function faceapiDetector(id: Extract<DetectorId, 'ssd' | 'tiny'>): Detector {
  return {
    id,
    async detect(img, opts) {
      const net = id === 'ssd' ? 'ssdMobilenetv1' : 'tinyFaceDetector';
      const faceapi = await loadFaceApi([net, 'faceLandmark68Net']);
      const options = id === 'ssd'
        ? new faceapi.SsdMobilenetv1Options({ minConfidence: opts.minScore, maxResults: opts.maxFaces })
        : new faceapi.TinyFaceDetectorOptions({ scoreThreshold: opts.minScore, inputSize: 416 });
      const input = tf().tensor3d(img.data, [img.height, img.width, 3], 'int32');
      try {
        const res = await faceapi.detectAllFaces(input as never, options).withFaceLandmarks();
        const faces: DetectedFace[] = res.slice(0, opts.maxFaces).map((r) => {
          const b = r.detection.box;
          const mesh = r.landmarks.positions.map((q) => [q.x, q.y]);
          return { box: [b.x, b.y, b.width, b.height], score: r.detection.score, landmarks: landmarks68(mesh), mesh };
        });
        return faces;
      } finally {
        input.dispose();
      }
    },
  };
}

export const ssd = faceapiDetector('ssd');
export const tiny = faceapiDetector('tiny');
