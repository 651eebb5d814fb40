/**
 * The web page's "Camera" view: the browser's camera (getUserMedia), a few frames a second drawn to
 * a canvas, sent as JPEG to the recognition route (/verify, or /detect while the gallery is empty)
 * and, when the server offers it, to /analyze at the same time; the boxes, names and analysis
 * badges are drawn over the live video, with the frame rate and the latency from capture to drawn
 * boxes. page.ts puts the pieces in the page; the script runs after script.ts and uses its helpers
 * (h, api, layoutTags). Plain ES5-style JavaScript without template literals, as script.ts.
 */

/** The tab's button, after the others in the page's <nav>. */
export const CAMERA_TAB = String.raw`<button role="tab" id="tab-btn-camera" data-tab="camera" aria-selected="false">Camera</button>`;

/** The tab's panel. */
export const CAMERA_SECTION = String.raw`
  <section id="tab-camera" role="tabpanel" hidden>
    <div class="cam-bar">
      <button class="primary" type="button" id="cam-toggle">Start camera</button>
      <label class="inline">frames per second <select id="cam-rate"><option>1</option><option>2</option><option>4</option><option selected>8</option><option>15</option></select></label>
      <label class="inline"><input type="checkbox" id="cam-mirror" checked> mirror</label>
      <span id="cam-stats" class="meta" aria-live="off"></span>
    </div>
    <div id="cam-message" class="cam-message" role="status" hidden><strong id="cam-message-title"></strong><span id="cam-message-text"></span></div>
    <div id="cam-note" class="meta cam-note"></div>
    <div class="stage cam-stage" id="cam-stage" hidden><video id="cam-video" muted playsinline></video></div>
  </section>`;

export const CAMERA_CSS = String.raw`
  .cam-bar { display: flex; flex-wrap: wrap; gap: 8px 16px; align-items: center; }
  .cam-bar label.inline { margin-top: 0; }
  #cam-stats { font-variant-numeric: tabular-nums; }
  /* the whole video in view on a laptop screen (a 4:3 camera; a wider one is shorter still) */
  .cam-stage { margin-top: 6px; max-width: min(960px, calc((100vh - 215px) * 4 / 3)); min-width: min(100%, 320px); }
  /* a fourth tab: at phone width the tabs get narrower, and scroll rather than break their words */
  nav { overflow-x: auto; }
  nav button { white-space: nowrap; flex: none; }
  @media (max-width: 560px) { nav { padding: 0 4px; gap: 0; } nav button { padding: 10px 7px; font-size: 14px; } }
  .cam-stage video { width: 100%; height: auto; display: block; }
  .cam-stage.mirror video { transform: scaleX(-1); }
  .cam-message { display: flex; flex-direction: column; gap: 4px; margin: 12px 0; padding: 14px 16px; max-width: 960px; border-radius: 8px; background: #fff7ed; border: 1px solid #fed7aa; color: var(--fg); }
  .cam-message strong { color: var(--warn); font-size: 16px; }
  /* above the video, one line always kept for it: "No face in view" coming and going moves nothing */
  .cam-note { margin-top: 8px; min-height: 1.45em; max-width: 960px; }
  .cam-note.error { color: var(--bad); background: none; padding: 0; }
  /* a label's second line: the face's analysis (cam- classes: kept apart from the badge styles of the other views) */
  .cam-badges { display: block; font-size: 11px; line-height: 15px; opacity: .95; }
  .cam-badges i { font-style: normal; margin-right: 6px; }
  .cam-badges i:last-child { margin-right: 0; }
  .cam-badges .cam-spoof { padding: 0 3px; border-radius: 2px; background: var(--bad); }
  .cam-badges .cam-real { padding: 0 3px; border-radius: 2px; background: rgba(255,255,255,.22); }
`;

