/**
 * The web page of `facekit serve` in a real browser: Debian's chromium, headless, driven by
 * playwright-core, against the server in this test process (test/helpers/app.ts), whose gallery
 * is added through the API the page uses as well (POST /gallery).
 *
 * The Camera view, with a fake camera that plays a video made of real photos of the artists (a
 * .y4m written here, test/helpers/y4m.ts): boxes without names while the gallery is empty; then
 * boxes and the right names over the video, "nobody in view", its frame rate and latency, the
 * analysis badges; and what it says when there is no camera, the permission is refused, or the
 * page is not a secure context. Then the page itself: a person uploads a photo and reads the
 * matches off the page, with each face's analysis; compares two photos; lists the gallery; and
 * does it on a server that needs an API key. Screenshots: $TMPDIR/facekit-camera-*.png and
 * $TMPDIR/facekit-serve-*.png, for a person to look at.
 *
 * Where the time goes: while the camera is on, the page sends frame after frame to /verify and
 * /analyze, and the server runs the models on each; so the time the tests watch the video is the
 * cost. The video shows each photo for 3 s (a 12 s loop), and the frame-rate test stops once it
 * has counted its frames instead of watching for a fixed 20 s. Two browsers in all: one with the
 * fake camera (that refuses the camera to a page not granted it) and one without any camera, one
 * page in each, which the tests take in turn.
 */
import { existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { chromium, type Browser, type Locator, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ARTISTS, DEMO, hasArtists, tempDir } from '../helpers/cli.js';
import { serveInProcess, type InProcessServer } from '../helpers/app.js';
import { inject } from '../helpers/serve.js';
import { writeY4m } from '../helpers/y4m.js';

const CHROMIUM = '/usr/bin/chromium';
const hasChromium = existsSync(CHROMIUM);
if (!hasChromium) console.warn(`skipping the browser tests of facekit serve's page: ${CHROMIUM} is not installed (apt-get install chromium)`);
else if (!hasArtists) console.warn(`skipping the browser test of the Camera view with a fake camera: it plays photos of ${ARTISTS}, which is absent`);

/* ---------------------------------------------------------------- who is in the gallery */

const artist = (person: string, f: string) => join(ARTISTS, person, f);
/** The gallery: three photos per person. */
const PEOPLE: Record<string, string[]> = hasArtists
  ? {
    bob_dylan: ['Bob-Dylan.jpg', 'gettyimages-3315233.jpg', '290060c22dfd.jpg'].map((f) => artist('bob_dylan', f)),
    nina_simone: ['Nina-Simone.jpg', 'images.jpeg', '486x486bb.png'].map((f) => artist('nina_simone', f)),
    marvin_gaye: ['Marvin-Gaye-2.jpg', 'MarvinGaye_by_Jim_Britt.jpg', 'Marvin_Gaye_(1973).png'].map((f) => artist('marvin_gaye', f)),
  }
  : { group1: [join(DEMO, 'sample1.jpg')], group2: [join(DEMO, 'sample2.jpg')] };
const NAMES = Object.keys(PEOPLE);
const WHO = hasArtists ? { file: artist('bob_dylan', 'cronica-bob-dylan-672x438.jpg'), label: 'bob_dylan' } : { file: join(DEMO, 'sample1.jpg'), label: 'group1' };
const SAME = hasArtists ? [artist('nina_simone', 'images (1).jpeg'), artist('nina_simone', 'Nina-Simone.jpg')] : [join(DEMO, 'sample2.jpg'), join(DEMO, 'sample2.jpg')];
/** Three faces side by side: their labels collide at phone width unless laid out. */
const GROUP = join(DEMO, 'sample1.jpg');

/**
 * The camera's video: a moment with nobody, then other photos of the gallery's people (not in
 * it). A page that opens the camera sees the video from its start, and its first frames come
 * while the camera and the page start up: nobody is missed there.
 */
const VIDEO: ({ person: string; file: string } | 'nobody')[] = [
  'nobody',
  { person: 'bob_dylan', file: 'gettyimages-2639080-612x612.jpg' },
  { person: 'nina_simone', file: 'images (1).jpeg' },
  { person: 'marvin_gaye', file: 'images.jpeg' },
];

/* ---------------------------------------------------------------- the server, its gallery, the browsers */

/** Add `people` to a server's gallery, a request per person, as the page does. */
async function addPeople(srv: InProcessServer, people: Record<string, string[]>, headers: Record<string, string> = {}): Promise<void> {
  for (const [label, photos] of Object.entries(people)) {
    const fd = new FormData();
    fd.append('label', label);
    for (const p of photos) fd.append('images', new Blob([readFileSync(p)]), p.split('/').pop()!);
    const res = await inject(srv, 'post', '/gallery', { form: fd, headers });
    expect(res.status, res.text).toBe(201);
  }
}

let theServer: Promise<InProcessServer> | undefined;
/** The server of every test here but the API key's (one worker): its gallery is empty until withGallery(). */
function server(): Promise<InProcessServer> {
  return theServer ??= serveInProcess({ db: join(tempDir('facekit-serve-web-'), 'gallery.json'), workers: 1 });
}
let filled: Promise<InProcessServer> | undefined;
/** The server, once PEOPLE are in its gallery. */
function withGallery(): Promise<InProcessServer> {
  return filled ??= server().then(async (srv) => {
    await addPeople(srv, PEOPLE);
    return srv;
  });
}

const BROWSER_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync'];
/** A name for the server that is not localhost: a page there is no secure context. */
const INSECURE_HOST = 'camera.test';

/**
 * How long the fake camera shows each photo. Long enough for several frames per photo on a busy
 * machine (there, about 1.6 frames/s and 600 ms from capture to drawn boxes were measured), so
 * that a name is drawn while its photo is on screen; holdOn() checks the frozen frame anyway.
 * 6 s per photo made every wait for a given photo up to 24 s long.
 */
const SECONDS_PER_PHOTO = 3;

/** The fake camera's video: the VIDEO photos, SECONDS_PER_PHOTO each, 640x480 at 5 frames/s, looping. */
async function cameraVideo(): Promise<string> {
  const video = join(tempDir('facekit-camera-video-'), 'camera.y4m');
  const nobody = await sharp({ create: { width: 640, height: 480, channels: 3, background: '#6b7280' } }).png().toBuffer();
  await writeY4m(video, VIDEO.map((v) => (v === 'nobody' ? nobody : join(ARTISTS, v.person, v.file))), { width: 640, height: 480, fps: 5, secondsPerPhoto: SECONDS_PER_PHOTO });
  return video;
}

const browsers: Promise<Browser>[] = [];
let plain: Promise<Browser> | undefined;
/** A browser on a machine without a camera. */
function plainBrowser(): Promise<Browser> {
  if (!plain) browsers.push(plain = chromium.launch({ executablePath: CHROMIUM, headless: true, args: BROWSER_ARGS }));
  return plain;
}
let withCamera: Promise<Browser> | undefined;
/**
 * A browser with a fake camera (playing the artists' video where they are here, else chromium's
 * own test pattern) that asks before a page may use it, and where nobody answers the question:
 * a page is refused the camera unless its context was granted it (cameraContext()).
 */
function cameraBrowser(): Promise<Browser> {
  if (!withCamera) {
    browsers.push(withCamera = (async () => chromium.launch({
      executablePath: CHROMIUM, headless: true,
      args: [
        ...BROWSER_ARGS, '--use-fake-device-for-media-stream', '--deny-permission-prompts',
        ...(hasArtists ? [`--use-file-for-fake-video-capture=${await cameraVideo()}`] : []),
        `--host-resolver-rules=MAP ${INSECURE_HOST} 127.0.0.1`,
      ],
    }))());
  }
  return withCamera;
}
/**
 * The one page of each browser, which the tests take in turn (a new page is a renderer process
 * started: about a CPU-second). Its context may use the camera, where there is one.
 */
function onePage(browser: () => Promise<Browser>): () => Promise<Page> {
  let page: Promise<Page> | undefined;
  return () => page ??= (async () => (await (await browser()).newContext({ viewport: { width: 1280, height: 900 }, permissions: ['camera'] })).newPage())();
}
const cameraPage = onePage(cameraBrowser);
const plainPage = onePage(plainBrowser);

afterAll(async () => {
  await Promise.all(browsers.map(async (b) => (await b.catch(() => undefined))?.close()));
});

/* ---------------------------------------------------------------- looking at the page */

/** Collect what a page does wrong: console errors, uncaught exceptions, answers of 400 and above. */
function watch(page: Page): string[] {
  const problems: string[] = [];
  page.on('console', (m) => { if (m.type() === 'error') problems.push(m.text()); });
  page.on('pageerror', (e) => problems.push(e.message));
  page.on('response', (r) => { if (r.status() >= 400) problems.push(`${r.status()} ${r.url()}`); });
  return problems;
}

interface Rect { text: string; x: number; y: number; w: number; h: number }

/** Where the labels (and boxes) over a photo or the video are, and the photo itself. */
function layout(page: Page, stage: string): Promise<{ stage: Rect; boxes: Rect[]; tags: Rect[] }> {
  return page.evaluate((sel) => {
    const rect = (el: Element) => {
      const r = el.getBoundingClientRect();
      return { text: el.textContent ?? '', x: r.x, y: r.y, w: r.width, h: r.height };
    };
    const root = document.querySelector(sel)!;
    return { stage: rect(root), boxes: Array.from(root.querySelectorAll('.box')).map(rect), tags: Array.from(root.querySelectorAll('.tag')).map(rect) };
  }, stage);
}

/** Labels that overlap each other, and labels (and boxes) that stick out of the stage by more than `slack` px. */
function misplaced(o: { stage: Rect; boxes: Rect[]; tags: Rect[] }, slack: number, what = 'the video'): string[] {
  const out: string[] = [];
  const outside = (a: Rect) => a.x < o.stage.x - slack || a.y < o.stage.y - slack || a.x + a.w > o.stage.x + o.stage.w + slack || a.y + a.h > o.stage.y + o.stage.h + slack;
  for (const b of o.boxes) if (outside(b)) out.push(`a box sticks out of ${what}`);
  o.tags.forEach((a, i) => {
    if (outside(a)) out.push(`"${a.text}" sticks out of ${what}`);
    for (const b of o.tags.slice(i + 1)) if (a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h) out.push(`"${a.text}" overlaps "${b.text}"`);
  });
  return out;
}
/** The labels of a photo: each inside it (half a pixel of slack), none over another. */
const collisions = (l: { stage: Rect; tags: Rect[] }) => misplaced({ ...l, boxes: [] }, 0.5, 'the photo');

/** The 0..1 match score of a distance, as /compare answers it and the page shows it. */
const matchScore = (d: number, t: number) => Math.min(1, Math.max(0, 1 - d / (2 * t)));

async function allLoaded(imgs: Locator): Promise<boolean> {
  return imgs.evaluateAll((els) => els.length > 0 && els.every((i) => (i as HTMLImageElement).complete && (i as HTMLImageElement).naturalWidth > 0));
}

/* ---------------------------------------------------------------- the Camera view */

interface CameraStats { frames: number; latencies: number[]; analysis: boolean }
const stats = (page: Page) => page.evaluate(() => (window as unknown as { facekitCamera: { stats(): CameraStats } }).facekitCamera.stats());
const nextPaint = (page: Page) => page.evaluate(() => new Promise<void>((r) => requestAnimationFrame(() => requestAnimationFrame(() => r()))));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const drawn = (page: Page) => page.evaluate(() => ({
  identities: document.querySelector<HTMLElement>('#cam-stage')!.dataset.identities ?? '',
  frames: (window as unknown as { facekitCamera: { stats(): CameraStats } }).facekitCamera.stats().frames,
}));
const play = (page: Page) => page.evaluate(() => (document.querySelector('#cam-video') as HTMLVideoElement).play());
const overlay = (page: Page) => layout(page, '#cam-stage');

/**
 * Freeze the video on a frame where `name` (or any one of several names: whichever comes first)
 * alone is drawn, and wait until the boxes drawn are those of the frozen frame (two frames later:
 * the one in flight may be older): a screenshot then shows boxes over the frame they belong to,
 * not over the next photo of the video. Resolves with the name; play() resumes.
 */
async function holdOn(page: Page, name: string | string[], timeoutMs = 60_000): Promise<string> {
  const names = Array.isArray(name) ? name : [name];
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const now = await drawn(page);
    if (names.includes(now.identities)) {
      await page.evaluate(() => (document.querySelector('#cam-video') as HTMLVideoElement).pause());
      await expect.poll(async () => (await drawn(page)).frames, { timeout: 30_000 }).toBeGreaterThanOrEqual(now.frames + 2);
      if ((await drawn(page)).identities === now.identities) {
        await nextPaint(page);
        return now.identities;
      }
      await play(page);
    }
    await page.waitForTimeout(100);
  }
  throw new Error(`${names.join(' or ')} was not drawn alone within ${timeoutMs / 1000} s`);
}

