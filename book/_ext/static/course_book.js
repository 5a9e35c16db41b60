// pydata-sphinx-theme's first script sets the colour mode from the reader's
// earlier choice or the theme option `default_mode`, which Jupyter Book leaves
// empty: on a first visit the theme then logs "Got invalid theme mode". "auto"
// (follow the system's setting) is what it falls back to; set it first. This
// file is loaded in the page's head, before the theme's deferred script.
(function () {
  const root = document.documentElement;
  if (!["light", "dark", "auto"].includes(root.dataset.mode)) root.dataset.mode = "auto";
})();

// Clicking anywhere on the title bar of a folded solution opens it.
// sphinx-exercise writes the title as a link back to the exercise; without
// this, a click on the title's text would jump to the exercise (and
// sphinx-togglebutton would not find its button) instead of showing the
// solution.
document.addEventListener(
  "click",
  (event) => {
    const link = event.target.closest(".solution.dropdown > .admonition-title a");
    if (!link) return;
    const button = link.closest(".admonition-title").querySelector(".toggle-button");
    if (!button) return;
    event.preventDefault();
    event.stopPropagation();
    button.click();
  },
  true,
);

// Name each toggle button after what it opens. sphinx-togglebutton names every
// one "Toggle hidden content", which tells a screen-reader user neither what
// is hidden nor which of the page's solutions it is. The button says whether
// it is open (aria-expanded); its name says what it opens, e.g. "Solution to
// Exercise 2 (Two bias frames)". sphinx-togglebutton adds the buttons when the
// page has loaded, so this runs just after that.
function nameToggleButtons() {
  document.querySelectorAll(".toggle-button[data-target]").forEach((button) => {
    const item = document.getElementById(button.dataset.target);
    const title = item && item.querySelector(":scope > .admonition-title");
    const text = title ? title.textContent.replace(/\s+/g, " ").trim() : "";
    if (!text) return;
    button.setAttribute("aria-label", text);
    button.setAttribute("aria-controls", item.id);
  });
}

if (document.readyState === "loading") {
  document.addEventListener("DOMContentLoaded", () => setTimeout(nameToggleButtons, 0));
} else {
  setTimeout(nameToggleButtons, 0);
}

// Figures fit the column (course_book.css); a tap or click opens the image
// at full size. Each figure becomes a link to its own image file, named by
// the figure's description (its alt text), so it is reachable from the keyboard.
function linkFiguresToFullSize() {
  document.querySelectorAll("main .cell_output > img").forEach((image) => {
    const source = image.getAttribute("src") || "";
    if (!source || source.startsWith("data:")) return;
    const link = document.createElement("a");
    link.className = "full-size-figure";
    link.href = source;
    link.title = "Open the figure at full size";
    image.replaceWith(link);
    link.appendChild(image);
  });
}

// A cell's text output keeps its lines and scrolls sideways as one block
// (course_book.css). While it scrolls it must be reachable from the keyboard,
// and a shadow on the edge that hides more (classes scrolls-left and
// scrolls-right) shows that there is more to see.
function markScrollingOutputs() {
  document.querySelectorAll("main .cell_output div.highlight pre, main .cell_output .output table")
    .forEach((block) => {
      const scrolls = block.scrollWidth > block.clientWidth + 1;
      if (scrolls) {
        block.setAttribute("tabindex", "0");
        block.setAttribute("role", "group");
        block.setAttribute("aria-label", "Output (scrolls sideways)");
      } else {
        block.removeAttribute("tabindex");
        block.removeAttribute("role");
        block.removeAttribute("aria-label");
      }
      const end = block.scrollWidth - block.clientWidth - 1;
      block.classList.toggle("scrolls-left", scrolls && block.scrollLeft > 1);
      block.classList.toggle("scrolls-right", scrolls && block.scrollLeft < end);
      if (!block.dataset.scrollCue) {
        block.dataset.scrollCue = "";
        block.addEventListener("scroll", markScrollingOutputs, { passive: true });
      }
    });
}

function onReady(action) {
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", action);
  } else {
    action();
  }
}

// A button's logo (Colab, Binder) only decorates the text beside it: the theme
// gives it that text again as alt text ("Exercises in Colab logo"), which a
// screen reader reads twice. Decorative images get an empty alt text.
function decorativeButtonLogos() {
  document.querySelectorAll(".btn__icon-container img").forEach((logo) => {
    const text = logo.closest("a, button")?.querySelector(".btn__text-container");
    if (text && text.textContent.trim()) logo.setAttribute("alt", "");
  });
}

// Every piece of content sits in a landmark, so that a screen reader's
// landmark list reaches all of it (axe: region). The theme puts the course's
// name and logo, a link home at the top of the sidebar, outside any landmark.
function brandInALandmark() {
  document.querySelectorAll(".sidebar-primary-item").forEach((item) => {
    const brand = item.querySelector(".navbar-brand");
    if (!brand || item.closest("nav, header, footer, main, aside, [role]")) return;
    item.setAttribute("role", "navigation");
    item.setAttribute("aria-label", "Course home");
  });
}

