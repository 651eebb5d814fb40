/**
 * The web page's script (page.ts puts it inline, in a <script> element): tabs, uploads, the boxes
 * and their labels over a photo, the gallery, and the API key when the server asks for one. Plain
 * ES5-style JavaScript without template literals, so that it sits in String.raw as it is.
 */
export const PAGE_SCRIPT = String.raw`
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

/* ---------- the API key (when the server has one): asked for on a 401, kept for this tab only */
var KEY_ITEM = "facekit-api-key";
function storedKey() { try { return sessionStorage.getItem(KEY_ITEM) || ""; } catch (e) { return ""; } }
function authHeaders() { var k = storedKey(); return k ? { "X-API-Key": k } : {}; }
var keyAsked = false;
function askForKey(message) {
  if (storedKey()) { try { sessionStorage.removeItem(KEY_ITEM); } catch (e) { /* private mode */ } }
  $("#key-msg").textContent = message || "";
  if (!keyAsked) {
    keyAsked = true;
    $("#key-form").hidden = false;
    $("#key-input").focus();
  }
}
$("#key-form").addEventListener("submit", function (e) {
  e.preventDefault();
  var k = $("#key-input").value.trim();
  if (!k) return;
  try { sessionStorage.setItem(KEY_ITEM, k); } catch (err) { /* private mode: not kept */ }
  keyAsked = false;
  $("#key-form").hidden = true;
  $("#key-input").value = "";
  $("#key-msg").textContent = "";
  // everything that was refused, again with the key
  loadHealth();
  if (!$("#tab-gallery").hidden) loadGallery();
  if (lastWho) who(lastWho);
  if (pair.a && pair.b) compare();
});

function api(method, url, body) {
  return fetch(url, { method: method, body: body, headers: authHeaders() }).then(function (res) {
    return res.json().catch(function () { return null; }).then(function (data) {
      if (!res.ok) {
        var e = new Error(data && data.error ? data.error.message : "HTTP " + res.status);
        e.code = data && data.error ? data.error.code : "http_" + res.status;
        if (res.status === 401) askForKey(storedKey() ? "that key was refused" : "");
        throw e;
      }
      return data;
    });
  });
}

/** An image of the API (a gallery photo), fetched with the key: an img src cannot send one. */
function apiImg(url, alt) {
  var img = h("img", { alt: alt, title: alt });
  fetch(url, { headers: authHeaders() }).then(function (res) {
    if (res.status === 401) askForKey(storedKey() ? "that key was refused" : "");
    if (!res.ok) return;
    return res.blob().then(function (b) {
      var u = URL.createObjectURL(b);
      img.onload = function () { URL.revokeObjectURL(u); };
      img.src = u;
    });
  }).catch(function () { /* left blank */ });
  return img;
}

function show(id, on) { $(id).hidden = !on; }
function showError(id, err) {
  var el = $(id);
  el.hidden = !err;
  el.textContent = err ? err.message : "";
}
function fmt(v) { return (Math.round(v * 1000) / 1000).toFixed(3); }
function pct(v) { return Math.round(v * 100) + "%"; }
var SCORE_MEANING = "match score: 100% at distance 0, 50% exactly at the threshold, 0% at twice the threshold (not a probability)";

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
    var pictures = s.gallery.subject === "image";
    $("#status").textContent = "gallery: " + s.gallery.people + (pictures ? " categories, " : " people, ") + s.gallery.faces + (pictures ? " pictures (" : " faces (") + s.gallery.model + ", " +
      s.gallery.metric + ") \u00b7 " + s.backend + " backend \u00b7 " + s.workers + (s.workers === 1 ? " worker" : " workers");
  }).catch(function (e) {
    $("#status").textContent = e.code === "unauthorized" ? "this server needs an API key" : "server not reachable: " + e.message;
  });
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

/* ---------- boxes over a photo, and their labels */
function clearBoxes(stage) { stage.querySelectorAll(".box, .tag").forEach(function (b) { b.remove(); }); }

/** A box over the photo, placed in percent of the size the server saw, and its label. */
function addBox(stage, box, width, height, cls, text, face) {
  var f = [box[0] / width, box[1] / height, box[2] / width, box[3] / height];
  stage.append(h("div", { class: "box " + cls, "data-face": String(face), style: "left:" + (100 * f[0]) + "%;top:" + (100 * f[1]) + "%;width:" +
    (100 * f[2]) + "%;height:" + (100 * f[3]) + "%" }));
  var tag = h("span", { class: "tag " + cls, text: text, "data-face": String(face) });
  tag.frac = f;
  stage.append(tag);
  layoutTags(stage);
}

/**
 * Place each label where it collides with no other: above its box, else below it, else inside
 * its top edge (each at the box's left, right or middle), within the photo; failing all, the
 * nearest free row. Labels of higher boxes are placed first. Run again when the photo resizes.
 */
function layoutTags(stage) {
  var W = stage.clientWidth, H = stage.clientHeight;
  if (!W || !H) return;
  var tags = Array.prototype.slice.call(stage.querySelectorAll(".tag"));
  tags.sort(function (a, b) { return (a.frac[1] - b.frac[1]) || (a.frac[0] - b.frac[0]); });
  var placed = [], gap = 2;
  function hits(r) {
    for (var i = 0; i < placed.length; i++) {
      var p = placed[i];
      if (r.x < p.x + p.w + gap && p.x < r.x + r.w + gap && r.y < p.y + p.h + gap && p.y < r.y + r.h + gap) return true;
    }
    return false;
  }
  function inside(r) { return r.x >= 0 && r.y >= 0 && r.x + r.w <= W && r.y + r.h <= H; }
  tags.forEach(function (t) {
    var w = t.offsetWidth, th = t.offsetHeight;
    var bx = t.frac[0] * W, by = t.frac[1] * H, bw = t.frac[2] * W, bh = t.frac[3] * H;
    var clampX = function (x) { return Math.max(0, Math.min(W - w, x)); };
    var xs = [clampX(bx), clampX(bx + bw - w), clampX(bx + (bw - w) / 2)];
    var ys = [by - th - gap, by + bh + gap, by + gap];
    var best = null;
    for (var i = 0; i < ys.length && !best; i++) {
      for (var j = 0; j < xs.length && !best; j++) {
        var r = { x: xs[j], y: ys[i], w: w, h: th };
        if (inside(r) && !hits(r)) best = r;
      }
    }
    // nowhere near the box: the free row closest to it
    for (var d = 1; !best && d * (th + gap) < H; d++) {
      [by - th - gap - d * (th + gap), by + bh + gap + d * (th + gap)].forEach(function (y) {
        if (best) return;
        for (var j = 0; j < xs.length; j++) {
          var r = { x: xs[j], y: y, w: w, h: th };
          if (inside(r) && !hits(r)) { best = r; return; }
        }
      });
    }
    if (!best) best = { x: xs[0], y: Math.max(0, Math.min(H - th, ys[0])), w: w, h: th };
    placed.push(best);
    t.style.transform = "translate(" + Math.round(best.x) + "px," + Math.round(best.y) + "px)";
  });
}
if (window.ResizeObserver) {
  var relayout = new ResizeObserver(function (entries) { entries.forEach(function (e) { layoutTags(e.target); }); });
  document.querySelectorAll(".stage").forEach(function (s) { relayout.observe(s); });
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

/** A face's number: the API's (and the CLI's) face index, from 0. */
function faceNo(a, i) { return a.face === null || a.face === undefined ? i : a.face; }

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
      if (a.box) addBox(stage, a.box, res.width, res.height, a.verdict, faceNo(a, i) + ": " + name, faceNo(a, i));
      list.append(faceCard(img, res, a, i));
    });
    addAnalysis(file, list);
  }).catch(function (e) {
    show("#who-result", e.code === "no_face");
    showError("#who-error", e);
  }).finally(function () { show("#who-busy", false); });
}

function faceCard(img, res, a, i) {
  var title = a.verdict === "match" ? a.identity : a.verdict === "unknown" ? "Unknown" : "Could not read this face";
  var card = h("div", { class: "card face-card", "data-face": String(faceNo(a, i)), "data-verdict": a.verdict, "data-identity": a.identity || "" },
    h("div", { class: "face-head" },
      a.box ? faceCanvas(img, a.box, res.width) : null,
      h("div", null,
        h("div", { class: "meta face-no", text: "Face " + faceNo(a, i) }),
        h("div", { class: "verdict " + a.verdict, text: title + (a.verdict === "match" ? " \u2713" : "") }),
        h("div", { class: "meta", text: a.verdict === "error" ? (a.error ? a.error.message : "") :
          "distance " + fmt(a.distance) + " \u00b7 threshold " + a.threshold + " (" + a.metric + ")" }))));
  if (a.candidates.length) {
    var ul = h("ul", { class: "candidates", title: SCORE_MEANING });
    a.candidates.forEach(function (c) {
      var within = c.distance <= a.threshold;
      ul.append(h("li", { class: "candidate" + (within ? " within" : ""), "data-label": c.label, "data-distance": String(c.distance), "data-score": String(c.match_score) },
        c.photo ? apiImg(c.photo + "?size=112&face=" + (c.face || 0), c.label) : h("span"),
        // the bar is the match score: the tick in its middle is the threshold
        h("div", null, h("div", { class: "label" }, h("span", { text: c.label }), within ? h("span", { class: "within-tag", text: "match" }) : null),
          h("div", { class: "bar" }, h("i", { style: "width:" + Math.max(2, 100 * c.match_score) + "%" }), h("b"))),
        h("div", { class: "distance", text: "distance " + fmt(c.distance) })));
    });
    card.append(ul);
  }
  return card;
}

/* ---------- analysis: age, gender, emotion, real or spoof, as badges on each face's card */
function analysisBadges(an) {
  var b = h("div", { class: "badges" });
  if (an.age !== undefined) b.append(h("span", { class: "badge", "data-kind": "age", text: "age " + Math.round(an.age) }));
  if (an.gender) b.append(h("span", { class: "badge", "data-kind": "gender", text: an.gender + " " + pct(an.genderScore) }));
  if (an.dominantEmotion) b.append(h("span", { class: "badge", "data-kind": "emotion", text: an.dominantEmotion + " " + pct(an.emotion[an.dominantEmotion]) }));
  if (an.spoof) b.append(h("span", { class: "badge " + (an.spoof.real ? "real" : "spoof"), "data-kind": "spoof",
    title: "anti-spoofing score " + fmt(an.spoof.score) + " (threshold " + an.spoof.threshold + ", " + an.spoof.model + ")",
    text: an.spoof.real ? "real ✓" : "spoof ✗" }));
  return b;
}

/** Ask POST /analyze about the same photo and put each face's badges on its card (same face numbers). */
function addAnalysis(file, list) {
  var fd = new FormData();
  fd.append("image", file, file.name);
  api("POST", "/analyze", fd).then(function (res) {
    if (lastWho !== file) return; // another photo came meanwhile
    res.faces.forEach(function (f) {
      var card = list.querySelector('.face-card[data-face="' + f.face + '"] .face-head > div');
      if (card && f.analysis) card.append(analysisBadges(f.analysis));
    });
  }).catch(function () { /* the faces stay as they are, without analysis */ });
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
      addBox(stage, p[1].box, p[1].width, p[1].height, r.verdict, p[1].faces > 1 ? "face " + p[1].face + ", the largest of " + p[1].faces : "compared", p[1].face);
    });
    var el = $("#cmp-result");
    el.textContent = "";
    el.dataset.verdict = r.verdict;
    el.append(
      h("div", { class: "verdict " + r.verdict, text: r.verdict === "same" ? "Same person" : "Different people" }),
      h("div", { class: "cmp-numbers", text: "distance " + fmt(r.distance) + " (threshold " + r.threshold + ", " + r.metric + ") \u00b7 match score " + pct(r.match_score) }),
      h("div", { class: "meta", text: SCORE_MEANING + " \u00b7 model " + r.model }));
    show("#cmp-result", true);
  }).catch(function (e) { showError("#cmp-error", e); }).finally(function () { show("#cmp-busy", false); });
}

/* ---------- gallery */
/** People per page of the gallery: the next page comes with "Show more". */
var GALLERY_PAGE = 48;
function loadGallery(offset) {
  offset = offset || 0;
  showError("#gallery-error", null);
  api("GET", "/gallery?offset=" + offset + "&limit=" + GALLERY_PAGE).then(function (g) {
    $("#gallery-summary").textContent = g.total_people + " people, " + g.faces + " faces \u00b7 " + g.model + " \u00b7 " + g.metric + " threshold " + g.threshold;
    var box = $("#people");
    if (offset === 0) box.textContent = "";
    var more = $("#gallery-more");
    if (more) more.remove();
    g.people.forEach(function (p) {
      var del = h("button", { class: "danger", type: "button", text: "remove" });
      del.addEventListener("click", function () {
        if (!confirm("Remove " + p.label + " and their " + p.faces + " photos from the gallery?")) return;
        api("DELETE", "/gallery/" + encodeURIComponent(p.label)).then(function () { loadGallery(); loadHealth(); })
          .catch(function (e) { showError("#gallery-error", e); });
      });
      var thumbs = h("div", { class: "thumbs" });
      p.photos.slice(0, 12).forEach(function (ph) { thumbs.append(apiImg(ph.photo + "?size=104&face=" + ph.face, p.label)); });
      box.append(h("div", { class: "card person", "data-label": p.label },
        h("div", { class: "person-head" }, h("strong", { text: p.label }), del), thumbs, h("div", { class: "meta", text: p.faces + " faces" })));
    });
    if (g.next_offset !== null) {
      var btn = h("button", { id: "gallery-more", type: "button", text: "Show more (" + (g.total_people - g.next_offset) + " people)" });
      btn.addEventListener("click", function () { loadGallery(g.next_offset); });
      box.after(btn);
    }
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
`;