/**
 * Open the page and its Camera tab, at 2 frames/s (the page's choice): every frame is the
 * server's work, and the tests need frames, not many of them (the frame-rate test asks for more).
 */
async function openCamera(page: Page, url: string): Promise<void> {
  await page.goto(url);
  await page.click('#tab-btn-camera');
  await page.selectOption('#cam-rate', '2');
}

/** The message the view shows instead of the video: its kind and words. */
async function cameraMessage(page: Page): Promise<{ kind: string; text: string }> {
  const m = page.locator('#cam-message');
  await m.waitFor({ state: 'visible', timeout: 15_000 });
  return { kind: (await m.getAttribute('data-kind')) ?? '', text: (await m.textContent()) ?? '' };
}

describe.skipIf(!hasChromium || !hasArtists)('facekit serve: the Camera view in chromium, with a fake camera', () => {
  let srv: InProcessServer;

  beforeAll(async () => {
    [srv] = await Promise.all([server(), cameraBrowser()]);
  });

  // first, while the gallery is still empty
  it('draws boxes without names while the gallery is empty, and says why', async () => {
    const page = await cameraPage();
    const errors = watch(page);
    await openCamera(page, srv.url);
    // the label's name (analysis badges, where the server has /analyze, follow it)
    await expect.poll(() => page.locator('#cam-stage .tag b').first().textContent().catch(() => null), { timeout: 60_000 }).toBe('face');
    expect(await page.textContent('#cam-note')).toMatch(/gallery is empty: boxes only/);
    expect(await page.locator('#cam-stage .box').count()).toBe(1);
    await page.screenshot({ path: join(tmpdir(), 'facekit-camera-empty-gallery.png'), fullPage: true });
    await page.click('#tab-btn-gallery'); // the camera goes
    expect(errors).toEqual([]);
  });

  describe('with a gallery', () => {
    let page: Page;
    let problems: string[];

    beforeAll(async () => {
      await withGallery();
      page = await cameraPage();
      problems = watch(page);
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
      while (Date.now() < deadline && (NAMES.some((p) => !seen.has(p)) || !nobodySeen)) {
        const now = await page.evaluate(() => ({
          identities: document.querySelector<HTMLElement>('#cam-stage')!.dataset.identities ?? '',
          note: document.querySelector('#cam-note')!.textContent ?? '',
        }));
        for (const name of now.identities.split(',').filter(Boolean)) seen.add(name);
        if (now.note.startsWith('No face in view')) nobodySeen = true;
        if (!shot && now.identities === 'bob_dylan') {
          await holdOn(page, 'bob_dylan');
          const o = await overlay(page);
          expect(misplaced(o, 1), JSON.stringify(o)).toEqual([]);
          expect(o.boxes.length).toBe(1);
          await page.screenshot({ path: join(tmpdir(), 'facekit-camera-1280.png'), fullPage: true });
          await play(page);
          shot = true;
        }
        await page.waitForTimeout(100);
      }
      console.info(`names drawn over the fake camera: ${[...seen].join(', ')}; "No face in view" seen: ${nobodySeen}`);
      expect([...seen].sort()).toEqual([...NAMES].sort());
      expect(nobodySeen).toBe(true);
      expect(shot).toBe(true);
      expect(await page.locator('#cam-stats').textContent()).toMatch(/frames\/s · latency \d+ ms/);
      expect(problems).toEqual([]);
    });

    it('measures its frame rate and its latency from capture to drawn boxes', async () => {
      // as fast as the server answers: one frame in flight, the next captured once it is drawn
      await page.selectOption('#cam-rate', '15');
      await page.waitForTimeout(1000);
      const before = await stats(page);
      const t0 = Date.now();
      // More than 5 frames within 20 s is the requirement: the count stops at the 6th frame
      // instead of watching a fixed 20 s (each frame is the server's work).
      let after = before;
      while (Date.now() - t0 < 20_000 && after.frames - before.frames <= 5) {
        await page.waitForTimeout(200);
        after = await stats(page);
      }
      const seconds = (Date.now() - t0) / 1000;
      const frames = after.frames - before.frames;
      const latencies = after.latencies.slice(before.latencies.length);
      const fps = frames / seconds;
      console.info(`camera view: ${fps.toFixed(2)} frames/s, median latency ${median(latencies)} ms from capture to drawn boxes ` +
        `(${frames} frames in ${seconds.toFixed(1)} s; 640x480 JPEG frames to POST /verify${after.analysis ? ' and /analyze' : ''}, ${srv.url})`);
      expect(frames).toBeGreaterThan(5);
      expect(median(latencies)).toBeLessThan(5000);
      await page.selectOption('#cam-rate', '2');
      expect(problems).toEqual([]);
    });

    it('keeps the labels on the video at 420 px', async () => {
      await page.setViewportSize({ width: 420, height: 860 });
      await nextPaint(page); // the labels are laid out again for the new size (a ResizeObserver)
      // the longest names (whichever comes first in the video)
      const name = await holdOn(page, ['nina_simone', 'marvin_gaye']);
      const o = await overlay(page);
      expect(o.tags.map((t) => t.text.slice(0, name.length))).toEqual([name]); // then any analysis
      expect(misplaced(o, 1), JSON.stringify(o)).toEqual([]);
      expect(o.stage.w).toBeLessThanOrEqual(420);
      await page.screenshot({ path: join(tmpdir(), 'facekit-camera-420.png'), fullPage: true });
      await play(page);
      await page.setViewportSize({ width: 1280, height: 900 });
      expect(problems).toEqual([]);
    });

    it('draws the analysis of each face next to its name when the server has /analyze', async () => {
      const doc = JSON.parse((await inject(srv, 'get', '/openapi.json')).text) as { paths: Record<string, unknown> };
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
      // The page has had the analysis since it opened the camera; a stand-in needs the page opened again.
      if (!real) await openCamera(page, srv.url);
      await holdOn(page, NAMES); // whoever comes first
      const badges = page.locator('#cam-stage .tag .cam-badges');
      expect(await badges.count()).toBe(1);
      expect(await badges.textContent()).toMatch(real ? /^(woman|man) \d+\w+(real|spoof)$/ : /^man 42neutralreal$/);
      const o = await overlay(page);
      expect(misplaced(o, 1), JSON.stringify(o)).toEqual([]);
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
      await page.setViewportSize({ width: 1280, height: 700 });
      const errors = watch(page);
      await openCamera(page, srv.url.replace('127.0.0.1', INSECURE_HOST));
      const m = await cameraMessage(page);
      expect(m.kind).toBe('insecure');
      expect(m.text).toMatch(/secure page.*https or on localhost.*http:\/\/localhost:\d+/s);
      expect(await page.locator('#cam-stage').isVisible()).toBe(false);
      await page.screenshot({ path: join(tmpdir(), 'facekit-camera-insecure.png'), fullPage: true });
      expect(errors).toEqual([]);
    });
  });
});

