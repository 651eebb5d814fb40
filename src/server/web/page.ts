/**
 * The web page at `/`: one HTML file with its CSS and JS inline, no build step. It lives in a .ts
 * module (rather than an .html file read at run time) so that it ships inside dist/ with the
 * compiled server, whatever way facekit was installed. The script uses no template literals, so
 * the page can sit in String.raw as it is.
 */
export const INDEX_HTML = String.raw`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>facekit</title>
<link rel="icon" href="data:,">
<style>
  :root { --fg: #1d232a; --muted: #66717d; --line: #d9dee3; --bg: #f6f7f9; --card: #fff; --ok: #16803c; --warn: #b45309; --bad: #b91c1c; --accent: #2557d6; }
  * { box-sizing: border-box; }
  body { margin: 0; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg); background: var(--bg); }
  header { display: flex; align-items: baseline; gap: 16px; padding: 14px 24px; background: var(--card); border-bottom: 1px solid var(--line); flex-wrap: wrap; }
  header h1 { margin: 0; font-size: 20px; letter-spacing: .02em; }
  #status { color: var(--muted); font-size: 13px; }
  nav { display: flex; gap: 4px; padding: 0 24px; background: var(--card); border-bottom: 1px solid var(--line); }
  nav button { border: 0; background: none; padding: 10px 14px; font: inherit; color: var(--muted); cursor: pointer; border-bottom: 3px solid transparent; }
  nav button[aria-selected="true"] { color: var(--fg); border-bottom-color: var(--accent); font-weight: 600; }
  main { padding: 20px 24px; max-width: 1200px; }
  .drop { display: flex; align-items: center; justify-content: center; min-height: 90px; padding: 16px; border: 2px dashed var(--line); border-radius: 10px; background: var(--card); color: var(--muted); cursor: pointer; text-align: center; }
  .drop.over { border-color: var(--accent); color: var(--accent); }
  .drop input { display: none; }
  .error { margin: 12px 0; padding: 10px 12px; border-radius: 8px; background: #fdecec; color: var(--bad); }
  .busy { margin: 12px 0; color: var(--muted); }
  .result { display: grid; grid-template-columns: minmax(260px, 1fr) minmax(300px, 1fr); gap: 20px; margin-top: 16px; align-items: start; }
  @media (max-width: 800px) { .result { grid-template-columns: 1fr; } }
  .stage { position: relative; line-height: 0; background: #000; border-radius: 8px; overflow: hidden; }
  .stage img { width: 100%; height: auto; display: block; }
  .box { position: absolute; border: 2px solid var(--warn); border-radius: 3px; line-height: 1.2; }
  .box.match, .box.same { border-color: #22c55e; }
  .box.error { border-color: #9ca3af; }
  .box span { position: absolute; left: -2px; top: -1.6em; padding: 1px 6px; font-size: 12px; white-space: nowrap; color: #fff; background: var(--warn); border-radius: 3px; }
  .box.match span, .box.same span { background: var(--ok); }
  .box.error span { background: #6b7280; }
  .card { background: var(--card); border: 1px solid var(--line); border-radius: 10px; padding: 12px; margin-bottom: 12px; }
  .face-head { display: flex; gap: 12px; align-items: center; }
  .face-head canvas { width: 72px; height: 72px; border-radius: 6px; background: #eee; flex: none; }
  .verdict { font-weight: 600; }
  .verdict.match, .verdict.same { color: var(--ok); }
  .verdict.unknown, .verdict.different { color: var(--warn); }
  .verdict.error { color: var(--bad); }
  .meta { color: var(--muted); font-size: 13px; }
  .candidates { list-style: none; margin: 10px 0 0; padding: 0; }
  .candidate { display: grid; grid-template-columns: 56px 1fr auto; gap: 10px; align-items: center; padding: 6px 0; border-top: 1px solid var(--line); }
  .candidate img { width: 56px; height: 56px; object-fit: cover; border-radius: 6px; background: #eee; }
  .candidate .label { font-weight: 500; }
  .bar { height: 6px; border-radius: 3px; background: #e5e7eb; margin-top: 4px; position: relative; overflow: hidden; }
  .bar i { position: absolute; left: 0; top: 0; bottom: 0; background: var(--warn); }
  .candidate.within .bar i { background: #22c55e; }
  .distance { font-variant-numeric: tabular-nums; color: var(--muted); font-size: 13px; }
  .pair { display: grid; grid-template-columns: 1fr 1fr; gap: 16px; }
  .pair .stage { margin-top: 10px; }
  #cmp-result { margin-top: 16px; font-size: 16px; }
  #cmp-result .verdict { font-size: 22px; }
  .people { display: grid; grid-template-columns: repeat(auto-fill, minmax(250px, 1fr)); gap: 12px; margin-top: 16px; }
  .person .thumbs { display: flex; flex-wrap: wrap; gap: 4px; margin: 8px 0; }
  .person .thumbs img { width: 52px; height: 52px; object-fit: cover; border-radius: 5px; background: #eee; }
  .person-head { display: flex; justify-content: space-between; align-items: baseline; }
  form.add { display: flex; gap: 8px; flex-wrap: wrap; align-items: center; }
  form.add input[type=text] { padding: 7px 9px; border: 1px solid var(--line); border-radius: 6px; font: inherit; }
  button.primary, button.danger { font: inherit; padding: 7px 12px; border-radius: 6px; border: 1px solid var(--accent); background: var(--accent); color: #fff; cursor: pointer; }
  button.danger { background: none; color: var(--bad); border-color: #f3c4c4; padding: 3px 8px; font-size: 13px; }
  label.inline { display: inline-flex; gap: 6px; align-items: center; color: var(--muted); font-size: 13px; margin-top: 10px; }
</style>
</head>
<body>
<header><h1>facekit</h1><span id="status">connecting...</span></header>
<nav role="tablist">
  <button role="tab" id="tab-btn-who" data-tab="who" aria-selected="true">Who is this?</button>
  <button role="tab" id="tab-btn-compare" data-tab="compare" aria-selected="false">Compare two photos</button>
  <button role="tab" id="tab-btn-gallery" data-tab="gallery" aria-selected="false">Gallery</button>
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
</main>
<script>
"use strict";
var $ = function (sel, root) { return (root || document).querySelector(sel); };

function h(tag, props) {
  var el = document.createElement(tag);
  for (var k in (props || {})) {
    var v = props[k];
    if (v === undefined || v === null) continue;
    if (k === "text") el.textContent = v;
    else if (k === "class") el.className = v;
    else if (k === "style") el.setAttribute("style", v);
    else if (k.indexOf("data-") === 0 || k === "src" || k === "alt" || k === "title" || k === "type") el.setAttribute(k, v);
    else el[k] = v;
  }
  for (var i = 2; i < arguments.length; i++) if (arguments[i] !== null && arguments[i] !== undefined) el.append(arguments[i]);
  return el;
}

function api(method, url, body) {
  return fetch(url, { method: method, body: body }).then(function (res) {
    return res.json().catch(function () { return null; }).then(function (data) {
      if (!res.ok) {
        var e = new Error(data && data.error ? data.error.message : "HTTP " + res.status);
        e.code = data && data.error ? data.error.code : "http_" + res.status;
        throw e;
      }
      return data;
    });
  });
}

function show(id, on) { $(id).hidden = !on; }
function showError(id, err) {
  var el = $(id);
  el.hidden = !err;
  el.textContent = err ? err.message : "";
}
function fmt(v) { return (Math.round(v * 1000) / 1000).toFixed(3); }

/* ---------- tabs */
document.querySelectorAll("nav button").forEach(function (b) {
  b.addEventListener("click", function () {
    document.querySelectorAll("nav button").forEach(function (o) { o.setAttribute("aria-selected", o === b ? "true" : "false"); });
    document.querySelectorAll("main section").forEach(function (s) { s.hidden = s.id !== "tab-" + b.dataset.tab; });
    if (b.dataset.tab === "gallery") loadGallery();
  });
});

/* ---------- status line */
function loadHealth() {
  api("GET", "/health").then(function (s) {
    $("#status").textContent = "gallery: " + s.gallery.people + " people, " + s.gallery.faces + " faces (" + s.gallery.model + ", " +
      s.gallery.metric + ") \u00b7 " + s.backend + " backend \u00b7 " + s.workers + " workers";
  }).catch(function (e) { $("#status").textContent = "server not reachable: " + e.message; });
}
loadHealth();

/* ---------- drop zones */
function dropZone(zoneId, inputId, onFile) {
  var zone = $(zoneId), input = $(inputId);
  input.addEventListener("change", function () { if (input.files && input.files[0]) onFile(input.files[0]); });
  zone.addEventListener("dragover", function (e) { e.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", function () { zone.classList.remove("over"); });
  zone.addEventListener("drop", function (e) {
    e.preventDefault(); zone.classList.remove("over");
    var f = e.dataTransfer && e.dataTransfer.files && e.dataTransfer.files[0];
    if (f) onFile(f);
  });
}

function loadInto(img, file) {
  return new Promise(function (resolve) {
    if (img.dataset.url) URL.revokeObjectURL(img.dataset.url);
    var url = URL.createObjectURL(file);
    img.dataset.url = url;
    img.onload = function () { resolve(); };
    img.onerror = function () { resolve(); };
    img.src = url;
  });
}

function clearBoxes(stage) { stage.querySelectorAll(".box").forEach(function (b) { b.remove(); }); }

/** A box over the photo, placed in percent of the size the server saw. */
function addBox(stage, box, width, height, cls, text) {
  var el = h("div", { class: "box " + cls, style: "left:" + (100 * box[0] / width) + "%;top:" + (100 * box[1] / height) + "%;width:" +
    (100 * box[2] / width) + "%;height:" + (100 * box[3] / height) + "%" }, h("span", { text: text }));
  stage.append(el);
}

/** The face cut out of the photo the browser already has. */
function faceCanvas(img, box, width) {
  var c = h("canvas");
  c.width = 144; c.height = 144;
  var s = (img.naturalWidth || width) / width;
  var m = 0.2, x = (box[0] - box[2] * m) * s, y = (box[1] - box[3] * m) * s, w = box[2] * (1 + 2 * m) * s, hh = box[3] * (1 + 2 * m) * s;
  var side = Math.max(w, hh);
  try { c.getContext("2d").drawImage(img, x + (w - side) / 2, y + (hh - side) / 2, side, side, 0, 0, 144, 144); } catch (e) { /* not decoded */ }
  return c;
}

/* ---------- who is this? */
dropZone("#drop-who", "#file-who", who);
var lastWho = null;
$("#topk").addEventListener("change", function () { if (lastWho) who(lastWho); });

function who(file) {
  lastWho = file;
  showError("#who-error", null);
  show("#who-busy", true);
  var img = $("#who-img"), stage = $("#who-stage"), list = $("#who-faces");
  clearBoxes(stage); list.textContent = "";
  var fd = new FormData();
  fd.append("image", file, file.name);
  fd.append("top_k", $("#topk").value);
  Promise.all([loadInto(img, file), api("POST", "/verify", fd)]).then(function (r) {
    var res = r[1];
    show("#who-result", true);
    res.faces.forEach(function (a, i) {
      var name = a.verdict === "match" ? a.identity : a.verdict === "unknown" ? "unknown" : "error";
      if (a.box) addBox(stage, a.box, res.width, res.height, a.verdict, (i + 1) + ": " + name);
      list.append(faceCard(img, res, a, i));
    });
  }).catch(function (e) {
    show("#who-result", e.code === "no_face");
    showError("#who-error", e);
  }).finally(function () { show("#who-busy", false); });
}

function faceCard(img, res, a, i) {
  var title = a.verdict === "match" ? a.identity : a.verdict === "unknown" ? "Unknown" : "Could not read this face";
  var card = h("div", { class: "card face-card", "data-face": String(i), "data-verdict": a.verdict, "data-identity": a.identity || "" },
    h("div", { class: "face-head" },
      a.box ? faceCanvas(img, a.box, res.width) : null,
      h("div", null,
        h("div", { class: "meta", text: "Face " + (i + 1) }),
        h("div", { class: "verdict " + a.verdict, text: title + (a.verdict === "match" ? " \u2713" : "") }),
        h("div", { class: "meta", text: a.verdict === "error" ? (a.error ? a.error.message : "") :
          "distance " + fmt(a.distance) + " \u00b7 threshold " + a.threshold + " (" + a.metric + ")" }))));
  if (a.candidates.length) {
    var ul = h("ul", { class: "candidates" });
    var scale = Math.max(a.threshold * 2, a.candidates[a.candidates.length - 1].distance * 1.1);
    a.candidates.forEach(function (c) {
      var within = c.distance <= a.threshold;
      var closeness = Math.max(3, 100 * (1 - c.distance / scale));
      ul.append(h("li", { class: "candidate" + (within ? " within" : ""), "data-label": c.label, "data-distance": String(c.distance) },
        c.photo ? h("img", { src: c.photo + "?size=112&face=" + (c.face || 0), alt: c.label, title: c.label }) : h("span"),
        h("div", null, h("div", { class: "label", text: c.label }), h("div", { class: "bar" }, h("i", { style: "width:" + closeness + "%" }))),
        h("div", { class: "distance", text: fmt(c.distance) + (within ? "  match" : "") })));
    });
    card.append(ul);
  }
  return card;
}

/* ---------- compare */
var pair = { a: null, b: null };
dropZone("#drop-a", "#file-a", function (f) { pair.a = f; preview("a", f); });
dropZone("#drop-b", "#file-b", function (f) { pair.b = f; preview("b", f); });

function preview(side, file) {
  show("#stage-" + side, true);
  clearBoxes($("#stage-" + side));
  loadInto($("#img-" + side), file).then(function () { if (pair.a && pair.b) compare(); });
}

function compare() {
  showError("#cmp-error", null);
  show("#cmp-result", false);
  show("#cmp-busy", true);
  var fd = new FormData();
  fd.append("image1", pair.a, pair.a.name);
  fd.append("image2", pair.b, pair.b.name);
  api("POST", "/compare", fd).then(function (r) {
    [["a", r.image1], ["b", r.image2]].forEach(function (p) {
      var stage = $("#stage-" + p[0]);
      clearBoxes(stage);
      addBox(stage, p[1].box, p[1].width, p[1].height, r.verdict, p[1].faces > 1 ? "largest of " + p[1].faces : "compared");
    });
    var el = $("#cmp-result");
    el.textContent = "";
    el.dataset.verdict = r.verdict;
    el.append(
      h("div", { class: "verdict " + r.verdict, text: r.verdict === "same" ? "Same person" : "Different people" }),
      h("div", { text: "similarity " + Math.round(r.similarity * 100) + "% \u00b7 distance " + fmt(r.distance) + " (threshold " + r.threshold + ", " + r.metric + ")" }),
      h("div", { class: "meta", text: "model " + r.model }));
    show("#cmp-result", true);
  }).catch(function (e) { showError("#cmp-error", e); }).finally(function () { show("#cmp-busy", false); });
}

/* ---------- gallery */
function loadGallery() {
  showError("#gallery-error", null);
  api("GET", "/gallery").then(function (g) {
    $("#gallery-summary").textContent = g.people.length + " people, " + g.faces + " faces \u00b7 " + g.model + " \u00b7 " + g.metric + " threshold " + g.threshold;
    var box = $("#people");
    box.textContent = "";
    g.people.forEach(function (p) {
      var del = h("button", { class: "danger", type: "button", text: "remove" });
      del.addEventListener("click", function () {
        if (!confirm("Remove " + p.label + " and their " + p.faces + " photos from the gallery?")) return;
        api("DELETE", "/gallery/" + encodeURIComponent(p.label)).then(function () { loadGallery(); loadHealth(); })
          .catch(function (e) { showError("#gallery-error", e); });
      });
      var thumbs = h("div", { class: "thumbs" });
      p.photos.slice(0, 12).forEach(function (ph) { thumbs.append(h("img", { src: ph.photo + "?size=104&face=" + ph.face, alt: p.label })); });
      box.append(h("div", { class: "card person", "data-label": p.label },
        h("div", { class: "person-head" }, h("strong", { text: p.label }), del), thumbs, h("div", { class: "meta", text: p.faces + " faces" })));
    });
  }).catch(function (e) { showError("#gallery-error", e); });
}

$("#add-form").addEventListener("submit", function (e) {
  e.preventDefault();
  var files = $("#add-files").files;
  var fd = new FormData();
  fd.append("label", $("#add-label").value);
  for (var i = 0; i < files.length; i++) fd.append("images", files[i], files[i].name);
  $("#add-msg").textContent = "adding...";
  api("POST", "/gallery", fd).then(function (r) {
    $("#add-msg").textContent = "added " + r.added.length + ", already in " + r.skipped.length + ", failed " + r.failed.length +
      (r.failed.length ? " (" + r.failed.map(function (f) { return f.image + ": " + f.error.message; }).join("; ") + ")" : "");
    $("#add-form").reset();
    loadGallery(); loadHealth();
  }).catch(function (err) { $("#add-msg").textContent = ""; showError("#gallery-error", err); });
});
</script>
</body>
</html>
`;
