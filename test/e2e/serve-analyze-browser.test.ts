/**
 * The analysis on the web page of `facekit serve`, in Debian's chromium (headless): each face's
 * card gets its age, gender, emotion and a real/spoof badge from POST /analyze.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO, tempDir } from '../helpers/cli.js';
import { serve, type Served } from '../helpers/serve.js';

const CHROMIUM = '/usr/bin/chromium';
const hasChromium = existsSync(CHROMIUM);
if (!hasChromium) console.warn(`skipping the browser test of the page's analysis badges: ${CHROMIUM} is not installed (apt-get install chromium)`);
const GROUP = join(DEMO, 'sample1.jpg');

describe.skipIf(!hasChromium)('facekit serve: analysis badges on the web page', () => {
  let srv: Served;
  let browser: Browser;

  beforeAll(async () => {
    [srv, browser] = await Promise.all([
      serve(['--db', join(tempDir('facekit-serve-badges-'), 'gallery.json')]),
      chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run'] }),
    ]);
    const fd = new FormData();
    fd.append('label', 'someone');
    fd.append('images', new Blob([readFileSync(join(DEMO, 'sample2.jpg'))]), 'sample2.jpg');
    expect((await fetch(`${srv.url}/gallery`, { method: 'POST', body: fd })).status).toBe(201);
  });

  afterAll(async () => {
    await browser?.close();
    srv?.proc.kill('SIGTERM');
  });

  it('shows age, gender, emotion and real/spoof on each face card', async () => {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(srv.url);
    await page.setInputFiles('#file-who', GROUP);
    await page.locator('.face-card').first().waitFor({ timeout: 30_000 });
    await expect.poll(() => page.locator('.face-card .badge[data-kind="spoof"]').count(), { timeout: 30_000 }).toBe(3);
    const badges = await page.locator('.face-card[data-face="0"] .badge').evaluateAll((els) => els.map((e) => [e.getAttribute('data-kind'), e.textContent]));
    expect(badges.map((b) => b[0])).toEqual(['age', 'gender', 'emotion', 'spoof']);
    expect(badges[0]![1]).toMatch(/^age \d+$/);
    expect(badges[1]![1]).toMatch(/^(woman|man) \d+%$/);
    expect(badges[2]![1]).toMatch(/^(angry|disgust|fear|happy|sad|surprise|neutral) \d+%$/);
    expect(badges[3]![1]).toMatch(/^(real ✓|spoof ✗)$/);
    expect(errors).toEqual([]);
  });
});
