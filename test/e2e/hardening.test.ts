/**
 * Input that used to hang or lose data: each is refused at once with one line (the CLI's exit code
 * 2). The verbs in this process (the CLI's own input reader and record writer too); a spawned CLI
 * only for pipes and stdin.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import type { FaceRecord } from '../../dist/index.js';
import { InputStream, readInputs } from '../../dist/cli/inputs.js';
import { RecordWriter } from '../../dist/cli/output.js';
import { DEMO, ROOT, oneLine, runCli, tempDir } from '../helpers/cli.js';
import { asPrinted, collect, engine, facekit, rejection, using } from '../helpers/engine.js';

const { buildGallery, folderGallery } = facekit;
const vector = (r: FaceRecord | Record<string, unknown>) => (r as FaceRecord).embedding!.vector;
/** The records as the next command of a pipe reads them. */
const piped = (records: FaceRecord[]) => asPrinted(records) as unknown as FaceRecord[];


describe('non-regular files', () => {
  it('refuses a FIFO given as an image, a records file or a gallery, instead of waiting forever', async () => {
    const dir = tempDir();
    const fifo = (name: string) => {
      const p = join(dir, name);
      execFileSync('mkfifo', [p]);
      return p;
    };
    expect((await rejection(engine().detect(fifo('f.jpg')))).line).toMatch(/f\.jpg: not a regular file/);
    // `facekit align r.ndjson`: the CLI's reader of its arguments
    expect((await rejection(readInputs([fifo('r.ndjson')]))).line).toMatch(/r\.ndjson: not a regular file/);
    // `facekit verify photo --db g.json`
    expect((await rejection(using(fifo('g.json'), (g) => g.identify(join(DEMO, 'sample2.jpg'))))).line).toMatch(/g\.json: not a regular file/);
    expect((await rejection(engine().detect('/dev/zero'))).line).toMatch(/\/dev\/zero: not a regular file/);
  }, 30_000);
});

describe('files that records point to', () => {
  it('a second align or normalize run with other settings does not overwrite the first run\'s files', async () => {
    const photo = join(DEMO, 'sample2.jpg');
    const dir = tempDir();
    // `facekit align PHOTO --out-dir A` is extractEach (it makes the folder; extract(photo) does not, see the report)
    const first = await collect(engine().extractEach([photo], { upTo: 'align', alignDir: join(dir, 'a') }));
    const second = await collect(engine().extractEach([photo], { upTo: 'align', rotate: false, alignDir: join(dir, 'a') }));
    const p1 = first[0]!.aligned!.path;
    const p2 = second[0]!.aligned!.path;
    expect(p1).not.toBe(p2);
    // `align | normalize - | represent -`, and a normalize with another scheme into the same folder meanwhile
    const n1 = await collect(engine().extractEach(piped(first), { normDir: join(dir, 'n') }));
    await collect(engine().extractEach(piped(first), { scheme: 'facenet', normDir: join(dir, 'n') }));
    const staged = await collect(engine().representEach(piped(n1)));
    const oneShot = await engine().represent(photo);
    const diff = Math.max(...vector(staged[0]!).map((x, i) => Math.abs(x - vector(oneShot[0]!)[i]!)));
    expect(diff).toBeLessThan(1e-6);
  });

  it('refuses a crop or tensor that changed since its record was written', async () => {
    const photo = join(DEMO, 'sample2.jpg');
    const dir = tempDir();
    const al = piped(await collect(engine().extractEach([photo], { upTo: 'align', alignDir: join(dir, 'a') })));
    copyFileSync(al[1]!.aligned!.path, al[0]!.aligned!.path); // face 0's crop now shows face 1
    const out = await collect(engine().extractEach(al, { normDir: join(dir, 'n') }));
    expect(out[0]!.error?.code).toBe('bad_record');
    expect(out[0]!.error?.message).toMatch(/is not the one its record describes \(its sha256 differs\)/);
    expect(out[1]!.normalized).toBeDefined();
  });
});

describe('symbolic links', () => {
  it('follows linked photos and person folders, and does not loop', async () => {
    const dir = tempDir();
    const store = join(dir, 'store');
    mkdirSync(join(store, 'bo'), { recursive: true });
    copyFileSync(join(DEMO, 'sample2.jpg'), join(store, 'sample2.jpg'));
    copyFileSync(join(DEMO, 'sample3.jpg'), join(store, 'bo', 'b.jpg'));
    mkdirSync(join(dir, 'in', 'ana'), { recursive: true });
    symlinkSync(join(store, 'sample2.jpg'), join(dir, 'in', 'ana', 'a.jpg')); // a linked photo
    symlinkSync(join(store, 'bo'), join(dir, 'in', 'bo')); // a linked person folder
    symlinkSync(join(dir, 'in', 'ana'), join(dir, 'in', 'ana', 'again')); // a loop
    const s = await buildGallery(join(dir, 'in'), { db: join(dir, 'g.json'), engine: engine() });
    expect(s).toMatchObject({ images: 2, added: 2, galleryPeople: 2, failures: [] });
  });
});

describe('verify --db DIR (folderGallery)', () => {
  it('builds a gallery for a folder of people, caches it, and brings it up to date', async () => {
    const dir = tempDir();
    const cache = tempDir();
    for (const [who, photo] of [['ana', 'sample2.jpg'], ['bo', 'sample3.jpg']] as const) {
      mkdirSync(join(dir, 'people', who), { recursive: true });
      copyFileSync(join(DEMO, photo), join(dir, 'people', who, photo));
    }
    const first = await folderGallery(join(dir, 'people'), { cache, engine: engine() });
    expect(first.location.startsWith(join(cache, 'galleries'))).toBe(true);
    expect(first.summary).toMatchObject({ galleryPeople: 2, galleryFaces: 2, added: 2, pruned: 0, db: first.location });
    expect((await using(first.location, (g) => g.identify(join(DEMO, 'sample2.jpg'))))[0]!.identity).toBe('ana');
    rmSync(join(dir, 'people', 'bo'), { recursive: true });
    const second = await folderGallery(join(dir, 'people'), { cache, engine: engine() });
    expect(second.location).toBe(first.location);
    expect(second.summary).toMatchObject({ galleryPeople: 1, galleryFaces: 1, added: 0, pruned: 1 });
  });
});

