/**
 * The web page of `facekit serve` in a real browser: Debian's chromium, headless, driven by
 * playwright-core. A person uploads a photo and reads the matches off the page; then compares two
 * photos; then does it all on a server that needs an API key. Screenshots go to
 * $TMPDIR/facekit-serve-*.png for a person to look at.
 */
import { existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { chromium, type BrowserContext, type Locator, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ARTISTS, DEMO, hasArtists, tempDir } from '../helpers/cli.js';
import { serve, type Served } from '../helpers/serve.js';

const CHROMIUM = '/usr/bin/chromium';
const hasChromium = existsSync(CHROMIUM);
if (!hasChromium) console.warn(`skipping the browser test of facekit serve: ${CHROMIUM} is not installed (apt-get install chromium)`);

const artist = (person: string, f: string) => join(ARTISTS, person, f);
const PEOPLE: Record<string, string[]> = hasArtists
  ? {
    bob_dylan: ['Bob-Dylan.jpg', 'gettyimages-3315233.jpg', '290060c22dfd.jpg'].map((f) => artist('bob_dylan', f)),
    nina_simone: ['Nina-Simone.jpg', 'images.jpeg', '486x486bb.png'].map((f) => artist('nina_simone', f)),
    marvin_gaye: ['Marvin-Gaye-2.jpg', 'MarvinGaye_by_Jim_Britt.jpg'].map((f) => artist('marvin_gaye', f)),
  }
  : { group1: [join(DEMO, 'sample1.jpg')], group2: [join(DEMO, 'sample2.jpg')] };
const WHO = hasArtists ? { file: artist('bob_dylan', 'cronica-bob-dylan-672x438.jpg'), label: 'bob_dylan' } : { file: join(DEMO, 'sample1.jpg'), label: 'group1' };
const SAME = hasArtists ? [artist('nina_simone', 'images (1).jpeg'), artist('nina_simone', 'Nina-Simone.jpg')] : [join(DEMO, 'sample2.jpg'), join(DEMO, 'sample2.jpg')];
/** Three faces side by side: their labels collide at phone width unless laid out. */
const GROUP = join(DEMO, 'sample1.jpg');

const BROWSER_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync'];

interface Rect { text: string; x: number; y: number; w: number; h: number }

/** Where the labels over a photo are, and the photo itself. */
async function labelRects(page: Page, stage: string): Promise<{ stage: Rect; tags: Rect[] }> {
  return page.evaluate((sel) => {
    const rect = (el: Element) => {
      const r = el.getBoundingClientRect();
      return { text: el.textContent ?? '', x: r.x, y: r.y, w: r.width, h: r.height };
    };
    const root = document.querySelector(sel)!;
    return { stage: rect(root), tags: Array.from(root.querySelectorAll('.tag')).map(rect) };
  }, stage);
}

/** Pairs of labels that overlap, and labels that stick out of the photo. */
function collisions(l: { stage: Rect; tags: Rect[] }): string[] {
  const out: string[] = [];
  const { stage, tags } = l;
  tags.forEach((a, i) => {
    if (a.x < stage.x - 0.5 || a.y < stage.y - 0.5 || a.x + a.w > stage.x + stage.w + 0.5 || a.y + a.h > stage.y + stage.h + 0.5) out.push(`"${a.text}" sticks out of the photo`);
    for (const b of tags.slice(i + 1)) {
      if (a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h) out.push(`"${a.text}" overlaps "${b.text}"`);
    }
  });
  return out;
}

/** The 0..1 match score of a distance, as /compare answers it and the page shows it. */
const matchScore = (d: number, t: number) => Math.min(1, Math.max(0, 1 - d / (2 * t)));

async function allLoaded(imgs: Locator): Promise<boolean> {
  return imgs.evaluateAll((els) => els.length > 0 && els.every((i) => (i as HTMLImageElement).complete && (i as HTMLImageElement).naturalWidth > 0));
}

describe.skipIf(!hasChromium)('facekit serve: the web page in chromium', () => {
  let srv: Served;
  let context: BrowserContext;
  let page: Page;
  const problems: string[] = [];

  beforeAll(async () => {
    const [s, ctx] = await Promise.all([
      serve(['--db', join(tempDir('facekit-serve-web-'), 'gallery.json')]),
      chromium.launchPersistentContext(tempDir('facekit-chromium-'), {
        executablePath: CHROMIUM,
        headless: true,
        args: BROWSER_ARGS,
        viewport: { width: 1280, height: 900 },
      }),
    ]);
    srv = s;
    context = ctx;
    // The gallery, through the API the page uses as well.
    for (const [label, photos] of Object.entries(PEOPLE)) {
      const fd = new FormData();
      fd.append('label', label);
      for (const p of photos) fd.append('images', new Blob([readFileSync(p)]), basename(p));
      const res = await fetch(`${srv.url}/gallery`, { method: 'POST', body: fd });
      expect(res.status).toBe(201);
    }
    page = context.pages()[0] ?? (await context.newPage());
    page.on('console', (m) => { if (m.type() === 'error') problems.push(m.text()); });
    page.on('pageerror', (e) => problems.push(e.message));
    page.on('response', (r) => { if (r.status() >= 400) problems.push(`${r.status()} ${r.url()}`); });
  });

  afterAll(async () => {
    await context?.close();
    srv?.proc.kill('SIGTERM');
  });

  it('shows only the drop zone before a photo is chosen: no empty result, no broken image', async () => {
    await page.goto(srv.url);
    await expect.poll(() => page.textContent('#status')).toMatch(new RegExp(`gallery: ${Object.keys(PEOPLE).length} people`));
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
    expect(candidates.length).toBe(Math.min(3, Object.keys(PEOPLE).length));
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
    const api = await fetch(`${srv.url}/verify`, { method: 'POST', body: (() => {
      const fd = new FormData();
      fd.append('image', new Blob([readFileSync(GROUP)]), basename(GROUP));
      return fd;
    })() });
    const faces = ((await api.json()) as { faces: { face: number }[] }).faces.map((f) => f.face);
    expect(faces).toEqual([0, 1, 2]);
    await page.setViewportSize({ width: 420, height: 900 });
    await page.setInputFiles('#file-who', GROUP);
    await expect.poll(() => page.locator('.face-card').count(), { timeout: 30_000 }).toBe(3);
    await expect.poll(() => page.locator('#who-stage .tag').count()).toBe(3);
    expect(await page.locator('.face-card').evaluateAll((els) => els.map((e) => e.getAttribute('data-face')))).toEqual(['0', '1', '2']);
    expect(await page.locator('.face-card .face-no').allTextContents()).toEqual(['Face 0', 'Face 1', 'Face 2']);
    expect((await page.locator('#who-stage .tag').allTextContents()).map((t) => t.split(':')[0]).sort()).toEqual(['0', '1', '2']);
    const narrow = await labelRects(page, '#who-stage');
    await page.screenshot({ path: join(tmpdir(), 'facekit-serve-group-420.png'), fullPage: true });
    expect(collisions(narrow), JSON.stringify(narrow)).toEqual([]);
    // the labels are laid out again when the photo changes size
    await page.setViewportSize({ width: 1280, height: 900 });
    await expect.poll(async () => collisions(await labelRects(page, '#who-stage'))).toEqual([]);
    await expect.poll(async () => (await labelRects(page, '#who-stage')).stage.w).toBeGreaterThan(400);
    await page.screenshot({ path: join(tmpdir(), 'facekit-serve-group-1280.png'), fullPage: true });
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
    await expect.poll(() => page.locator('.person').count()).toBe(Object.keys(PEOPLE).length);
    await expect.poll(() => allLoaded(page.locator('.person img'))).toBe(true);
    expect(await page.locator('.person img').count()).toBe(Object.values(PEOPLE).flat().length);
    await page.screenshot({ path: join(tmpdir(), 'facekit-serve-gallery.png'), fullPage: true });
    expect(problems).toEqual([]);
  });
});

describe.skipIf(!hasChromium)('facekit serve: the web page in chromium, with an API key', () => {
  const KEY = 'page-test-key-4f1c';
  let srv: Served;
  let context: BrowserContext;
  let page: Page;
  const errors: string[] = [];

  beforeAll(async () => {
    const [s, browser] = await Promise.all([
      serve(['--db', join(tempDir('facekit-serve-web-key-'), 'gallery.json'), '--workers', '1'], { env: { FACEKIT_API_KEY: KEY } }),
      chromium.launch({ executablePath: CHROMIUM, headless: true, args: BROWSER_ARGS }),
    ]);
    srv = s;
    context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const [label, photos] = Object.entries(PEOPLE)[0]!;
    const fd = new FormData();
    fd.append('label', label);
    for (const p of photos) fd.append('images', new Blob([readFileSync(p)]), basename(p));
    const res = await fetch(`${srv.url}/gallery`, { method: 'POST', body: fd, headers: { authorization: `Bearer ${KEY}` } });
    expect(res.status).toBe(201);
    page = await context.newPage();
    page.on('pageerror', (e) => errors.push(e.message));
  });

  afterAll(async () => {
    await context?.browser()?.close();
    await srv?.stop('SIGKILL');
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
