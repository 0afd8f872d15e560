// Measures the laid-out report in the browser and writes what it finds into the page as JSON
// (a pre element with the id layout-check), for `chromium --dump-dom` to hand back to the test:
// - page-overflow: the page is wider than the window (a horizontal scroll bar, or cut on paper);
// - overflow: a block (a cell, a card, a section) whose content is wider than itself;
// - word-broken: a run of letters or digits laid out on two lines (a mid-word break such as
//   "CRITICA/L" or "updat/e"); breaks at spaces, punctuation or a <wbr> are not mid-word;
// - svg-label-clipped: a chart label that reaches outside its chart's box.
(() => {
  const problems = [];
  const describe = (el) => el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") +
    (typeof el.className === "string" && el.className.trim() ? "." + el.className.trim().split(/\s+/).join(".") : "");
  const root = document.documentElement;
  if (root.scrollWidth > root.clientWidth + 1) {
    problems.push({kind: "page-overflow", scroll: root.scrollWidth, client: root.clientWidth});
  }
  for (const el of document.body.querySelectorAll("*")) {
    if (el.closest("svg") || el.id === "layout-check") continue;
    const display = getComputedStyle(el).display;
    if (display === "inline" || display === "none" || display === "contents") continue;
    if (el.clientWidth > 0 && el.scrollWidth > el.clientWidth + 1) {
      problems.push({kind: "overflow", element: describe(el), text: el.textContent.slice(0, 80),
                     scroll: el.scrollWidth, client: el.clientWidth});
    }
  }
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const range = document.createRange();
  let words = 0;
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    if (!node.parentElement || node.parentElement.closest("svg, style, script, title, #layout-check")) continue;
    for (const match of node.data.matchAll(/[\p{L}\p{M}\p{N}]+/gu)) {
      range.setStart(node, match.index);
      range.setEnd(node, match.index + match[0].length);
      const lines = new Set(Array.from(range.getClientRects()).filter((r) => r.width > 0).map((r) => Math.round(r.top)));
      words += 1;
      if (lines.size > 1) {
        problems.push({kind: "word-broken", word: match[0].slice(0, 60), element: describe(node.parentElement)});
      }
    }
  }
  let labels = 0;
  for (const text of document.querySelectorAll("svg text")) {
    const box = text.ownerSVGElement.viewBox.baseVal;
    const b = text.getBBox();
    labels += 1;
    if (b.x < box.x - 0.5 || b.y < box.y - 0.5 || b.x + b.width > box.x + box.width + 0.5 ||
        b.y + b.height > box.y + box.height + 0.5) {
      problems.push({kind: "svg-label-clipped", text: text.textContent.slice(0, 60), x: b.x, width: b.width,
                     box: box.width});
    }
  }
  const out = document.createElement("pre");
  out.id = "layout-check";
  out.textContent = JSON.stringify({width: root.clientWidth, words, labels, problems});
  document.body.appendChild(out);
})();
