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

// On a narrow screen a figure keeps its size and its output area scrolls
// sideways (course_book.css). A region that scrolls must be reachable from
// the keyboard, so it joins the tab order while, and only while, it scrolls.
function focusableScrollingFigures() {
  document.querySelectorAll(".cell_output").forEach((output) => {
    const image = output.querySelector(":scope > img");
    if (!image) return;
    if (output.scrollWidth > output.clientWidth + 1) {
      output.setAttribute("tabindex", "0");
      output.setAttribute("role", "group");
      output.setAttribute("aria-label", "Figure (scrolls sideways)");
    } else {
      output.removeAttribute("tabindex");
      output.removeAttribute("role");
      output.removeAttribute("aria-label");
    }
  });
}

window.addEventListener("load", focusableScrollingFigures);
window.addEventListener("resize", focusableScrollingFigures);
document.addEventListener(
  "load",
  (event) => {
    if (event.target.tagName === "IMG") focusableScrollingFigures();
  },
  true,
);

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

function hangWrappedCodeLines() {
  document.querySelectorAll("main div.highlight pre:not([data-hanging])").forEach((pre) => {
    const lines = splitIntoLines(pre);
    pre.textContent = "";
    lines.forEach(({ nodes, text }, index) => {
      if (index > 0) pre.appendChild(document.createTextNode("\n"));
      if (!nodes.length) return;
      const line = document.createElement("span");
      line.className = "code-line";
      const indent = text.match(/^ */)[0].length;
      line.style.setProperty("--hang", `${indent + HANG_CH}ch`);
      (indent ? peelIndent(nodes, indent) : nodes).forEach((node) => line.appendChild(node));
      pre.appendChild(line);
    });
    pre.dataset.hanging = "";
  });
}

if (document.readyState === "loading") {
  document.addEventListener("DOMContentLoaded", hangWrappedCodeLines);
} else {
  hangWrappedCodeLines();
}
