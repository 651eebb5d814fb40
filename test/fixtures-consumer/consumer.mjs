// A plain JavaScript user of the installed facekit tarball.
//   node consumer.mjs <folder with sample1.jpg, sample2.jpg> <scratch folder>
// Prints one JSON line and must end by itself (no process.exit): close() releases everything.
import './baseline.mjs';
import { detect, represent, verify, buildGallery, Gallery, evaluate, project, close, FacekitError, VERSION } from 'facekit';
import { copyFile, mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';

const [demo, work] = process.argv.slice(2);
if (!demo || !work) throw new Error('usage: node consumer.mjs DEMO_DIR WORK_DIR');
const base = globalThis.__facekitBaseline;
const sample1 = join(demo, 'sample1.jpg');
const sample2 = join(demo, 'sample2.jpg');
const out = { consumer: 'js', version: VERSION, resolved: import.meta.resolve('facekit') };

const faces = await detect(sample1);
out.detect = {
  faces: faces.length,
  allHaveBoxScoreLandmarks: faces.every((f) => Array.isArray(f.box) && f.box.length === 4 && typeof f.score === 'number' && f.landmarks !== undefined && Array.isArray(f.landmarks.leftEye)),
  first: { face: faces[0]?.face, detector: faces[0]?.detector, score: faces[0]?.score },
};

const bytes2 = await readFile(sample2);
const reps = await represent(bytes2);
out.represent = { faces: reps.length, image: reps[0]?.image, model: reps[0]?.embedding?.model, dim: reps[0]?.embedding?.dim, length: reps[0]?.embedding?.vector.length };

const same = await verify(sample1, sample1);
out.verify = { verified: same.verified, distance: same.distance, threshold: same.threshold, metric: same.metric, model: same.model, warnings: same.warnings.length };

const galleryPath = join(work, 'js-gallery', 'gallery.json');
const created = await Gallery.open(galleryPath, { create: true });
const added = await created.add('person', [bytes2]);
// two photos: a batch, which runs on worker threads that close() must release
const others = await created.add('others', [join(demo, 'sample3.jpg'), join(demo, 'sample4.jpg')]);
await created.save();
const reopened = await Gallery.open(galleryPath);
const answers = await reopened.identify(sample2);
out.gallery = {
  added: added.added.length, skipped: added.skipped.length, failed: added.failed.length, othersAdded: others.added.length,
  size: reopened.size, people: Object.fromEntries(await reopened.people()), meta: reopened.meta,
  answers: answers.length, identity: answers[0]?.identity, distance: answers[0]?.distance, verdict: answers[0]?.verdict,
};

// A folder of people (people/<name>/*.jpg) into a gallery with buildGallery, with progress; then
// who is this, how good is it (evaluate), and a 2-D picture of it (project).
const people = join(work, 'people');
for (const [name, photos] of Object.entries({ alpha: ['sample1.jpg', 'sample2.jpg'], beta: ['sample3.jpg', 'sample4.jpg'] })) {
  await mkdir(join(people, name), { recursive: true });
  for (const p of photos) await copyFile(join(demo, p), join(people, name, p));
}
const progress = [];
const built = await buildGallery(people, { db: join(work, 'people-db', 'gallery.json'), onProgress: (p) => progress.push(`${p.done}/${p.total}`) });
const peopleGallery = await Gallery.open(join(work, 'people-db', 'gallery.json'));
const [who] = await peopleGallery.identify(join(people, 'beta', 'sample3.jpg'));
const { report } = await evaluate(people, { cache: null });
const projection = await project(join(work, 'people-db', 'gallery.json'), { method: 'pca' });
out.folder = {
  added: built.added, galleryPeople: built.galleryPeople, progress, identity: who?.identity,
  evaluated: { kind: report.kind, pairs: report.pairs.scored, rank1: report.rank1?.total },
  projected: projection.points.length,
};

try {
  await detect(join(work, 'no-such-photo.jpg'));
  out.missing = { rejected: false };
} catch (err) {
  out.missing = { rejected: true, isFacekitError: err instanceof FacekitError, name: err?.name, code: err?.code, message: err?.message };
}

out.sideEffects = {
  fetchUntouched: globalThis.fetch === base.fetch,
  unhandledRejection: [base.unhandledRejection, process.listenerCount('unhandledRejection')],
  uncaughtException: [base.uncaughtException, process.listenerCount('uncaughtException')],
};

await close();
console.log(JSON.stringify(out));
