/** The web page's CSS (page.ts puts it inline, in a <style> element). */
export const PAGE_CSS = String.raw`
  :root { --fg: #1d232a; --muted: #66717d; --line: #d9dee3; --bg: #f6f7f9; --card: #fff; --ok: #16803c; --warn: #b45309; --bad: #b91c1c; --accent: #2557d6; }
  * { box-sizing: border-box; }
  /* the hidden attribute wins over any display rule below (.result is a grid, .stage a block) */
  [hidden] { display: none !important; }
  body { margin: 0; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg); background: var(--bg); }
  header { display: flex; align-items: baseline; gap: 16px; padding: 14px 24px; background: var(--card); border-bottom: 1px solid var(--line); flex-wrap: wrap; }
  header h1 { margin: 0; font-size: 20px; letter-spacing: .02em; }
  #docs-link { margin-left: auto; font-size: 14px; color: var(--accent, #2563eb); text-decoration: none; }
  #docs-link:hover { text-decoration: underline; }
  #status { color: var(--muted); font-size: 13px; }
  #key-form { display: flex; flex-wrap: wrap; gap: 6px; align-items: center; margin-left: auto; font-size: 13px; }
  #key-form label { white-space: nowrap; }
  #key-form input { padding: 4px 7px; border: 1px solid var(--line); border-radius: 5px; font: inherit; width: 14em; max-width: 55vw; }
  #key-form button { font: inherit; padding: 4px 10px; border-radius: 5px; border: 1px solid var(--accent); background: var(--accent); color: #fff; cursor: pointer; }
  #key-msg { color: var(--bad); }
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
  .box { position: absolute; border: 2px solid var(--warn); border-radius: 3px; }
  .box.match, .box.same { border-color: #22c55e; }
  .box.error { border-color: #9ca3af; }
  /* a box's label: placed by layoutTags (above its box, else below or inside, never on another label) */
  .tag { position: absolute; left: 0; top: 0; z-index: 1; padding: 1px 6px; font-size: 12px; line-height: 16px; white-space: nowrap; color: #fff; background: var(--warn); border-radius: 3px; pointer-events: none; box-shadow: 0 1px 2px rgba(0,0,0,.35); }
  .tag.match, .tag.same { background: var(--ok); }
  .tag.error { background: #6b7280; }
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
  .candidate > div { min-width: 0; }
  .candidate .label { display: flex; align-items: center; gap: 8px; font-weight: 500; }
  .candidate .label span:first-child { overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
  .candidate .within-tag { flex: none; padding: 0 6px; border-radius: 3px; font-size: 12px; font-weight: 600; color: #fff; background: var(--ok); }
  .bar { height: 6px; border-radius: 3px; background: #e5e7eb; margin-top: 4px; position: relative; overflow: hidden; }
  .bar i { position: absolute; left: 0; top: 0; bottom: 0; background: var(--warn); }
  .bar b { position: absolute; left: 50%; top: 0; bottom: 0; width: 1px; background: var(--muted); }
  .candidate.within .bar i { background: #22c55e; }
  .distance { font-variant-numeric: tabular-nums; color: var(--muted); font-size: 13px; white-space: nowrap; }
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
  .badges { display: flex; flex-wrap: wrap; gap: 4px; margin-top: 6px; }
  .badge { font-size: 12px; padding: 1px 7px; border-radius: 10px; border: 1px solid var(--line); color: var(--muted); }
  .badge.real { color: var(--ok); border-color: currentColor; }
  .badge.spoof { color: var(--bad); border-color: currentColor; font-weight: 600; }
`;
