// In-process benchmarks, run by bench/run.mjs: search over a synthetic 100 000-face gallery, and
// the time of each stage per face on the artists photos (one thread; tfjs on WASM, ONNX models on
// onnxruntime-node), with the default model and each recognizer's own forward time.
//   node bench/inprocess.mjs ARTISTS_DIR RUNS search,stages
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initBackend, loadGraphModel, tf } from '../dist/models/runtime.js';
import { InMemoryGallery } from '../dist/recognition/gallery.js';
import { loadGallery, saveGallery } from '../dist/recognition/gallery-file.js';
import { loadImage } from '../dist/core/image.js';
import { detectFaces, detectionRecords } from '../dist/stages/detection.js';
import { blazefaceRows } from '../dist/models/detectors/blazeface-net.js';
import { meshForward } from '../dist/models/detectors/facemesh.js';
import { ortAvailable } from '../dist/models/ort.js';
import { alignFace, TEMPLATES } from '../dist/stages/alignment.js';
import { normalizeCrop } from '../dist/stages/normalization.js';
import { loadRecognizer } from '../dist/models/recognizers/index.js';
import { DEFAULT_RECOGNIZER, RECOGNIZERS } from '../dist/models/catalogue.js';
import { represent } from '../dist/stages/representation.js';

const [artists, runsArg, onlyArg] = process.argv.slice(2);
const runs = Number(runsArg) || 3;
const only = (onlyArg ?? 'search,stages').split(',');
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const fmt = (x, d = 2) => Number(x).toFixed(d);
const now = () => performance.now();

if (only.includes('search')) {
  console.log('\n## exact search over a synthetic 100 000-face gallery (128-d, euclidean_l2, --index exact), one thread');
  const n = 100_000, dim = 128;
  let seed = 42;
  const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) - 0.5;
  const g = new InMemoryGallery({ model: 'resnet34', dim, metric: 'euclidean_l2', flip: true, detector: 'blazeface' });
  const items = [];
  for (let i = 0; i < n; i++) {
    const v = new Float32Array(dim);
    for (let k = 0; k < dim; k++) v[k] = rand();
    items.push({ entry: { label: `person_${i % 20000}`, image: `photos/person_${i % 20000}/${i}.jpg`, hash: i.toString(16).padStart(64, '0'), face: 0 }, vector: v });
  }
  g.indexPolicy = 'exact'; // the native exact scan; gallery-scale.mjs measures the HNSW graph
  g.addMany(items);
  const dir = mkdtempSync(join(tmpdir(), 'facekit-bench-'));
  const db = join(dir, 'gallery.json');
  await saveGallery(g, db, 'bench');
  const loads = [];
  for (let i = 0; i < runs; i++) {
    const t = now();
    await loadGallery(db);
    loads.push(now() - t);
  }
  const loaded = await loadGallery(db);
  const query = items[12345].vector;
  loaded.search(query, 'euclidean_l2', 5); // the first search computes the row lengths once
  const times = [];
  for (let i = 0; i < 30; i++) {
    const q = items[(i * 7919) % n].vector;
    const t = now();
    loaded.search(q, 'euclidean_l2', 5);
    times.push(now() - t);
  }
  const first = now();
  (await loadGallery(db)).search(query, 'euclidean_l2', 5);
  console.log(`load: median ${fmt(median(loads), 0)} ms (header + entries ${fmt(await metaBytes(db) / 1e6, 1)} MB + vectors ${fmt(n * dim * 4 / 1e6, 1)} MB); search: median ${fmt(median(times), 1)} ms per query (top-5 identities); load + first search: ${fmt(now() - first, 0)} ms`);
  rmSync(dir, { recursive: true, force: true });
}

