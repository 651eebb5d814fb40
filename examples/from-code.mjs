// facekit from code: detect, compare two photos, and ask a gallery who someone is.
// Run from the project root: node examples/from-code.mjs   (in your own project: import from 'facekit')
import { detect, verify, Gallery, close } from '../dist/index.js';

const demo = 'node_modules/@vladmandic/face-api/demo';

const faces = await detect(`${demo}/sample1.jpg`);
console.log(`${faces.length} faces; the largest at`, faces[0].box.map(Math.round), 'score', faces[0].score);

const same = await verify(`${demo}/sample2.jpg`, `${demo}/sample2.jpg`);
console.log('same photo twice:', same.verified, same.distance);

const gallery = await Gallery.open('/tmp/facekit-example/gallery.json', { create: true });
await gallery.add('sample2-lead', `${demo}/sample2.jpg`);   // the largest face of the photo
await gallery.save();                                       // atomic, under the gallery lock
const [answer] = await gallery.identify(`${demo}/sample2.jpg`);
console.log('who is this?', answer.identity, answer.distance, '(threshold', answer.threshold + ')');

await close(); // release the worker threads; the script then ends by itself
