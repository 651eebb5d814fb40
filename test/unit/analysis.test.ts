/** The pure parts of analyze: options, the shaping of model outputs, the crops, the record checks. */
import { describe, expect, it } from 'vitest';
import { analysisOptions, analyzeFaces, genderOf, parseActions, spoofVerdict, summarizeEmotion } from '../../src/stages/analysis.js';
import { AGE_GENDER_MODELS, EMOTION_MODELS, SPOOF_MODELS } from '../../src/models/analyzers/index.js';
import { cropRect, faceCrop, mirror, softmax, toNchw } from '../../src/models/analyzers/crop.js';
import { ssrMerge } from '../../src/models/analyzers/faceplugin.js';
import { checkRecord, EMOTION_LABELS, spoofRefusal, type FaceRecord } from '../../src/core/records.js';
import { buildPlan } from '../../src/pipeline/plan.js';
import { FacekitError } from '../../src/core/errors.js';
import type { RgbImage } from '../../src/core/image.js';

describe('parseActions', () => {
  it('takes a comma list or an array, in the canonical order, without duplicates', () => {
    expect(parseActions('spoof,age')).toEqual(['age', 'spoof']);
    expect(parseActions(' Gender , gender,emotion ')).toEqual(['gender', 'emotion']);
    expect(parseActions(['emotion'])).toEqual(['emotion']);
  });

  it('refuses an unknown action with a usage error naming the offered ones', () => {
    const err = (() => { try { parseActions('age,race'); } catch (e) { return e; } })();
    expect(err).toBeInstanceOf(FacekitError);
    expect((err as FacekitError).code).toBe('usage');
    expect((err as FacekitError).message).toBe('unknown action "race": analyze offers age, gender, emotion, spoof');
    expect(() => parseActions(',')).toThrow(/no action given/);
  });
});

describe('analysisOptions', () => {
  it('defaults to every action and the measured default models', () => {
    expect(analysisOptions()).toEqual({
      actions: ['age', 'gender', 'emotion', 'spoof'], ageGenderModel: 'faceapi', emotionModel: 'faceapi', spoofModel: 'minifasnet', spoofThreshold: 0.5,
    });
  });

  it('checks model names and the threshold', () => {
    expect(analysisOptions({ spoofModel: 'liveness', spoofThreshold: 0.8 })).toMatchObject({ spoofModel: 'liveness', spoofThreshold: 0.8 });
    expect(() => analysisOptions({ emotionModel: 'nope' })).toThrow(/unknown emotion model "nope" \(one of faceapi, human\)/);
    expect(() => analysisOptions({ spoofThreshold: 1.5 })).toThrow(/from 0 to 1/);
  });

  it('in a plan: --anti-spoof adds the spoof action, and only it', () => {
    expect(buildPlan({ upTo: 'represent', refuseSpoofs: true }).analysis?.actions).toEqual(['spoof']);
    expect(buildPlan({ upTo: 'detect', analysis: { actions: 'age' }, refuseSpoofs: true }).analysis?.actions).toEqual(['age', 'spoof']);
    expect(buildPlan({ upTo: 'represent' }).analysis).toBeUndefined();
  });
});

describe('analyzeFaces', () => {
  it('runs only the models its actions need (stand-in models count the calls)', async () => {
    const calls: string[] = [];
    const saved = { ag: AGE_GENDER_MODELS.faceapi.load, em: EMOTION_MODELS.faceapi.load, sp: SPOOF_MODELS.minifasnet.load };
    AGE_GENDER_MODELS.faceapi.load = { id: 'faceapi', estimate: async (_i, faces, want) => { calls.push(`age/gender ${want.age} ${want.gender}`); return faces.map(() => ({ age: 30.04, male: 0.2 })); } };
    EMOTION_MODELS.faceapi.load = { id: 'faceapi', classify: async (_i, faces) => { calls.push('emotion'); return faces.map(() => ({ ...summarizeEmotion({ sad: 1 }).emotion })); } };
    SPOOF_MODELS.minifasnet.load = { id: 'minifasnet', score: async (_i, faces) => { calls.push('spoof'); return faces.map(() => 0.1); } };
    try {
      const img: RgbImage = { data: new Uint8Array(30 * 30 * 3), width: 30, height: 30 };
      const face = { box: [5, 5, 20, 20] as [number, number, number, number] };
      const [a] = await analyzeFaces(img, [face], analysisOptions({ actions: 'gender,spoof' }));
      expect(calls).toEqual(['age/gender false true', 'spoof']);
      expect(a).toEqual({ gender: 'woman', genderScore: 0.8, spoof: { score: 0.1, real: false, threshold: 0.5, model: 'minifasnet' }, models: { gender: 'faceapi', spoof: 'minifasnet' } });
      calls.length = 0;
      const [b] = await analyzeFaces(img, [face], analysisOptions({ actions: 'emotion' }));
      expect(calls).toEqual(['emotion']);
      expect(b).toMatchObject({ dominantEmotion: 'sad', models: { emotion: 'faceapi' } });
      expect(await analyzeFaces(img, [], analysisOptions())).toEqual([]);
    } finally {
      AGE_GENDER_MODELS.faceapi.load = saved.ag;
      EMOTION_MODELS.faceapi.load = saved.em;
      SPOOF_MODELS.minifasnet.load = saved.sp;
    }
  });
});

