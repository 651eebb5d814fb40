/**
 * The web page at `/`: one HTML file with its CSS (style.ts) and JS (script.ts) inline, no build
 * step. It lives in .ts modules (rather than an .html file read at run time) so that it ships
 * inside dist/ with the compiled server, whatever way facekit was installed. The script uses no
 * template literals, so the page can sit in String.raw as it is.
 */
import { CAMERA_CSS, CAMERA_SCRIPT, CAMERA_SECTION, CAMERA_TAB } from './camera.js';
import { PAGE_SCRIPT } from './script.js';
import { SIMILAR_CSS, SIMILAR_SCRIPT, SIMILAR_SECTION, SIMILAR_TAB } from './similar.js';
import { PAGE_CSS } from './style.js';

export const INDEX_HTML = String.raw`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>facekit</title>
<link rel="icon" href="data:,">
<style>${PAGE_CSS}${CAMERA_CSS}${SIMILAR_CSS}</style>
</head>
<body>
<header><h1>facekit</h1><span id="status">connecting...</span><a id="docs-link" href="/docs" title="the HTTP API: every endpoint, and a form to try each">API</a>
  <form id="key-form" hidden><label for="key-input">API key</label><input type="password" id="key-input" autocomplete="off" required><button type="submit">Use key</button><span id="key-msg"></span></form>
</header>
<nav role="tablist">
  <button role="tab" id="tab-btn-who" data-tab="who" aria-selected="true">Who is this?</button>
  <button role="tab" id="tab-btn-compare" data-tab="compare" aria-selected="false">Compare two photos</button>
  <button role="tab" id="tab-btn-gallery" data-tab="gallery" aria-selected="false">Gallery</button>
  ${SIMILAR_TAB}
  ${CAMERA_TAB}
</nav>
<main>
  <section id="tab-who" role="tabpanel">
    <label class="drop" id="drop-who"><input type="file" accept="image/*" id="file-who"><span>Drop a photo here, or click to choose one</span></label>
    <label class="inline">matches per face <select id="topk"><option>1</option><option selected>3</option><option>5</option><option>10</option></select></label>
    <div id="who-busy" class="busy" hidden>Looking...</div>
    <div id="who-error" class="error" hidden></div>
    <div id="who-result" class="result" hidden>
      <div class="stage" id="who-stage"><img id="who-img" alt="the photo"></div>
      <div id="who-faces"></div>
    </div>
  </section>

  <section id="tab-compare" role="tabpanel" hidden>
    <div class="pair">
      <div>
        <label class="drop" id="drop-a"><input type="file" accept="image/*" id="file-a"><span>First photo: drop or click</span></label>
        <div class="stage" id="stage-a" hidden><img id="img-a" alt="first photo"></div>
      </div>
      <div>
        <label class="drop" id="drop-b"><input type="file" accept="image/*" id="file-b"><span>Second photo: drop or click</span></label>
        <div class="stage" id="stage-b" hidden><img id="img-b" alt="second photo"></div>
      </div>
    </div>
    <div id="cmp-busy" class="busy" hidden>Comparing...</div>
    <div id="cmp-error" class="error" hidden></div>
    <div id="cmp-result" class="card" hidden></div>
  </section>

  <section id="tab-gallery" role="tabpanel" hidden>
    <div class="card">
      <form class="add" id="add-form">
        <input type="text" id="add-label" placeholder="name" required maxlength="100">
        <input type="file" id="add-files" accept="image/*" multiple required>
        <button class="primary" type="submit">Add photos</button>
        <span id="add-msg" class="meta"></span>
      </form>
    </div>
    <div id="gallery-error" class="error" hidden></div>
    <div id="gallery-summary" class="meta"></div>
    <div class="people" id="people"></div>
  </section>
${SIMILAR_SECTION}
${CAMERA_SECTION}
</main>
<script>${PAGE_SCRIPT}${SIMILAR_SCRIPT}${CAMERA_SCRIPT}</script>
</body>
</html>
`;