onReady(linkFiguresToFullSize);
onReady(decorativeButtonLogos);
onReady(brandInALandmark);
window.addEventListener("load", markScrollingOutputs);
window.addEventListener("resize", markScrollingOutputs);

// Long code lines wrap (course_book.css) instead of scrolling sideways; on a
// phone that is most lines. Python reads by indentation, so a wrapped line
// must not continue at the left margin, where it would look like a new,
// less indented line: each line becomes a box whose continuation lines hang
// four characters deeper than the line's own indentation. The text, and so
// what the copy button copies, is unchanged.
const HANG_CH = 4;

function splitIntoLines(pre) {
  const lines = [[]];
  const starts = [""];
  for (const node of Array.from(pre.childNodes)) {
    node.textContent.split("\n").forEach((part, index) => {
      if (index > 0) {
        lines.push([]);
        starts.push("");
      }
      if (!part) return;
      let piece;
      if (node.nodeType === Node.ELEMENT_NODE) {
        piece = node.cloneNode(false); // Pygments' tokens: flat spans with a class
        piece.textContent = part;
      } else {
        piece = document.createTextNode(part);
      }
      lines[lines.length - 1].push(piece);
      starts[starts.length - 1] += part;
    });
  }
  return lines.map((nodes, index) => ({ nodes, text: starts[index] }));
}

// The line's leading spaces as one span that never wraps (course_book.css),
// so that the first word stays on the first row instead of leaving it blank.
function peelIndent(nodes, width) {
  const indent = document.createElement("span");
  indent.className = "code-indent";
  indent.textContent = " ".repeat(width);
  const rest = [];
  let left = width;
  for (const node of nodes) {
    const text = node.textContent;
    const taken = Math.min(left, text.length);
    left -= taken;
    if (taken < text.length) {
      node.textContent = text.slice(taken);
      rest.push(node);
    }
  }
  return [indent, ...rest];
}

// A break point (<wbr>) after each character that ends a token a line may
// break after: a dot, a comma, a bracket, an operator. Names contain none of
// them, so a line wraps between names, never inside one.
const BREAK_AFTER = /([.,;:([{=+\-*/%<>|&])/;

function withBreakPoints(node) {
  const parts = node.textContent.split(BREAK_AFTER).filter((part) => part);
  const pieces = [];
  parts.forEach((part) => {
    let piece = node;
    if (parts.length > 1) {
      piece = node.nodeType === Node.ELEMENT_NODE ? node.cloneNode(false) : null;
      if (piece) piece.textContent = part;
      else piece = document.createTextNode(part);
    }
    pieces.push(piece);
    if (BREAK_AFTER.test(part)) pieces.push(document.createElement("wbr"));
  });
  return pieces;
}

function hangWrappedCodeLines() {
  const blocks = "main div.highlight pre:not([data-hanging])";
  document.querySelectorAll(blocks).forEach((pre) => {
    if (pre.closest(".cell_output")) return; // outputs keep their lines and scroll
    const lines = splitIntoLines(pre);
    pre.textContent = "";
    lines.forEach(({ nodes, text }, index) => {
      if (index > 0) pre.appendChild(document.createTextNode("\n"));
      if (!nodes.length) return;
      const line = document.createElement("span");
      line.className = "code-line";
      const indent = text.match(/^ */)[0].length;
      line.style.setProperty("--indent", `${indent}ch`);
      pre.dataset.deepest = Math.max(Number(pre.dataset.deepest || 0), indent);
      const [first, ...rest] = indent ? peelIndent(nodes, indent) : [null, ...nodes];
      if (first) line.appendChild(first);
      rest.flatMap(withBreakPoints).forEach((node) => line.appendChild(node));
      pre.appendChild(line);
    });
    pre.dataset.hanging = "";
  });
  scaleIndentation();
}

// Draw a block's indentation narrower where its deepest line would leave less
// than 40 % of the width for code: its levels keep their order, and every
// continuation still hangs HANG_CH characters deeper than its own line.
function scaleIndentation() {
  const probe = document.createElement("span");
  probe.textContent = "0".repeat(20);
  document.querySelectorAll("main div.highlight pre[data-hanging]").forEach((pre) => {
    const deepest = Number(pre.dataset.deepest || 0);
    if (!deepest) return;
    pre.appendChild(probe);
    const ch = probe.getBoundingClientRect().width / 20;
    probe.remove();
    if (!ch) return;
    const style = getComputedStyle(pre);
    const width = (pre.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight)) / ch;
    const scale = Math.max(0.2, Math.min(1, (0.6 * width - HANG_CH) / deepest));
    pre.style.setProperty("--indent-scale", scale.toFixed(3));
  });
}

window.addEventListener("resize", scaleIndentation);

if (document.readyState === "loading") {
  document.addEventListener("DOMContentLoaded", hangWrappedCodeLines);
} else {
  hangWrappedCodeLines();
}