describe('shaping model outputs', () => {
  it('summarizeEmotion: every label, probabilities that sum to 1, the most likely one', () => {
    const s = summarizeEmotion({ happy: 2, sad: 1, neutral: 1 });
    expect(Object.keys(s.emotion)).toEqual([...EMOTION_LABELS]);
    expect(s.emotion.happy).toBe(0.5);
    expect(s.dominantEmotion).toBe('happy');
    expect(Object.values(s.emotion).reduce((a, b) => a + b, 0)).toBeCloseTo(1, 3);
  });

  it('genderOf: the side above one half, with its probability', () => {
    expect(genderOf(0.9)).toEqual({ gender: 'man', genderScore: 0.9 });
    expect(genderOf(0.2)).toEqual({ gender: 'woman', genderScore: 0.8 });
    expect(genderOf(1.7).genderScore).toBe(1);
  });

  it('spoofVerdict: real at or above the threshold', () => {
    expect(spoofVerdict(0.5, 0.5, 'm')).toEqual({ score: 0.5, real: true, threshold: 0.5, model: 'm' });
    expect(spoofVerdict(0.49994, 0.5, 'm').real).toBe(false);
  });

  it('ssrMerge: SSR-Net\'s stagewise regression (all mass on the last bin of each stage, no shifts)', () => {
    const x = [0, 0, 1, 0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    // 2/3 + 2/9 + 2/27 of the range
    expect(ssrMerge(x, 101)).toBeCloseTo((2 / 3 + 2 / 9 + 2 / 27) * 101, 6);
    const p = softmax([0, Math.log(3)]);
    expect(p[0]).toBeCloseTo(0.25, 12);
    expect(p[1]).toBeCloseTo(0.75, 12);
  });
});

/** A grey image with a white dot at each "eye". */
function eyes(w: number, h: number, left: [number, number], right: [number, number]): RgbImage {
  const data = new Uint8Array(w * h * 3).fill(60);
  for (const [x, y] of [left, right]) {
    for (let dy = -1; dy <= 1; dy++) for (let dx = -1; dx <= 1; dx++) data.fill(255, ((y + dy) * w + x + dx) * 3, ((y + dy) * w + x + dx) * 3 + 3);
  }
  return { data, width: w, height: h };
}

const brightest = (img: RgbImage, rows: number[]): number[] => rows.map((y) => {
  let best = 0;
  for (let x = 0; x < img.width; x++) best = Math.max(best, img.data[(y * img.width + x) * 3]!);
  return best;
});

describe('faceCrop', () => {
  it('turns a tilted face upright: both eyes land on one row', () => {
    const img = eyes(200, 200, [80, 110], [120, 90]);
    const lm = { leftEye: [80, 110], rightEye: [120, 90], noseTip: [100, 110], mouthLeft: [90, 130], mouthRight: [110, 120] } as FaceRecord['landmarks'];
    const crop = faceCrop(img, { box: [60, 60, 80, 80], landmarks: lm }, { size: 64, scale: 1, upright: true });
    // the eyes' midpoint (100, 100) is the box centre: after the turn both sit on the middle row
    const mid = brightest(crop, [31, 32]);
    expect(Math.max(...mid)).toBeGreaterThan(200);
    let rowsWithEyes = 0;
    for (let y = 0; y < 64; y++) if (brightest(crop, [y])[0]! > 200) rowsWithEyes++;
    expect(rowsWithEyes).toBeLessThanOrEqual(4);
    const flat = faceCrop(img, { box: [60, 60, 80, 80], landmarks: lm }, { size: 64, scale: 1, upright: false });
    let flatRows = 0;
    for (let y = 0; y < 64; y++) if (brightest(flat, [y])[0]! > 200) flatRows++;
    expect(flatRows).toBeGreaterThan(rowsWithEyes);
  });

  it('cropRect: a grown square, or slid and shrunk to stay inside the image', () => {
    expect(cropRect({ width: 100, height: 100 }, [40, 40, 20, 10], { size: 8, scale: 2, upright: false })).toEqual({ cx: 50, cy: 45, w: 40, h: 40 });
    const inside = cropRect({ width: 100, height: 100 }, [0, 0, 40, 40], { size: 8, scale: 2.7, upright: false, insideImage: true, stretch: true });
    expect(inside.w).toBeCloseTo(99, 6);
    expect(inside.cx - inside.w / 2).toBeGreaterThanOrEqual(0);
    expect(cropRect({ width: 100, height: 100 }, [40, 40, 20, 20], { size: 8, scale: 1, upright: false, shiftY: 0.1 }).cy).toBe(52);
  });

  it('mirror and toNchw keep every value, in the layout the nets take', () => {
    const img: RgbImage = { data: Uint8Array.from([1, 2, 3, 4, 5, 6]), width: 2, height: 1 };
    expect(Array.from(mirror(img).data)).toEqual([4, 5, 6, 1, 2, 3]);
    expect(Array.from(toNchw(img, (v) => v))).toEqual([1, 4, 2, 5, 3, 6]);
  });
});

describe('records with analysis', () => {
  const base = { schema: 1, image: 'a.jpg', face: 0, box: [0, 0, 10, 10] };
  it('checkRecord takes an analysis object and refuses anything else', () => {
    expect(checkRecord({ ...base, analysis: { age: 30 } }, 'x').analysis).toEqual({ age: 30 });
    expect(() => checkRecord({ ...base, analysis: 3 }, 'x')).toThrow(/"analysis" must be an object/);
  });

  it('spoofRefusal: a spoof, a face never judged, and a real face', () => {
    const spoof = { score: 0.1, real: false, threshold: 0.5, model: 'minifasnet' };
    expect(spoofRefusal({ ...base, box: [0, 0, 10, 10], analysis: { spoof } })?.code).toBe('spoof');
    expect(spoofRefusal({ ...base, box: [0, 0, 10, 10] })?.code).toBe('missing_key');
    expect(spoofRefusal({ ...base, box: [0, 0, 10, 10], analysis: { spoof: { ...spoof, score: 0.9, real: true } } })).toBeUndefined();
  });
});
