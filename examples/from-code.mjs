// facekit from code: find faces, compare two photos, build a gallery from a folder of people (with
// progress), ask it who someone is, measure how well it recognises them, and draw its embeddings.
// Run from the project root:  node examples/from-code.mjs [people folder]   (default ../shared/datasets/artists)
// In your own project: import ... from 'facekit'.
import { detect, verify, buildGallery, Gallery, evaluate, project, scatterPlot, writePlot, close } from '../dist/index.js';

const demo = 'node_modules/@vladmandic/face-api/demo';
const people = process.argv[2] ?? '../shared/datasets/artists';   // people/<name>/*.jpg
const work = '/tmp/facekit-example';

const faces = await detect(`${demo}/sample1.jpg`);
console.log(`${faces.length} faces; the largest at`, faces[0].box.map(Math.round), 'score', faces[0].score);

const same = await verify(`${demo}/sample2.jpg`, `${demo}/sample2.jpg`);
console.log('same photo twice:', same.verified, same.distance);

// One call builds (or brings up to date) a gallery: a file here; 'pglite:DIR' or 'postgres://...' work alike.
const summary = await buildGallery(people, {
  db: `${work}/gallery.json`,
  onProgress: ({ done, total }) => { if (done === total) console.log(`embedded ${done} of ${total} photos`); },
});
console.log(`gallery: ${summary.galleryPeople} people, ${summary.galleryFaces} faces (${summary.added} added, ${summary.skipped} already in)`);

const gallery = await Gallery.open(`${work}/gallery.json`);
const [answer] = await gallery.identify(`${people}/nina_simone/Nina-Simone.jpg`);
console.log('who is this?', answer.identity, answer.distance, `(threshold ${answer.threshold})`);
const strangers = await gallery.identify(`${demo}/sample1.jpg`);   // three people the gallery does not know
console.log('and these?', strangers.map((a) => `${a.identity ?? 'unknown'} (nearest ${a.candidates[0].label} at ${a.distance})`).join(', '));
await gallery.close();

// The report `facekit eval` prints: every pair of the folder, leave-one-out rank-1, the open set.
const { report } = await evaluate(people);
console.log(`rank-1 ${report.rank1.correct}/${report.rank1.total}; pair accuracy ${(100 * report.accuracy.mean).toFixed(2)}%`);

// The embeddings in 2-D, and their picture.
const projection = await project(`${work}/gallery.json`, { method: 'tsne' });
await writePlot(`${work}/people.png`, scatterPlot(projection, { labels: true }));
console.log(`${projection.points.length} points: ${projection.projection}; drawn to ${work}/people.png`);

await close(); // release the worker threads; the script then ends by itself
