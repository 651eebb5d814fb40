/**
 * The web page's Camera view in a real browser: Debian's chromium, headless, driven by
 * playwright-core, with a fake camera that plays a video made of real photos of the artists
 * (a .y4m written here, test/helpers/y4m.ts). A small gallery is built with `facekit build-db`;
 * the page must draw boxes and the right names over the video, say so when nobody is in view,
 * measure its frame rate and latency, and explain itself when there is no camera, the permission
 * is refused, or the page is not a secure context. Screenshots: $TMPDIR/facekit-camera-*.png.
 */
import { existsSync, mkdirSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ARTISTS, hasArtists, runCli, tempDir } from '../helpers/cli.js';
import { serve, type Served } from '../helpers/serve.js';
import { writeY4m } from '../helpers/y4m.js';

const CHROMIUM = '/usr/bin/chromium';
const hasChromium = existsSync(CHROMIUM);
if (!hasChromium) console.warn(`skipping the browser test of the Camera view: ${CHROMIUM} is not installed (apt-get install chromium)`);
else if (!hasArtists) console.warn(`skipping the browser test of the Camera view: its fake camera plays photos of ${ARTISTS}, which is absent`);

/** The gallery: three photos per person. */
const GALLERY: Record<string, string[]> = {
  bob_dylan: ['Bob-Dylan.jpg', 'gettyimages-3315233.jpg', '290060c22dfd.jpg'],
  nina_simone: ['Nina-Simone.jpg', 'images.jpeg', '486x486bb.png'],
  marvin_gaye: ['Marvin-Gaye-2.jpg', 'MarvinGaye_by_Jim_Britt.jpg', 'Marvin_Gaye_(1973).png'],
};
/** The video: other photos of the same people (not in the gallery), and a moment with nobody. */
const VIDEO: ({ person: string; file: string } | 'nobody')[] = [
  { person: 'bob_dylan', file: 'gettyimages-2639080-612x612.jpg' },
  'nobody',
  { person: 'nina_simone', file: 'images (1).jpeg' },
  { person: 'marvin_gaye', file: 'images.jpeg' },
];
const PEOPLE = Object.keys(GALLERY);

const BROWSER_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync'];
/** A name for the server that is not localhost: a page there is no secure context. */
const INSECURE_HOST = 'camera.test';

let fakeVideo: Promise<string> | undefined;
/** The fake camera's video (written once per file): the VIDEO photos, 6 s each (long enough that a label drawn late, on a loaded machine, still belongs to the photo on screen when the test pauses the video), 640x480 at 5 frames/s. */
function cameraVideo(): Promise<string> {
  return fakeVideo ??= (async () => {
    const video = join(tempDir('facekit-camera-video-'), 'camera.y4m');
    const nobody = await sharp({ create: { width: 640, height: 480, channels: 3, background: '#6b7280' } }).png().toBuffer();
    await writeY4m(video, VIDEO.map((v) => (v === 'nobody' ? nobody : join(ARTISTS, v.person, v.file))), { width: 640, height: 480, fps: 5, secondsPerPhoto: 6 });
    return video;
  })();
}
const fakeCamera = (video: string) => ['--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream', `--use-file-for-fake-video-capture=${video}`];

/** Collect what a page does wrong: console errors, uncaught exceptions, answers of 400 and above. */
function watch(page: Page): string[] {
  const problems: string[] = [];
  page.on('console', (m) => { if (m.type() === 'error') problems.push(m.text()); });
  page.on('pageerror', (e) => problems.push(e.message));
  page.on('response', (r) => { if (r.status() >= 400) problems.push(`${r.status()} ${r.url()}`); });
  return problems;
}

interface Rect { text: string; x: number; y: number; w: number; h: number }

/** The camera stage, its boxes and its labels, as laid out on the page. */
function overlay(page: Page): Promise<{ stage: Rect; boxes: Rect[]; tags: Rect[] }> {
  return page.evaluate(() => {
    const rect = (el: Element) => {
      const r = el.getBoundingClientRect();
      return { text: el.textContent ?? '', x: r.x, y: r.y, w: r.width, h: r.height };
    };
    const stage = document.querySelector('#cam-stage')!;
    return { stage: rect(stage), boxes: Array.from(stage.querySelectorAll('.box')).map(rect), tags: Array.from(stage.querySelectorAll('.tag')).map(rect) };
  });
}