describe('pipelines', () => {
  it('a pipeline whose first command fails reports the failure once, not once per stage', () => {
    const script = `node ${JSON.stringify(join(ROOT, 'bin', 'facekit.js'))}`;
    const res = spawnSync('bash', ['-c', `${script} detect /no/such.jpg | ${script} align - | ${script} normalize - | ${script} represent -; echo "codes \${PIPESTATUS[*]}" >&2`], { encoding: 'utf8' });
    const lines = res.stderr.trim().split('\n');
    expect(lines.filter((l) => l.startsWith('facekit:'))).toEqual(['facekit: /no/such.jpg: no such file or directory']);
    expect(lines.at(-1)).toBe('codes 2 2 2 2');
  });

  it('still says "nothing arrived on stdin" when stdin is not a shell pipe', async () => {
    const res = await runCli(['align', '-']); // a socket, as from another program
    expect(res.code).toBe(2);
    expect(oneLine(res.stderr)).toMatch(/stdin: nothing arrived on stdin/);
    const fromNull = spawnSync('bash', ['-c', `node ${JSON.stringify(join(ROOT, 'bin', 'facekit.js'))} align - < /dev/null`], { encoding: 'utf8' });
    expect(fromNull.status).toBe(2);
    expect(fromNull.stderr).toMatch(/nothing arrived on stdin/);
  });
});

describe('very large photos', () => {
  it('are shrunk while decoded, with records still in the original pixels', async () => {
    const sharp = (await import('sharp')).default;
    const dir = tempDir();
    const big = join(dir, 'big.jpg');
    await sharp(join(DEMO, 'sample1.jpg')).resize(6000, 4000).jpeg({ quality: 90 }).toFile(big);
    const small = await engine().detect(join(DEMO, 'sample1.jpg'));
    const recs = await engine().represent(big);
    expect(recs).toHaveLength(3);
    expect([recs[0]!.width, recs[0]!.height]).toEqual([6000, 4000]);
    const k = 6000 / small[0]!.width!;
    for (let i = 0; i < 4; i++) expect(Math.abs(recs[0]!.box![i]! - small[0]!.box![i]! * k)).toBeLessThan(0.03 * 6000);
    const one = await engine().represent(join(DEMO, 'sample1.jpg'));
    const a = vector(recs[0]!), b = vector(one[0]!);
    const na = Math.hypot(...a), nb = Math.hypot(...b);
    const d = Math.sqrt(a.reduce((s, x, i) => s + (x / na - b[i]! / nb) ** 2, 0));
    expect(d).toBeLessThan(0.2); // the same face, far under the default threshold (1.12)
  });
});

describe('found by the bad-input corpus (scripts/bad-input-corpus.mjs)', () => {
  it('refuses a gallery whose sidecar is a FIFO or whose model is unknown', async () => {
    const dir = tempDir();
    mkdirSync(join(dir, 'in', 'ana'), { recursive: true });
    copyFileSync(join(DEMO, 'sample2.jpg'), join(dir, 'in', 'ana', 'a.jpg'));
    const db = join(dir, 'g.json');
    await buildGallery(join(dir, 'in'), { db, engine: engine() });
    const header = JSON.parse(readFileSync(db, 'utf8')) as { model: string; vectors: { file: string } };
    const side = join(dir, header.vectors.file);
    const bytes = readFileSync(side);
    rmSync(side);
    execFileSync('mkfifo', [side]);
    // `facekit db list`
    expect((await rejection(using(db, (g) => g.list()))).line).toMatch(/vector file is not a regular file/);
    rmSync(side);
    writeFileSync(side, bytes);
    writeFileSync(db, JSON.stringify({ ...header, model: 'arcface' }));
    expect((await rejection(buildGallery(join(dir, 'in'), { db, engine: engine() }))).line).toMatch(/built with model "arcface", which this facekit does not have/);
  }, 30_000);

  it('--out inside a file or onto a folder, and an empty records file: one line, nothing left behind', async () => {
    const dir = tempDir();
    const record = { schema: 1, image: 'x.jpg', face: 0 } as FaceRecord;
    // `facekit detect photo --out photo/x.ndjson`: the CLI's record writer
    const inFile = new RecordWriter(join(DEMO, 'sample2.jpg', 'x.ndjson'));
    expect((await rejection((async () => { await inFile.write(record); await inFile.close(); })())).line).toMatch(/sample2\.jpg/);
    const asDir = new RecordWriter(dir);
    expect((await rejection((async () => { await asDir.write(record); await asDir.close(); })())).line).toMatch(/is a directory/);
    expect(readdirSync(join(dir, '..')).filter((f) => f.includes('.tmp-'))).toEqual([]);
    // `facekit align empty.ndjson`: said on stderr, and counted (exit code 2)
    writeFileSync(join(dir, 'empty.ndjson'), '\n\n');
    const said = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      const stream = new InputStream(await readInputs([join(dir, 'empty.ndjson')]));
      expect(await collect(stream.items())).toEqual([]);
      expect(stream.empty).toBe(1);
      expect(said.mock.calls.map((c) => String(c[0]))).toEqual([`facekit: ${join(dir, 'empty.ndjson')}: holds no records\n`]);
    } finally {
      said.mockRestore();
    }
  });
});