describe.skipIf(!hasChromium)('facekit serve: the Camera view in chromium, without a camera or without the permission', () => {
  let srv: InProcessServer;

  beforeAll(async () => {
    srv = await server();
  });

  /** The page opened on its Camera tab, at both widths: the message it shows. */
  async function messageOn(page: Page, name: string): Promise<{ kind: string; text: string }> {
    await page.setViewportSize({ width: 1280, height: 700 });
    const errors = watch(page);
    await openCamera(page, srv.url);
    const m = await cameraMessage(page);
    expect(await page.locator('#cam-stage').isVisible()).toBe(false);
    await page.screenshot({ path: join(tmpdir(), `facekit-camera-${name}-1280.png`), fullPage: true });
    await page.setViewportSize({ width: 420, height: 700 });
    await page.screenshot({ path: join(tmpdir(), `facekit-camera-${name}-420.png`), fullPage: true });
    expect(errors).toEqual([]);
    return m;
  }

  it('says that there is no camera', async () => {
    // the permission is granted, but the machine has no camera
    const m = await messageOn(await plainPage(), 'no-camera');
    expect(m.kind).toBe('no-camera');
    expect(m.text).toMatch(/No camera found/);
  });

  it('says that the camera permission was refused', async () => {
    // a camera exists (fake device) but this page was not granted it, and nobody answers the
    // browser's question: it is refused
    const page = await cameraPage();
    await page.context().clearPermissions();
    try {
      const m = await messageOn(page, 'denied');
      expect(m.kind).toBe('denied');
      expect(m.text).toMatch(/permission was refused/);
    } finally {
      await page.context().grantPermissions(['camera']);
    }
  });
});