if (only.includes('stages')) {
  const model = RECOGNIZERS[DEFAULT_RECOGNIZER];
  console.log(`\n## time per stage on the artists photos (one thread, default model ${model.id}), median over runs`);
  await initBackend('wasm');
  const files = readdirSync(artists).sort().flatMap((p) => readdirSync(join(artists, p)).sort().map((f) => join(artists, p, f)));
  const rec = await loadRecognizer(model.id);
  const t = TEMPLATES[model.template];
  const per = { decode: [], detect: [], align: [], normalize: [], represent: [], representNoFlip: [], chain: [] };
  for (let run = 0; run < runs; run++) {
    const sums = { decode: 0, detect: 0, align: 0, normalize: 0, represent: 0, representNoFlip: 0 };
    let faces = 0;
    for (const f of files) {
      let t0 = now();
      const img = await loadImage(f);
      sums.decode += now() - t0;
      t0 = now();
      const found = await detectFaces(img, { detector: 'blazeface', minScore: 0.5, maxFaces: 20, maxSide: 1280 });
      sums.detect += now() - t0;
      const recs = detectionRecords(f, img, found, 'blazeface', false).filter((r) => !r.error).slice(0, 1);
      for (const r of recs) {
        faces++;
        t0 = now();
        const a = alignFace(img, r, t);
        sums.align += now() - t0;
        t0 = now();
        const n = normalizeCrop(a.crop, model.scheme);
        sums.normalize += now() - t0;
        t0 = now();
        await represent(rec, [n.data], { flip: true });
        sums.represent += now() - t0;
        t0 = now();
        await represent(rec, [n.data], { flip: false });
        sums.representNoFlip += now() - t0;
      }
    }
    per.decode.push(sums.decode / files.length);
    per.detect.push(sums.detect / files.length);
    for (const k of ['align', 'normalize', 'represent', 'representNoFlip']) per[k].push(sums[k] / faces);
    per.chain.push((sums.decode + sums.detect + sums.align + sums.normalize + sums.represent) / files.length);
  }
  console.log(`per image: decode ${fmt(median(per.decode), 1)} ms, detect (BlazeFace + 2 FaceMesh passes) ${fmt(median(per.detect), 1)} ms`);
  console.log(`per face: align ${fmt(median(per.align), 2)} ms, normalize ${fmt(median(per.normalize), 2)} ms, represent ${fmt(median(per.represent), 1)} ms (with --flip; ${fmt(median(per.representNoFlip), 1)} ms without)`);
  console.log(`whole chain, one face per photo: ${fmt(median(per.chain), 1)} ms per image on one thread = ${fmt(1000 / median(per.chain), 1)} images/s per core`);
  // The models' own forward time: what the pipeline costs at the least.
  const fwd = async (pkg, file, shape) => {
    const m = await loadGraphModel(pkg, file);
    const x = tf().randomUniform(shape);
    for (let i = 0; i < 3; i++) tf().dispose(m.execute(x));
    const ts = [];
    for (let i = 0; i < 20; i++) {
      const t0 = now();
      const out = m.execute(x);
      await Promise.all((Array.isArray(out) ? out : [out]).map((o) => o.data()));
      tf().dispose(out);
      ts.push(now() - t0);
    }
    x.dispose();
    return median(ts);
  };
  const bfTfjs = await fwd('@vladmandic/human', 'models/blazeface.json', [1, 256, 256, 3]);
  const fmTfjs = await fwd('@vladmandic/human', 'models/facemesh.json', [1, 192, 192, 3]);
  // the same networks on onnxruntime (the default where it loads)
  const fwdOrt = async (run, size) => {
    const x = new Float32Array(size * size * 3).map(() => Math.random());
    for (let i = 0; i < 3; i++) await run(x);
    const ts = [];
    for (let i = 0; i < 20; i++) {
      const t0 = now();
      await run(x);
      ts.push(now() - t0);
    }
    return median(ts);
  };
  const bf = ortAvailable() ? await fwdOrt((x) => blazefaceRows(x, 'ort'), 256) : bfTfjs;
  const fm = ortAvailable() ? await fwdOrt((x) => meshForward(x, 'ort'), 192) : fmTfjs;
  const forward = {};
  for (const info of Object.values(RECOGNIZERS)) {
    const r = await loadRecognizer(info.id);
    const x = new Float32Array(info.size[0] * info.size[1] * 3).map(() => Math.random() - 0.5);
    for (let i = 0; i < 3; i++) await r.embed([x]);
    const rs = [];
    for (let i = 0; i < 20; i++) {
      const t0 = now();
      await r.embed([x]);
      rs.push(now() - t0);
    }
    forward[info.id] = median(rs);
  }
  const sum = bf + 2 * fm + 2 * forward[model.id];
  console.log(`model forward times: blazeface ${fmt(bf, 1)} ms, facemesh ${fmt(fm, 1)} ms (x2 passes) on ${ortAvailable() ? 'onnxruntime' : 'tfjs'} (tfjs WASM: ${fmt(bfTfjs, 1)} ms, ${fmt(fmTfjs, 1)} ms); recognizers, one face: ${Object.entries(forward).map(([id, ms]) => `${id} ${fmt(ms, 1)} ms`).join(', ')}`);
  console.log(`sum for a one-face image with ${model.id} (x2 with flip): ${fmt(sum, 1)} ms = ${fmt(1000 / sum, 1)} images/s per core at best; the whole chain above is ${fmt(median(per.chain) - sum, 1)} ms more`);
}

/** Bytes of a gallery's header and entries file (schema 2), or of its JSON (schema 1). */
async function metaBytes(db) {
  const { statSync, readFileSync } = await import('node:fs');
  const { dirname, join } = await import('node:path');
  const h = JSON.parse(readFileSync(db, 'utf8'));
  return statSync(db).size + (Array.isArray(h.entries) ? 0 : statSync(join(dirname(db), h.entries.file)).size);
}