export const CAMERA_SCRIPT = String.raw`
/* ---------- camera */
var CAM_MAX_SIDE = 640;      // frames are sent at most this large: enough for faces a metre away
var CAM_JPEG_QUALITY = 0.8;
var CAM_KEEP = 30;           // the latency shown is the median of the last this many frames
var cam = {
  stream: null, running: false, starting: false, generation: 0, timer: 0, lastCapture: 0, retryMs: 0, baseNote: "",
  canvas: document.createElement("canvas"),
  route: null,               // "/verify" or "/detect" (the gallery is empty)
  analysis: null,            // null: not offered; else { enforce: whether /analyze takes enforce_detection }
  recent: [],                // { at, latency } of the last frames drawn
  frames: 0, latencies: []   // every frame of this session (for window.facekitCamera)
};
// for measuring from outside (the browser test, a person in the console)
window.facekitCamera = { stats: function () { return { frames: cam.frames, latencies: cam.latencies.slice(), analysis: !!cam.analysis }; } };

/** The view's message instead of the video: why [kind, title, text], or null to hide it. */
function camMessage(why) {
  var m = $("#cam-message");
  m.hidden = !why;
  m.dataset.kind = why ? why[0] : "";
  $("#cam-message-title").textContent = why ? why[1] : "";
  $("#cam-message-text").textContent = why ? why[2] : "";
}
function camNote(text, isError) {
  var n = $("#cam-note");
  n.textContent = text || "";
  n.classList.toggle("error", !!isError);
}
function camButton() { $("#cam-toggle").textContent = cam.running || cam.starting ? "Stop camera" : "Start camera"; }

/** Why the camera cannot start, before asking for it: an insecure page or a browser without it. */
function camUnavailable() {
  if (!window.isSecureContext) {
    return ["insecure", "The camera needs a secure page.", "Browsers give the camera only to pages on https or on localhost, and this page is " +
      location.origin + ". Open it as http://localhost:" + (location.port || "80") + " on the machine that runs facekit serve, or serve it over https (for example behind a reverse proxy)."];
  }
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    return ["unsupported", "This browser gives no camera access.", "navigator.mediaDevices.getUserMedia is missing: try a current Chrome, Firefox or Safari."];
  }
  return null;
}

/** getUserMedia's refusal, in words. */
function camRefusal(e) {
  var name = e && e.name;
  if (name === "NotAllowedError" || name === "SecurityError") {
    return ["denied", "The camera permission was refused.", "Allow the camera for this site (the camera icon in the address bar, or the site settings), then press Start camera."];
  }
  if (name === "NotFoundError" || name === "OverconstrainedError" || name === "DevicesNotFoundError") {
    return ["no-camera", "No camera found.", "This computer has no camera the browser can use. Connect one, then press Start camera; the other tabs work without it."];
  }
  if (name === "NotReadableError" || name === "TrackStartError" || name === "AbortError") {
    return ["busy", "The camera could not be started.", "Another program may be using it: close that program, then press Start camera."];
  }
  return ["error", "The camera could not be started.", (name ? name + ": " : "") + (e && e.message ? e.message : String(e))];
}

/** What the server offers: the gallery (empty: boxes only, from /detect) and /analyze. */
function camDiscover() {
  var health = api("GET", "/health").then(function (s) { cam.route = s.gallery.faces > 0 ? "/verify" : "/detect"; })
    .catch(function () { cam.route = "/verify"; });
  // the OpenAPI document needs no key; /analyze is asked for only where it is listed (a 404 per frame would be a console error)
  var doc = fetch("/openapi.json").then(function (r) { return r.ok ? r.json() : null; }).then(function (d) {
    var op = d && d.paths && d.paths["/analyze"] && d.paths["/analyze"].post;
    cam.analysis = op ? { enforce: JSON.stringify(op).indexOf("enforce_detection") >= 0 } : null;
  }).catch(function () { cam.analysis = null; });
  return Promise.all([health, doc]);
}

function startCamera() {
  if (cam.running || cam.starting) return;
  var why = camUnavailable();
  if (why) { camMessage(why); $("#cam-stage").hidden = true; return; }
  cam.starting = true; camButton();
  camMessage(null); camNote("starting the camera...");
  var gen = ++cam.generation;
  Promise.all([
    navigator.mediaDevices.getUserMedia({ video: { width: { ideal: 640 }, height: { ideal: 480 } }, audio: false }),
    camDiscover()
  ]).then(function (r) {
    var stream = r[0];
    if (gen !== cam.generation) { stream.getTracks().forEach(function (t) { t.stop(); }); return; }
    cam.stream = stream;
    stream.getVideoTracks().forEach(function (t) {
      t.addEventListener("ended", function () {
        if (gen !== cam.generation) return;
        stopCamera();
        camMessage(["ended", "The camera stopped.", "It was unplugged or taken by another program. Press Start camera to try again."]);
      });
    });
    var video = $("#cam-video");
    video.srcObject = stream;
    video.onloadedmetadata = function () {
      if (gen !== cam.generation) return;
      video.play().catch(function () { /* muted autoplay is allowed; a refusal leaves a still frame */ });
      cam.starting = false; cam.running = true; camButton();
      $("#cam-stage").hidden = false;
      cam.baseNote = cam.route === "/detect" ? "The gallery is empty: boxes only, no names (add people in the Gallery tab)." : "";
      camNote(cam.baseNote);
      camSchedule(gen, 0);
    };
  }).catch(function (e) {
    if (gen !== cam.generation) return;
    cam.starting = false; camButton();
    camMessage(camRefusal(e)); camNote("");
    $("#cam-stage").hidden = true;
  });
}

function stopCamera() {
  cam.generation++;
  clearTimeout(cam.timer);
  if (cam.stream) cam.stream.getTracks().forEach(function (t) { t.stop(); });
  cam.stream = null; cam.running = false; cam.starting = false; camButton();
  $("#cam-video").srcObject = null;
  clearBoxes($("#cam-stage"));
  camNote("");
}

function camInterval() { return 1000 / Number($("#cam-rate").value || 8); }

/** The next capture, no sooner than the frame rate allows; never while a frame is in flight. */
function camSchedule(gen, delay) {
  clearTimeout(cam.timer);
  cam.timer = setTimeout(function () { if (gen === cam.generation) camCapture(gen); }, Math.max(0, delay));
}

/** One frame: capture, send, draw. The next is scheduled only when this one is drawn, so frames the camera makes meanwhile are dropped, not queued. */
function camCapture(gen) {
  var video = $("#cam-video");
  if (!video.videoWidth) return camSchedule(gen, 100);
  var t0 = performance.now();
  cam.lastCapture = t0;
  var scale = Math.min(1, CAM_MAX_SIDE / Math.max(video.videoWidth, video.videoHeight));
  var c = cam.canvas;
  c.width = Math.round(video.videoWidth * scale); c.height = Math.round(video.videoHeight * scale);
  c.getContext("2d").drawImage(video, 0, 0, c.width, c.height);
  c.toBlob(function (blob) {
    if (gen !== cam.generation) return;
    if (!blob) return camSchedule(gen, camInterval());
    camSend(blob).then(function (r) {
      if (gen !== cam.generation) return;
      camDraw(r.recognition, r.analysis, c.width, c.height);
      // latency: until the frame that shows the boxes is painted (a hidden tab paints nothing: the loop waits until it is shown)
      requestAnimationFrame(function () {
        if (gen !== cam.generation) return;
        camRecord(performance.now() - t0);
        cam.retryMs = 0;
        camSchedule(gen, cam.lastCapture + camInterval() - performance.now());
      });
    }).catch(function (e) {
      if (gen !== cam.generation) return;
      if (e.code === "unauthorized") { stopCamera(); camNote("This server needs an API key: enter it above, then press Start camera.", true); return; }
      if (e.code === "empty_gallery") {
        cam.route = "/detect";
        cam.baseNote = "The gallery is empty: boxes only, no names (add people in the Gallery tab).";
        return camSchedule(gen, 0);
      }
      clearBoxes($("#cam-stage")); // the last boxes would stand over a video that has moved on
      cam.retryMs = Math.min(5000, (cam.retryMs || 500) * 2);
      camNote("The server did not answer this frame (" + e.message + "); trying again in " + Math.round(cam.retryMs / 1000) + " s.", true);
      camSchedule(gen, cam.retryMs);
    });
  }, "image/jpeg", CAM_JPEG_QUALITY);
}

/** The frame to the recognition route, and to /analyze at the same time when the server has it. */
function camSend(blob) {
  function form(extra) {
    var fd = new FormData();
    fd.append("image", blob, "frame.jpg");
    for (var k in extra) fd.append(k, extra[k]);
    return fd;
  }
  var route = cam.route || "/verify";
  var recognition = api("POST", route, form(route === "/verify" ? { top_k: "1", enforce_detection: "false" } : { enforce_detection: "false" }));
  var analysis = null;
  if (cam.analysis) {
    analysis = api("POST", "/analyze", form(cam.analysis.enforce ? { enforce_detection: "false" } : {})).catch(function (e) {
      if (e.code === "no_face") return { faces: [] };
      if (e.code === "not_found" || e.code === "http_404") cam.analysis = null; // gone: stop asking
      return null; // the boxes and names still come
    });
  }
  return Promise.all([recognition, analysis]).then(function (r) { return { recognition: r[0], analysis: r[1] }; });
}

/** How much two [x, y, w, h] boxes overlap (intersection over union): pairs a face of /verify with its /analyze twin. */
function camOverlap(a, b) {
  var x = Math.max(0, Math.min(a[0] + a[2], b[0] + b[2]) - Math.max(a[0], b[0]));
  var y = Math.max(0, Math.min(a[1] + a[3], b[1] + b[3]) - Math.max(a[1], b[1]));
  var i = x * y;
  return i / (a[2] * a[3] + b[2] * b[3] - i || 1);
}

function camBadges(an) {
  if (!an) return null;
  var out = h("span", { class: "cam-badges" });
  if (an.gender) out.append(h("i", { text: an.gender + (typeof an.age === "number" ? " " + Math.round(an.age) : ""), title: "gender " + an.gender + " (" + pct(an.genderScore || 0) + ")" }));
  else if (typeof an.age === "number") out.append(h("i", { text: "age " + Math.round(an.age) }));
  if (an.dominantEmotion) out.append(h("i", { text: an.dominantEmotion, title: an.emotion ? Object.keys(an.emotion).map(function (k) { return k + " " + pct(an.emotion[k]); }).join(", ") : "" }));
  if (an.spoof) out.append(h("i", { class: an.spoof.real ? "cam-real" : "cam-spoof", text: an.spoof.real ? "real" : "spoof", title: "real-face score " + fmt(an.spoof.score) }));
  return out.childNodes.length ? out : null;
}

/** The boxes and labels of one frame, replacing the last frame's. */
function camDraw(res, analysis, width, height) {
  var stage = $("#cam-stage");
  var mirror = $("#cam-mirror").checked;
  stage.classList.toggle("mirror", mirror);
  clearBoxes(stage);
  var names = [];
  var analysed = analysis && analysis.faces ? analysis.faces.filter(function (f) { return f.box && f.analysis; }) : [];
  (res.faces || []).forEach(function (a, i) {
    if (!a.box) return;
    // /detect's faces have no verdict: a box without a name
    var cls = a.verdict || "unknown", name = a.verdict === "match" ? a.identity : a.verdict === "error" ? "error" : a.verdict ? "unknown" : "face";
    names.push(name);
    var best = null, bestOverlap = 0.3;
    analysed.forEach(function (f) { var o = camOverlap(a.box, f.box); if (o > bestOverlap) { best = f; bestOverlap = o; } });
    var f = [a.box[0] / width, a.box[1] / height, a.box[2] / width, a.box[3] / height];
    if (mirror) f[0] = 1 - f[0] - f[2];
    var face = faceNo(a, i);
    stage.append(h("div", { class: "box " + cls, "data-face": String(face), style: "left:" + (100 * f[0]) + "%;top:" + (100 * f[1]) + "%;width:" + (100 * f[2]) + "%;height:" + (100 * f[3]) + "%" }));
    var tag = h("span", { class: "tag " + cls, "data-face": String(face), "data-identity": a.verdict === "match" ? a.identity : "",
      title: a.distance !== undefined ? "distance " + fmt(a.distance) + " (threshold " + a.threshold + ")" : null },
      h("b", { text: name }), best ? camBadges(best.analysis) : null);
    tag.frac = f;
    stage.append(tag);
  });
  layoutTags(stage);
  stage.dataset.identities = names.join(",");
  camNote(names.length ? cam.baseNote : "No face in view." + (cam.baseNote ? " " + cam.baseNote : ""));
}

function camRecord(latency) {
  var now = performance.now();
  cam.frames++;
  if (cam.latencies.length < 5000) cam.latencies.push(Math.round(latency));
  cam.recent.push({ at: now, latency: latency });
  if (cam.recent.length > CAM_KEEP) cam.recent.shift();
  var sorted = cam.recent.map(function (r) { return r.latency; }).sort(function (a, b) { return a - b; });
  var median = sorted[Math.floor(sorted.length / 2)];
  var span = (now - cam.recent[0].at) / 1000;
  var fps = cam.recent.length > 1 && span > 0 ? (cam.recent.length - 1) / span : 0;
  var s = $("#cam-stats");
  s.dataset.fps = fps.toFixed(2);
  s.dataset.latency = String(Math.round(median));
  s.dataset.frames = String(cam.frames);
  s.textContent = (fps ? fps.toFixed(1) + " frames/s" : "measuring frames/s") + " \u00b7 latency " + Math.round(median) + " ms (capture to boxes, median of " + sorted.length + ")" +
    (cam.analysis ? " \u00b7 with analysis" : "");
  s.title = "one frame in flight at a time: frames the camera makes meanwhile are skipped, never queued";
}

$("#cam-toggle").addEventListener("click", function () { if (cam.running || cam.starting) stopCamera(); else startCamera(); });
$("#cam-mirror").addEventListener("change", function () { $("#cam-stage").classList.toggle("mirror", $("#cam-mirror").checked); });
// the camera runs while its tab is shown: opening the tab starts it, leaving it lets the camera go
document.querySelectorAll("nav button").forEach(function (b) {
  b.addEventListener("click", function () { if (b.dataset.tab === "camera") startCamera(); else stopCamera(); });
});
`;