/* ---------------------------------------------------------------- the page */

describe.skipIf(!hasChromium)('facekit serve: the web page in chromium', () => {
  let srv: InProcessServer;
  let page: Page;
  let problems: string[];

  beforeAll(async () => {
    [srv, page] = await Promise.all([withGallery(), plainPage()]);
    await page.setViewportSize({ width: 1280, height: 900 });
    problems = watch(page);
  });

  it('shows only the drop zone before a photo is chosen: no empty result, no broken image', async () => {
    await page.goto(srv.url);
    await expect.poll(() => page.textContent('#status')).toMatch(new RegExp(`gallery: ${NAMES.length} people`));
    for (const sel of ['#who-result', '#who-stage', '#who-img', '#who-error', '#who-busy']) {
      expect(await page.locator(sel).isVisible(), `${sel} is hidden`).toBe(false);
    }
    expect(await page.locator('#who-result').evaluate((el) => getComputedStyle(el).display)).toBe('none');
    expect(await page.locator('#drop-who').isVisible()).toBe(true);
    await page.screenshot({ path: join(tmpdir(), 'facekit-serve-empty.png'), fullPage: true });
  });

  it('shows who is in an uploaded photo, boxed, with the gallery matches and their photos', async () => {
    await page.setInputFiles('#file-who', WHO.file);
    const card = page.locator('.face-card').first();
    await card.waitFor({ timeout: 30_000 });
    expect(await card.getAttribute('data-identity')).toBe(WHO.label);
    expect(await card.getAttribute('data-verdict')).toBe('match');
    const candidates = await card.locator('.candidate').evaluateAll((els) => els.map((el) => ({
      label: el.getAttribute('data-label'),
      distance: Number(el.getAttribute('data-distance')),
      photoLoaded: (el.querySelector('img') as HTMLImageElement | null)?.naturalWidth ?? 0,
    })));
    expect(candidates[0]!.label).toBe(WHO.label);
    expect(candidates.length).toBe(Math.min(3, NAMES.length));
    for (let i = 1; i < candidates.length; i++) expect(candidates[i]!.distance).toBeGreaterThanOrEqual(candidates[i - 1]!.distance);
    // every candidate's gallery photo came from the server and decoded
    await expect.poll(() => card.locator('.candidate img').evaluateAll((imgs) => imgs.every((i) => (i as HTMLImageElement).complete && (i as HTMLImageElement).naturalWidth > 0))).toBe(true);
    expect(await page.locator('#who-stage .box').count()).toBeGreaterThanOrEqual(1);
    // faces are numbered as the API and the CLI number them, from 0
    expect(await page.locator('#who-stage .tag').first().textContent()).toBe(`0: ${WHO.label}`);
    expect(await card.getAttribute('data-face')).toBe('0');
    expect(await card.locator('.face-no').textContent()).toBe('Face 0');
    const shot = join(tmpdir(), 'facekit-serve-who.png');
    await page.screenshot({ path: shot, fullPage: true });
    console.info(`screenshot: ${shot}; matches read off the page: ${candidates.map((c) => `${c.label} ${c.distance}`).join(', ')}`);
  });

  it('labels the faces of a group photo without overlaps, numbered as the API numbers them, at 420 px and 1280 px', async () => {
    const api = await inject(srv, 'post', '/verify', { form: { image: `@${GROUP}` } });
    const faces = (JSON.parse(api.text) as { faces: { face: number }[] }).faces.map((f) => f.face);
    expect(faces).toEqual([0, 1, 2]);
    await page.setViewportSize({ width: 420, height: 900 });
    await page.setInputFiles('#file-who', GROUP);
    await expect.poll(() => page.locator('.face-card').count(), { timeout: 30_000 }).toBe(3);
    await expect.poll(() => page.locator('#who-stage .tag').count()).toBe(3);
    expect(await page.locator('.face-card').evaluateAll((els) => els.map((e) => e.getAttribute('data-face')))).toEqual(['0', '1', '2']);
    expect(await page.locator('.face-card .face-no').allTextContents()).toEqual(['Face 0', 'Face 1', 'Face 2']);
    expect((await page.locator('#who-stage .tag').allTextContents()).map((t) => t.split(':')[0]).sort()).toEqual(['0', '1', '2']);
    const narrow = await layout(page, '#who-stage');
    await page.screenshot({ path: join(tmpdir(), 'facekit-serve-group-420.png'), fullPage: true });
    expect(collisions(narrow), JSON.stringify(narrow)).toEqual([]);
    // the labels are laid out again when the photo changes size
    await page.setViewportSize({ width: 1280, height: 900 });
    await expect.poll(async () => collisions(await layout(page, '#who-stage'))).toEqual([]);
    await expect.poll(async () => (await layout(page, '#who-stage')).stage.w).toBeGreaterThan(400);
    await page.screenshot({ path: join(tmpdir(), 'facekit-serve-group-1280.png'), fullPage: true });
  });

  it('shows age, gender, emotion and real/spoof on each face card', async () => {
    // the group photo of the test before: each card gets its badges from POST /analyze
    await expect.poll(() => page.locator('.face-card .badge[data-kind="spoof"]').count(), { timeout: 30_000 }).toBe(3);
    const badges = await page.locator('.face-card[data-face="0"] .badge').evaluateAll((els) => els.map((e) => [e.getAttribute('data-kind'), e.textContent]));
    expect(badges.map((b) => b[0])).toEqual(['age', 'gender', 'emotion', 'spoof']);
    expect(badges[0]![1]).toMatch(/^age \d+$/);
    expect(badges[1]![1]).toMatch(/^(woman|man) \d+%$/);
    expect(badges[2]![1]).toMatch(/^(angry|disgust|fear|happy|sad|surprise|neutral) \d+%$/);
    expect(badges[3]![1]).toMatch(/^(real ✓|spoof ✗)$/);
    await page.screenshot({ path: join(tmpdir(), 'facekit-serve-badges.png'), fullPage: true });
  });

  it('compares two photos in the second tab', async () => {
    await page.click('#tab-btn-compare');
    await page.setInputFiles('#file-a', SAME[0]!);
    await page.setInputFiles('#file-b', SAME[1]!);
    const result = page.locator('#cmp-result');
    await result.waitFor({ state: 'visible', timeout: 30_000 });
    expect(await result.getAttribute('data-verdict')).toBe('same');
    // the verdict and the distance; a percentage only as the calibrated match score, never "similarity"
    const text = (await result.textContent())!;
    expect(text).toMatch(/Same person.*distance (\d\.\d+) \(threshold 1\.12, euclidean_l2\) · match score (\d+)%/s);
    expect(text).not.toMatch(/similarity/i);
    const numbers = /distance (\d\.\d+) \(threshold (\d\.\d+)[^)]*\) · match score (\d+)%/.exec(text)!;
    expect(Number(numbers[3])).toBe(Math.round(100 * matchScore(Number(numbers[1]), Number(numbers[2]))));
    expect(Number(numbers[3])).toBeGreaterThanOrEqual(50);
    expect(await page.locator('#tab-compare .box').count()).toBe(2);
    await page.screenshot({ path: join(tmpdir(), 'facekit-serve-compare.png'), fullPage: true });
  });

  it('lists the gallery, and the page raised no errors', async () => {
    await page.click('#tab-btn-gallery');
    await expect.poll(() => page.locator('.person').count()).toBe(NAMES.length);
    await expect.poll(() => allLoaded(page.locator('.person img'))).toBe(true);
    expect(await page.locator('.person img').count()).toBe(Object.values(PEOPLE).flat().length);
    await page.screenshot({ path: join(tmpdir(), 'facekit-serve-gallery.png'), fullPage: true });
    expect(problems).toEqual([]);
  });
});