/** Labels that overlap each other, and boxes or labels that stick out of the video. */
function misplaced(o: { stage: Rect; boxes: Rect[]; tags: Rect[] }): string[] {
  const out: string[] = [];
  const outside = (a: Rect) => a.x < o.stage.x - 1 || a.y < o.stage.y - 1 || a.x + a.w > o.stage.x + o.stage.w + 1 || a.y + a.h > o.stage.y + o.stage.h + 1;
  for (const b of o.boxes) if (outside(b)) out.push('a box sticks out of the video');
  o.tags.forEach((a, i) => {
    if (outside(a)) out.push(`"${a.text}" sticks out of the video`);
    for (const b of o.tags.slice(i + 1)) if (a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h) out.push(`"${a.text}" overlaps "${b.text}"`);
  });
  return out;
}

interface CameraStats { frames: number; latencies: number[]; analysis: boolean }
const stats = (page: Page) => page.evaluate(() => (window as unknown as { facekitCamera: { stats(): CameraStats } }).facekitCamera.stats());
const nextPaint = (page: Page) => page.evaluate(() => new Promise<void>((r) => requestAnimationFrame(() => requestAnimationFrame(() => r()))));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const drawn = (page: Page) => page.evaluate(() => ({
  identities: document.querySelector<HTMLElement>('#cam-stage')!.dataset.identities ?? '',
  frames: (window as unknown as { facekitCamera: { stats(): CameraStats } }).facekitCamera.stats().frames,
}));
const play = (page: Page) => page.evaluate(() => (document.querySelector('#cam-video') as HTMLVideoElement).play());

/**
 * Freeze the video on a frame where `name` alone is drawn, and wait until the boxes drawn are those
 * of the frozen frame (two frames later: the one in flight may be older): a screenshot then shows
 * boxes over the frame they belong to, not over the next photo of the video. play() resumes.
 */
async function holdOn(page: Page, name: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const now = await drawn(page);
    if (now.identities === name) {
      await page.evaluate(() => (document.querySelector('#cam-video') as HTMLVideoElement).pause());
      await expect.poll(async () => (await drawn(page)).frames, { timeout: 30_000 }).toBeGreaterThanOrEqual(now.frames + 2);
      if ((await drawn(page)).identities === name) return nextPaint(page);
      await play(page);
    }
    await page.waitForTimeout(100);
  }
  throw new Error(`${name} was not drawn alone within ${timeoutMs / 1000} s`);
}

/** Open the page and its Camera tab. */
async function openCamera(page: Page, url: string): Promise<void> {
  await page.goto(url);
  await page.click('#tab-btn-camera');
}

/** The message the view shows instead of the video: its kind and words. */
async function cameraMessage(page: Page): Promise<{ kind: string; text: string }> {
  const m = page.locator('#cam-message');
  await m.waitFor({ state: 'visible', timeout: 15_000 });
  return { kind: (await m.getAttribute('data-kind')) ?? '', text: (await m.textContent()) ?? '' };
}

