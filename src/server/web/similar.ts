/**
 * The web page's "Similar images" view: drop a picture, see the gallery's nearest photos (POST
 * /similar) as thumbnails with their category, distance and whether they are within the threshold.
 * Any gallery: an any-image gallery's categories (products, signatures) or a face gallery's photos.
 * page.ts puts the pieces in the page; the script runs after script.ts and uses its helpers (h, api,
 * apiImg, dropZone, loadInto, fmt). Plain ES5-style JavaScript without template literals.
 */

export const SIMILAR_TAB = String.raw`<button role="tab" id="tab-btn-similar" data-tab="similar" aria-selected="false">Similar images</button>`;

export const SIMILAR_SECTION = String.raw`
  <section id="tab-similar" role="tabpanel" hidden>
    <label class="drop" id="drop-similar"><input type="file" accept="image/*" id="file-similar"><span>Drop a picture here, or click to choose one</span></label>
    <label class="inline">how many <select id="similar-top"><option>4</option><option selected>8</option><option>12</option><option>24</option></select></label>
    <div id="similar-busy" class="busy" hidden>Searching...</div>
    <div id="similar-error" class="error" hidden></div>
    <div id="similar-result" hidden>
      <div class="similar-query"><img id="similar-img" alt="the query"><div id="similar-meta" class="meta"></div></div>
      <ol class="similar-grid" id="similar-grid"></ol>
    </div>
  </section>`;

export const SIMILAR_CSS = String.raw`
  .similar-query { display: flex; gap: 16px; align-items: flex-start; margin: 12px 0; }
  .similar-query img { max-width: 220px; max-height: 220px; border-radius: 6px; border: 1px solid #ddd; }
  .similar-grid { list-style: none; padding: 0; margin: 0; display: grid; grid-template-columns: repeat(auto-fill, minmax(170px, 1fr)); gap: 12px; }
  .similar-grid li { border: 1px solid #ddd; border-radius: 6px; padding: 8px; background: #fff; }
  .similar-grid li.near { border-color: #2e7d32; box-shadow: 0 0 0 1px #2e7d32 inset; }
  .similar-grid img { width: 100%; height: 150px; object-fit: contain; background: #f4f4f4; border-radius: 4px; }
  .similar-grid .label { font-weight: 600; margin-top: 6px; overflow-wrap: anywhere; }
  .similar-grid .rank { color: #666; font-size: 12px; }
`;

export const SIMILAR_SCRIPT = String.raw`
/* ---------- similar images */
var lastSimilar = null;
function similar(file) {
  lastSimilar = file;
  show("#similar-busy", true); showError("#similar-error", null); show("#similar-result", false);
  var form = new FormData();
  form.append("image", file);
  form.append("top", $("#similar-top").value);
  Promise.all([loadInto($("#similar-img"), file), api("POST", "/similar", form)]).then(function (out) {
    var r = out[1];
    $("#similar-meta").textContent = r.matches.length + " nearest \u00b7 " + r.model + ", " + r.metric + " \u00b7 similar within " + r.threshold;
    var grid = $("#similar-grid");
    grid.textContent = "";
    r.matches.forEach(function (m) {
      grid.append(h("li", { class: m.similar ? "near" : "", title: m.similar ? "within the threshold" : "beyond the threshold" },
        apiImg(m.photo + "?size=320&face=" + m.face, m.label),
        h("div", { class: "label", text: m.label }),
        h("div", { class: "rank", text: "#" + m.rank + " \u00b7 distance " + fmt(m.distance) + (m.similar ? " \u00b7 similar" : "") })));
    });
    show("#similar-result", true);
  }).catch(function (e) { showError("#similar-error", e); }).then(function () { show("#similar-busy", false); });
}
dropZone("#drop-similar", "#file-similar", similar);
$("#similar-top").addEventListener("change", function () { if (lastSimilar) similar(lastSimilar); });
`;