describe.skipIf(!hasChromium)('facekit serve: the web page in chromium, with an API key', () => {
  const KEY = 'page-test-key-4f1c';
  let srv: InProcessServer;
  let page: Page;
  const errors: string[] = [];

  beforeAll(async () => {
    [srv, page] = await Promise.all([
      serveInProcess({ db: join(tempDir('facekit-serve-web-key-'), 'gallery.json'), workers: 1, apiKey: KEY }),
      plainPage(),
    ]);
    const [label, photos] = Object.entries(PEOPLE)[0]!;
    await addPeople(srv, { [label]: photos }, { authorization: `Bearer ${KEY}` });
    // a server of another origin (port): the page's sessionStorage there starts empty
    await page.setViewportSize({ width: 1280, height: 900 });
    page.on('pageerror', (e) => errors.push(e.message));
  });

  it('asks for the key when the API answers 401, keeps it for the tab, and sends it as X-API-Key', async () => {
    await page.goto(srv.url);
    const form = page.locator('#key-form');
    await form.waitFor({ state: 'visible', timeout: 10_000 });
    expect(await page.textContent('#status')).toMatch(/needs an API key/);
    await page.screenshot({ path: join(tmpdir(), 'facekit-serve-key-asked.png'), fullPage: true });
    // a wrong key is refused and asked for again
    await page.fill('#key-input', 'not-the-key');
    await page.click('#key-form button');
    await expect.poll(() => page.textContent('#key-msg')).toMatch(/refused/);
    expect(await form.isVisible()).toBe(true);
    expect(await page.evaluate(() => sessionStorage.getItem('facekit-api-key'))).toBeNull();
    // the right one opens the page
    const sent: (string | null)[] = [];
    page.on('request', (r) => { if (r.url().includes('/health')) sent.push(r.headers()['x-api-key'] ?? null); });
    await page.fill('#key-input', KEY);
    await page.click('#key-form button');
    await expect.poll(() => page.textContent('#status')).toMatch(/gallery: 1 people/);
    expect(await form.isVisible()).toBe(false);
    expect(sent).toContain(KEY);
    expect(await page.evaluate(() => sessionStorage.getItem('facekit-api-key'))).toBe(KEY);
    // who is this, with the gallery's photos fetched with the key
    await page.setInputFiles('#file-who', WHO.file);
    const card = page.locator('.face-card').first();
    await card.waitFor({ timeout: 30_000 });
    await expect.poll(() => allLoaded(card.locator('.candidate img'))).toBe(true);
    await page.click('#tab-btn-gallery');
    await expect.poll(() => allLoaded(page.locator('.person img'))).toBe(true);
    // a reload in the same tab keeps the key
    await page.reload();
    await expect.poll(() => page.textContent('#status')).toMatch(/gallery: 1 people/);
    expect(await form.isVisible()).toBe(false);
    await page.screenshot({ path: join(tmpdir(), 'facekit-serve-key-ok.png'), fullPage: true });
    expect(errors).toEqual([]);
  });
});