describe.skipIf(!hasChromium || !hasArtists)('facekit serve: the Camera view in chromium, with a fake camera', () => {
  let srv: Served;
  let browser: Browser;
  let page: Page;
  let problems: string[];

  beforeAll(async () => {
    const dir = tempDir('facekit-camera-');
    const people = join(dir, 'people');
    for (const [person, files] of Object.entries(GALLERY)) {
      mkdirSync(join(people, person), { recursive: true });
      for (const f of files) symlinkSync(join(ARTISTS, person, f), join(people, person, f));
    }
    const db = join(dir, 'gallery.json');
    const [built, video] = await Promise.all([runCli(['build-db', people, '--db', db]), cameraVideo()]);
    expect(built.code, built.stderr).toBe(0);
    [srv, browser] = await Promise.all([
      serve(['--db', db]),
      chromium.launch({
        executablePath: CHROMIUM, headless: true,
        args: [...BROWSER_ARGS, ...fakeCamera(video), `--host-resolver-rules=MAP ${INSECURE_HOST} 127.0.0.1`],
      }),
    ]);
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    problems = watch(page);
  });

  afterAll(async () => {
    await browser?.close();
    await srv?.stop();
  });

  it('draws boxes and the right names over the live video, and says when nobody is in view', async () => {
    await openCamera(page, srv.url);
    await page.locator('#cam-stage').waitFor({ state: 'visible', timeout: 30_000 });
    expect(await page.locator('#cam-message').isVisible()).toBe(false);
    // the video loops through the people: watch until each was named and the empty moment was seen
    const seen = new Set<string>();
    let nobodySeen = false;
    let shot = false;
    const deadline = Date.now() + 90_000;
    while (Date.now() < deadline && (PEOPLE.some((p) => !seen.has(p)) || !nobodySeen)) {
      const now = await page.evaluate(() => ({
        identities: document.querySelector<HTMLElement>('#cam-stage')!.dataset.identities ?? '',
        note: document.querySelector('#cam-note')!.textContent ?? '',
      }));
      for (const name of now.identities.split(',').filter(Boolean)) seen.add(name);
      if (now.note.startsWith('No face in view')) nobodySeen = true;
      if (!shot && now.identities === 'bob_dylan') {
        await holdOn(page, 'bob_dylan');
        const o = await overlay(page);
        expect(misplaced(o), JSON.stringify(o)).toEqual([]);
        expect(o.boxes.length).toBe(1);
        await page.screenshot({ path: join(tmpdir(), 'facekit-camera-1280.png'), fullPage: true });
        await play(page);
        shot = true;
      }
      await page.waitForTimeout(100);
    }
    console.info(`names drawn over the fake camera: ${[...seen].join(', ')}; "No face in view" seen: ${nobodySeen}`);
    expect([...seen].sort()).toEqual([...PEOPLE].sort());
    expect(nobodySeen).toBe(true);
    expect(shot).toBe(true);
    expect(await page.locator('#cam-stats').textContent()).toMatch(/frames\/s · latency \d+ ms/);
    expect(problems).toEqual([]);
  });

  it('measures its frame rate and its latency from capture to drawn boxes', async () => {
    // as fast as the server answers: one frame in flight, the next captured once it is drawn
    await page.selectOption('#cam-rate', '15');
    await page.waitForTimeout(3000);
    const before = await stats(page);
    const t0 = Date.now();
    await page.waitForTimeout(20_000);
    const after = await stats(page);
    const seconds = (Date.now() - t0) / 1000;
    const frames = after.frames - before.frames;
    const latencies = after.latencies.slice(before.latencies.length);
    const fps = frames / seconds;
    console.info(`camera view: ${fps.toFixed(2)} frames/s, median latency ${median(latencies)} ms from capture to drawn boxes ` +
      `(${frames} frames in ${seconds.toFixed(1)} s; 640x480 JPEG frames to POST /verify${after.analysis ? ' and /analyze' : ''}, ${srv.url})`);
    expect(frames).toBeGreaterThan(5);
    expect(median(latencies)).toBeLessThan(5000);
    await page.selectOption('#cam-rate', '8');
    expect(problems).toEqual([]);
  });

  it('keeps the labels on the video at 420 px', async () => {
    await page.setViewportSize({ width: 420, height: 860 });
    await nextPaint(page); // the labels are laid out again for the new size (a ResizeObserver)
    await holdOn(page, 'nina_simone');
    const o = await overlay(page);
    expect(o.tags.map((t) => t.text.slice(0, 'nina_simone'.length))).toEqual(['nina_simone']); // then any analysis
    expect(misplaced(o), JSON.stringify(o)).toEqual([]);
    expect(o.stage.w).toBeLessThanOrEqual(420);
    await page.screenshot({ path: join(tmpdir(), 'facekit-camera-420.png'), fullPage: true });
    await play(page);
    await page.setViewportSize({ width: 1280, height: 900 });
    expect(problems).toEqual([]);
  });

  it('draws the analysis of each face next to its name when the server has /analyze', async () => {
    const doc = await (await fetch(`${srv.url}/openapi.json`)).json() as { paths: Record<string, unknown> };
    const real = '/analyze' in doc.paths;
    if (!real) {
      // Without the server's own /analyze (another branch adds it): a stand-in that the page finds
      // as it would find the real one, in /openapi.json, and that answers /detect's faces with a
      // fixed analysis. It tests the page's side: discovery, pairing faces by box, the badges.
      await page.route('**/openapi.json', async (route) => {
        const res = await route.fetch();
        const d = await res.json() as { paths: Record<string, unknown> };
        d.paths['/analyze'] = { post: { summary: 'stand-in', requestBody: { content: { 'multipart/form-data': { schema: { properties: { image: {}, enforce_detection: {} } } } } } } };
        await route.fulfill({ response: res, json: d });
      });
      await page.route('**/analyze', async (route) => {
        const res = await route.fetch({ url: `${srv.url}/detect` });
        const d = await res.json() as { faces: object[] };
        d.faces = d.faces.map((f) => ({ ...f, analysis: { age: 41.6, gender: 'man', genderScore: 0.93, emotion: { neutral: 0.71, happy: 0.2, sad: 0.09 }, dominantEmotion: 'neutral', spoof: { score: 0.97, real: true } } }));
        await route.fulfill({ response: res, json: d });
      });
    }
    await openCamera(page, srv.url);
    await holdOn(page, 'bob_dylan');
    const badges = page.locator('#cam-stage .tag .cam-badges');
    expect(await badges.count()).toBe(1);
    expect(await badges.textContent()).toMatch(real ? /^(woman|man) \d+\w+(real|spoof)$/ : /^man 42neutralreal$/);
    const o = await overlay(page);
    expect(misplaced(o), JSON.stringify(o)).toEqual([]);
    await page.screenshot({ path: join(tmpdir(), 'facekit-camera-analysis-1280.png'), fullPage: true });
    await play(page);
    expect(await page.locator('#cam-stats').textContent()).toMatch(/with analysis/);
    expect(problems).toEqual([]);
  });

  it('lets the camera go when another tab is opened', async () => {
    await page.click('#tab-btn-gallery');
    await page.unrouteAll({ behavior: 'wait' }); // the stand-in /analyze: no new frame is sent, the one in flight is answered
    expect(await page.evaluate(() => (document.querySelector('#cam-video') as HTMLVideoElement).srcObject)).toBeNull();
    expect(await page.textContent('#cam-toggle')).toBe('Start camera');
    expect(problems).toEqual([]);
  });

  it('explains that a page that is not a secure context gets no camera', async () => {
    const insecure = await browser.newPage({ viewport: { width: 1280, height: 700 } });
    const errors = watch(insecure);
    await openCamera(insecure, srv.url.replace('127.0.0.1', INSECURE_HOST));
    const m = await cameraMessage(insecure);
    expect(m.kind).toBe('insecure');
    expect(m.text).toMatch(/secure page.*https or on localhost.*http:\/\/localhost:\d+/s);
    expect(await insecure.locator('#cam-stage').isVisible()).toBe(false);
    await insecure.screenshot({ path: join(tmpdir(), 'facekit-camera-insecure.png'), fullPage: true });
    await insecure.close();
    expect(errors).toEqual([]);
  });
});

