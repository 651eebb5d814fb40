// A TypeScript user of the installed facekit tarball, type-checked against its published
// declarations (dist/index.d.ts) under strict NodeNext, then compiled and run.
//   node build/consumer.mjs <folder with sample1.jpg, sample2.jpg> <scratch folder>
// Prints one JSON line and must end by itself.
import {
  close, detect, Facekit, FacekitError, Gallery, represent, verify, VERSION,
  type AddResult, type ErrorCode, type FaceAnswer, type FaceRecord, type ImageInput, type Landmarks, type VerifyResult,
} from 'facekit';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

const [demo, work] = process.argv.slice(2);
if (!demo || !work) throw new Error('usage: node build/consumer.mjs DEMO_DIR WORK_DIR');
const baseline = {
  fetch: globalThis.fetch,
  unhandledRejection: process.listenerCount('unhandledRejection'),
  uncaughtException: process.listenerCount('uncaughtException'),
};
const sample1: ImageInput = join(demo, 'sample1.jpg');
const bytes2: Buffer = await readFile(join(demo, 'sample2.jpg'));

const faces: FaceRecord[] = await detect(sample1, { minScore: 0.5 });
const landmarks: Landmarks | undefined = faces[0]?.landmarks;
const reps: FaceRecord[] = await represent(bytes2, { name: 'sample2' });
const vector: number[] | undefined = reps[0]?.embedding?.vector;
const result: VerifyResult = await verify(sample1, bytes2, { names: ['sample1', 'sample2'] });
const verified: boolean = result.verified;

const galleryPath = join(work, 'ts-gallery', 'gallery.json');
const gallery: Gallery = await Gallery.open(galleryPath, { create: { model: 'resnet34', metric: 'euclidean_l2' } });
const added: AddResult = await gallery.add('person', bytes2);
await gallery.save();
const answers: FaceAnswer[] = await (await Gallery.open(galleryPath)).identify(bytes2, { topK: 1 });
const identity: string | null = answers[0]?.identity ?? null;

// A second engine of one's own, with the options of the class.
const engine = new Facekit({ backend: 'wasm', workers: 1 });
const own: FaceRecord[] = await engine.detect(bytes2, { maxFaces: 1 });
await engine.close();

let code: ErrorCode | undefined;
try {
  // @ts-expect-error a number is not an ImageInput: this line proves the declarations are typed, not `any`
  await detect(42);
} catch (err) {
  if (err instanceof FacekitError) code = err.code;
}

await close();
console.log(JSON.stringify({
  consumer: 'ts', version: VERSION, resolved: import.meta.resolve('facekit'),
  detect: { faces: faces.length, leftEye: landmarks?.leftEye ?? null },
  represent: { faces: reps.length, image: reps[0]?.image, length: vector?.length ?? 0 },
  verify: { verified, distance: result.distance, image1: result.image1, image2: result.image2 },
  gallery: { added: added.added.length, identity, answers: answers.length, candidates: answers[0]?.candidates.length },
  ownEngine: { faces: own.length },
  badInput: { code },
  sideEffects: {
    fetchUntouched: globalThis.fetch === baseline.fetch,
    unhandledRejection: [baseline.unhandledRejection, process.listenerCount('unhandledRejection')],
    uncaughtException: [baseline.uncaughtException, process.listenerCount('uncaughtException')],
  },
}));
