/**
 * The web page of `facekit serve` in a real browser: Debian's chromium, headless, driven by
 * playwright-core. A person uploads a photo and reads the matches off the page; then compares two
 * photos. Screenshots go to $TMPDIR/facekit-serve-*.png for a person to look at.
 */
import { existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
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
        args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
          '--disable-component-update', '--disable-sync'],
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

  it('shows who is in an uploaded photo, boxed, with the gallery matches and their photos', async () => {
    await page.goto(srv.url);
    await expect.poll(() => page.textContent('#status')).toMatch(new RegExp(`gallery: ${Object.keys(PEOPLE).length} people`));
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
    expect(await page.locator('#who-stage .box span').first().textContent()).toContain(WHO.label);
    const shot = join(tmpdir(), 'facekit-serve-who.png');
    await page.screenshot({ path: shot, fullPage: true });
    console.info(`screenshot: ${shot}; matches read off the page: ${candidates.map((c) => `${c.label} ${c.distance}`).join(', ')}`);
  });

  it('compares two photos in the second tab', async () => {
    await page.click('#tab-btn-compare');
    await page.setInputFiles('#file-a', SAME[0]!);
    await page.setInputFiles('#file-b', SAME[1]!);
    const result = page.locator('#cmp-result');
    await result.waitFor({ state: 'visible', timeout: 30_000 });
    expect(await result.getAttribute('data-verdict')).toBe('same');
    expect(await result.textContent()).toMatch(/Same person.*similarity \d+%.*distance 0\.\d+ \(threshold 0\.4, euclidean_l2\)/s);
    expect(await page.locator('#tab-compare .box').count()).toBe(2);
    await page.screenshot({ path: join(tmpdir(), 'facekit-serve-compare.png'), fullPage: true });
  });

  it('lists the gallery, and the page raised no errors', async () => {
    await page.click('#tab-btn-gallery');
    await expect.poll(() => page.locator('.person').count()).toBe(Object.keys(PEOPLE).length);
    await expect.poll(() => page.locator('.person img').evaluateAll((imgs) => imgs.length > 0 && imgs.every((i) => (i as HTMLImageElement).complete && (i as HTMLImageElement).naturalWidth > 0))).toBe(true);
    expect(await page.locator('.person img').count()).toBe(Object.values(PEOPLE).flat().length);
    await page.screenshot({ path: join(tmpdir(), 'facekit-serve-gallery.png'), fullPage: true });
    expect(problems).toEqual([]);
  });
});