describe.skipIf(!hasChromium)('facekit serve: the Camera view in chromium, without a camera or without a gallery', () => {
  let srv: Served;

  beforeAll(async () => {
    srv = await serve(['--db', join(tempDir('facekit-camera-none-'), 'gallery.json'), '--workers', '1']);
  });
  afterAll(async () => { await srv?.stop(); });

  /** A browser with `args`, the page opened on its Camera tab, at both widths: the message it shows. */
  async function messageWith(args: string[], name: string): Promise<{ kind: string; text: string }> {
    const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: [...BROWSER_ARGS, ...args] });
    try {
      const page = await browser.newPage({ viewport: { width: 1280, height: 700 } });
      const errors = watch(page);
      await openCamera(page, srv.url);
      const m = await cameraMessage(page);
      expect(await page.locator('#cam-stage').isVisible()).toBe(false);
      await page.screenshot({ path: join(tmpdir(), `facekit-camera-${name}-1280.png`), fullPage: true });
      await page.setViewportSize({ width: 420, height: 700 });
      await page.screenshot({ path: join(tmpdir(), `facekit-camera-${name}-420.png`), fullPage: true });
      expect(errors).toEqual([]);
      return m;
    } finally {
      await browser.close();
    }
  }

  it('says that there is no camera', async () => {
    // the permission is granted (fake UI), but the machine has no camera
    const m = await messageWith(['--use-fake-ui-for-media-stream'], 'no-camera');
    expect(m.kind).toBe('no-camera');
    expect(m.text).toMatch(/No camera found/);
  });

  it('says that the camera permission was refused', async () => {
    // a camera exists (fake device) but nobody allows it: headless chromium refuses the prompt
    const m = await messageWith(['--use-fake-device-for-media-stream', '--deny-permission-prompts'], 'denied');
    expect(m.kind).toBe('denied');
    expect(m.text).toMatch(/permission was refused/);
  });

  it.skipIf(!hasArtists)('draws boxes without names while the gallery is empty, and says why', async () => {
    const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: [...BROWSER_ARGS, ...fakeCamera(await cameraVideo())] });
    try {
      const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
      const errors = watch(page);
      await openCamera(page, srv.url);
      // the label's name (analysis badges, where the server has /analyze, follow it)
      await expect.poll(() => page.locator('#cam-stage .tag b').first().textContent().catch(() => null), { timeout: 60_000 }).toBe('face');
      expect(await page.textContent('#cam-note')).toMatch(/gallery is empty: boxes only/);
      expect(await page.locator('#cam-stage .box').count()).toBe(1);
      await page.screenshot({ path: join(tmpdir(), 'facekit-camera-empty-gallery.png'), fullPage: true });
      expect(errors).toEqual([]);
    } finally {
      await browser.close();
    }
  });
});
